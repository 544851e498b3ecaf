"""The feedback database: every question, what it cited, and every 👍/👎, in one SQLite file.

What is stored: the question as asked, whether it was answered, references to the sentences shown
(document path, position, text hash), and votes. Users appear only as a salted hash of their id;
no other message text is kept. The schema is created and migrated here (PRAGMA user_version).
A database that is locked, full or unwritable never stops the bot: the write is logged and skipped.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import os
import queue
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from bot.chat import messages
from bot.chat.refs import SentenceRef, text_digest
from bot.chat.render import escaped
from bot.ranking.answer import Answer
from bot.text.analyzers import folded

log = logging.getLogger(__name__)

# Each migration takes the schema from version n to n + 1; PRAGMA user_version records how far a file is.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            asked_at REAL NOT NULL,
            user_hash TEXT NOT NULL,
            question TEXT NOT NULL,
            normalized TEXT NOT NULL,
            answered INTEGER NOT NULL,
            parent INTEGER REFERENCES answers(id),
            via TEXT NOT NULL
        )""",
        "CREATE INDEX answers_gaps ON answers (answered, asked_at)",
        """CREATE TABLE shown (
            answer_id INTEGER NOT NULL REFERENCES answers(id),
            rank INTEGER NOT NULL,
            document TEXT NOT NULL,
            title TEXT NOT NULL,
            position INTEGER NOT NULL,
            digest TEXT NOT NULL,
            quoted INTEGER NOT NULL,
            PRIMARY KEY (answer_id, rank)
        )""",
        """CREATE TABLE votes (
            answer_id INTEGER NOT NULL REFERENCES answers(id),
            user_hash TEXT NOT NULL,
            up INTEGER NOT NULL,
            voted_at REAL NOT NULL,
            PRIMARY KEY (answer_id, user_hash)
        )""",
        "CREATE INDEX votes_time ON votes (voted_at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# A locked database is waited for this long, in a worker thread, before the write is given up.
BUSY_TIMEOUT_MS = 2000
DAY = 86400.0
# Writes waiting for the database at most; past this they are dropped (and logged), so memory stays bounded.
QUEUE_LIMIT = 1000
# Answer ids are chosen before the answer is sent, at random below this bound: 14 digits fit the buttons' data.
ID_BOUND = 10**14
# A write refused because the database is locked is tried again after this pause, doubling up to RETRY_MAX.
RETRY_PAUSE = 0.05
RETRY_MAX = 1.0
# A dropped write is logged at most once in this many seconds, with the count since the last line.
DROP_LOG_PERIOD = 10.0
# Bidirectional overrides and isolates: they would let a stored question reorder the rest of its report line.
BIDI = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
VoteResult = Literal["recorded", "unknown", "failed"]
T = TypeVar("T")


class FeedbackError(Exception):
    """The database file cannot be used by this version of citebot."""


class Locked(Exception):
    """The database stayed locked by another connection for the whole busy timeout."""


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(w in str(exc).lower() for w in ("locked", "busy"))


def new_answer_id() -> int:
    """A fresh answer id, chosen before the answer is recorded so the answer need not wait for the database."""
    return secrets.randbelow(ID_BOUND - 1) + 1


@dataclass(frozen=True)
class Shown:
    """A sentence an answer showed: quoted, or as the lead-in context of a quote."""

    ref: SentenceRef
    title: str
    quoted: bool = True


@dataclass(frozen=True)
class Recorded:
    """A recorded answer: its question and every sentence shown for it so far (More included)."""

    id: int
    question: str
    shown: tuple[SentenceRef, ...]


@dataclass(frozen=True)
class Downvote:
    """A 👎 and the answer it was given to."""

    voted_at: float
    question: str
    document: str | None  # the path of the answer's first source
    title: str | None


@dataclass(frozen=True)
class VoteRow:
    """One vote, for the CSV export."""

    voted_at: float
    up: bool
    question: str
    answered: bool
    document: str | None
    title: str | None


@dataclass(frozen=True)
class Summary:
    """What /feedback shows: vote counts over a period and the latest 👎."""

    days: int
    up: int
    down: int
    latest: tuple[Downvote, ...]


@dataclass(frozen=True)
class Gap:
    """A question the documents did not answer, normalised, and how often it was asked."""

    question: str
    count: int
    last_asked: float


def normalize(question: str) -> str:
    """A question in the form gaps are counted by: case-folded, spaces collapsed, end punctuation dropped."""
    return folded(question).rstrip("?!.… ")


def shown_sentences(result: Answer) -> list[Shown]:
    """The sentences an answer shows, in order: each quote's lead-in context, then the quote's sentences."""
    shown = []
    for quote in result.quotes:
        title = quote.document.title
        if quote.context is not None:
            ref = SentenceRef(quote.document.path, quote.position - 1, text_digest(quote.context))
            shown.append(Shown(ref, title, quoted=False))
        for offset, text in enumerate(quote.sentences):
            shown.append(Shown(SentenceRef(quote.document.path, quote.position + offset, text_digest(text)), title))
    return shown


class Feedback:
    """The feedback database at a path; every method is safe to call from any thread and never raises."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._db: sqlite3.Connection | None = None
        self._salt = ""
        self._lock = threading.Lock()

    # ---- connection and schema ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            try:
                db.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL loses nothing when the process is killed; only a power cut can.
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
                migrate(db)
                self._salt = _salt(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _safely(self, what: str, default: T, operation: Callable[[], T], raise_locked: bool = False) -> T:
        """Run a database operation; on any database or disk error log it and return `default`.

        With `raise_locked`, a database locked past the busy timeout raises Locked instead, for a retry."""
        with self._lock:
            try:
                return operation()
            except (sqlite3.Error, OSError, FeedbackError) as exc:
                if raise_locked and _is_locked(exc):
                    self._reset()
                    raise Locked(str(exc)) from exc
                log.warning("Feedback database %s: could not %s (%s); skipped", self.path, what, exc)
                # Reopened next time: a connection left in a bad state must not fail every later call.
                self._reset()
                return default

    def _reset(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def close(self) -> None:
        """Close the connection (a later call opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def user_hash(self, user_id: int) -> str:
        """The salted hash a user is stored as."""
        return hashlib.sha256(f"{self._salt}:{user_id}".encode()).hexdigest()[:32]

    # ---- writes ------------------------------------------------------------------------------

    def record(
        self,
        user_id: int,
        question: str,
        answered: bool,
        shown: Sequence[Shown] = (),
        *,
        parent: int | None = None,
        via: str = "chat",
        answer_id: int | None = None,
        raise_locked: bool = False,
    ) -> int | None:
        """Record a question and what was shown for it (as `answer_id` if given); its id, or None if not written."""
        asked_at = self.clock()

        def write() -> int:
            with self._transaction() as db:
                cursor = db.execute(
                    "INSERT INTO answers (id, asked_at, user_hash, question, normalized, answered, parent, via) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        answer_id,
                        asked_at,
                        self.user_hash(user_id),
                        question,
                        normalize(question),
                        int(answered),
                        parent,
                        via,
                    ),
                )
                written = int(cursor.lastrowid or 0)
                db.executemany(
                    "INSERT INTO shown (answer_id, rank, document, title, position, digest, quoted) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [_shown_row(written, rank, s) for rank, s in enumerate(shown)],
                )
            return written

        return self._safely("record a question", None, write, raise_locked)

    def vote(self, answer_id: int, user_id: int, up: bool, raise_locked: bool = False) -> VoteResult:
        """Record a user's verdict on an answer; a second vote replaces the first."""
        voted_at = self.clock()

        def write() -> VoteResult:
            with self._transaction() as db:
                if db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                    return "unknown"
                db.execute(
                    "INSERT INTO votes (answer_id, user_hash, up, voted_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (answer_id, user_hash) DO UPDATE SET up = excluded.up, voted_at = excluded.voted_at",
                    (answer_id, self.user_hash(user_id), int(up), voted_at),
                )
            return "recorded"

        return self._safely("record a vote", "failed", write, raise_locked)

    # ---- reads -------------------------------------------------------------------------------

    def answer(self, answer_id: int) -> Recorded | None:
        """A recorded answer with every sentence shown for its question so far, or None if unknown."""

        def read() -> Recorded | None:
            db = self._connect()
            row = db.execute("SELECT question FROM answers WHERE id = ?", (answer_id,)).fetchone()
            if row is None:
                return None
            # A More answer continues its parent's: what either showed is not shown again.
            rows = db.execute(
                "WITH RECURSIVE chain (id, parent) AS ("
                " SELECT id, parent FROM answers WHERE id = ?"
                " UNION SELECT a.id, a.parent FROM answers a JOIN chain c ON a.id = c.parent"
                ") SELECT document, position, digest FROM shown WHERE answer_id IN (SELECT id FROM chain)"
                " ORDER BY answer_id, rank",
                (answer_id,),
            ).fetchall()
            return Recorded(answer_id, row[0], tuple(SentenceRef(path_of(d), p, h) for d, p, h in rows))

        return self._safely("read an answer", None, read)

    def summary(self, days: int = 7, latest: int = 10) -> Summary:
        """👍/👎 counts over the last `days` days and the latest 👎 with each answer's first source."""
        since = self.clock() - days * DAY

        def read() -> Summary:
            db = self._connect()
            up, down = db.execute(
                "SELECT COALESCE(SUM(up), 0), COALESCE(SUM(1 - up), 0) FROM votes WHERE voted_at >= ?", (since,)
            ).fetchone()
            rows = self._votes(db, since, down_only=True, limit=latest)
            downs = tuple(Downvote(r.voted_at, r.question, r.document, r.title) for r in rows)
            return Summary(days, int(up), int(down), downs)

        return self._safely("read the feedback", Summary(days, 0, 0, ()), read)

    def votes(self, days: int = 7) -> list[VoteRow]:
        """Every vote of the last `days` days, newest first, with its question and first source."""
        since = self.clock() - days * DAY
        return self._safely("read the votes", [], lambda: self._votes(self._connect(), since))

    @staticmethod
    def _votes(db: sqlite3.Connection, since: float, down_only: bool = False, limit: int = -1) -> list[VoteRow]:
        rows = db.execute(
            "SELECT v.voted_at, v.up, a.question, a.answered, s.document, s.title FROM votes v"
            " JOIN answers a ON a.id = v.answer_id"
            " LEFT JOIN shown s ON s.answer_id = a.id AND s.rank = ("
            "  SELECT MIN(rank) FROM shown WHERE answer_id = a.id AND quoted = 1)"
            " WHERE v.voted_at >= ? AND v.up <= ? ORDER BY v.voted_at DESC, v.rowid DESC LIMIT ?",
            (since, 0 if down_only else 1, limit),
        ).fetchall()
        return [VoteRow(t, bool(up), q, bool(answered), shown_path(d), title) for t, up, q, answered, d, title in rows]

    def gaps(self, days: int = 30, limit: int = 20) -> list[Gap]:
        """The questions most often not found in the last `days` days, normalised, with their counts."""
        since = self.clock() - days * DAY

        def read() -> list[Gap]:
            rows = (
                self._connect()
                .execute(
                    "SELECT normalized, COUNT(*) AS n, MAX(asked_at) AS last FROM answers"
                    " WHERE answered = 0 AND parent IS NULL AND asked_at >= ? AND normalized != ''"
                    " GROUP BY normalized ORDER BY n DESC, last DESC LIMIT ?",
                    (since, limit),
                )
                .fetchall()
            )
            return [Gap(question, int(count), float(last)) for question, count, last in rows]

        return self._safely("read the gaps", [], read)


def stored_path(path: str) -> str | bytes:
    """How a document path is stored: as text when it is UTF-8, else as the bytes of its name (os.fsencode).

    A name that is not UTF-8 holds lone surrogates, which SQLite's text cannot; its bytes are a BLOB, and
    path_of turns them back (os.fsdecode) into the very str the library knows the document by.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def path_of(stored: str | bytes) -> str:
    """The document path a stored value stands for (see stored_path)."""
    return os.fsdecode(stored) if isinstance(stored, bytes) else stored


def shown_path(stored: str | bytes | None) -> str | None:
    """A stored path as text to show: a byte that is not UTF-8 shown as U+FFFD."""
    return stored.decode("utf-8", "replace") if isinstance(stored, bytes) else stored


def shown_text(text: str) -> str:
    """Text SQLite can store: a lone surrogate (a file name's byte that is not UTF-8, in a title) as U+FFFD."""
    return SURROGATE.sub("\ufffd", text)


class Recorder:
    """Writes to the feedback database from one thread of its own, so that no answer waits for the database.

    At most `limit` writes wait; past that a write is dropped and logged. A database locked by another
    connection is waited out: the write is tried again until it goes through or the recorder is closed.
    """

    def __init__(self, feedback: Feedback, limit: int = QUEUE_LIMIT) -> None:
        self.feedback = feedback
        self.dropped = 0
        self._queue: queue.Queue[tuple[Callable[[], object], Future[object]]] = queue.Queue(limit)
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._last_drop_log = -DROP_LOG_PERIOD
        self._unlogged = 0
        self._records: dict[int, Future[object]] = {}  # answer id -> its record's write, until it is done

    def record(
        self,
        user_id: int,
        question: str,
        answered: bool,
        shown: Sequence[Shown] = (),
        *,
        parent: int | None = None,
        via: str = "chat",
    ) -> int | None:
        """Queue a question's record; the id it will have, or None if the queue is full (the record is dropped)."""
        answer_id = new_answer_id()
        write = functools.partial(
            self.feedback.record, user_id, question, answered, shown, parent=parent, via=via, answer_id=answer_id
        )
        written = self._put(write, "a question")
        if written is None:
            return None
        self._records[answer_id] = written
        written.add_done_callback(lambda _: self._records.pop(answer_id, None))
        return answer_id

    def pending(self, answer_id: int) -> Future[object] | None:
        """The write of an answer's record while it is still queued or under way, else None."""
        return self._records.get(answer_id)

    def vote(self, answer_id: int, user_id: int, up: bool) -> Future[object] | None:
        """Queue a vote; a future of its VoteResult, or None if the queue is full (the vote is dropped)."""
        return self._put(functools.partial(self.feedback.vote, answer_id, user_id, up), "a vote")

    def _put(self, write: Callable[..., object], what: str) -> Future[object] | None:
        future: Future[object] = Future()
        try:
            self._queue.put_nowait((functools.partial(write, raise_locked=True), future))
        except queue.Full:
            self._dropped(what)
            return None
        self._start()
        return future

    def _dropped(self, what: str) -> None:
        self.dropped += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_PERIOD:
            log.warning(
                "Feedback database %s: %d writes already waiting; dropped %d (the last: %s)",
                self.feedback.path,
                self._queue.maxsize,
                self._unlogged,
                what,
            )
            self._last_drop_log, self._unlogged = now, 0

    def _start(self) -> None:
        with self._started:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="feedback-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            try:
                write, future = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            future.set_result(self._write(write))

    def _write(self, write: Callable[[], object]) -> object:
        pause = RETRY_PAUSE
        while True:
            try:
                return write()
            except Locked:
                if self._abandon.wait(pause):
                    return None
                pause = min(RETRY_MAX, pause * 2)

    def close(self, timeout: float) -> None:
        """Write what is queued within `timeout` seconds, then stop; writes still waiting are logged as lost."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                self._abandon.set()
                log.warning(
                    "Feedback database %s still locked at exit: %d writes not recorded",
                    self.feedback.path,
                    self._queue.qsize() + 1,
                )
                thread.join(1.0)
        self.feedback.close()


def _shown_row(answer_id: int, rank: int, shown: Shown) -> tuple[object, ...]:
    """A row of the `shown` table: a sentence an answer showed, its path and title as SQLite can store them."""
    ref = shown.ref
    return (
        answer_id,
        rank,
        stored_path(ref.path),
        shown_text(shown.title),
        ref.position,
        ref.digest,
        int(shown.quoted),
    )


def utc(timestamp: float) -> str:
    """A timestamp as UTC date and time, the way the reports and CSV show it."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def one_line(text: str) -> str:
    """Stored text shown as one line of a report: line breaks, control and direction characters as escapes."""
    return BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", escaped(text))


def feedback_report(summary: Summary, lang: str | None = None) -> str:
    """What /feedback and `citebot feedback` say about a summary."""
    lines = [messages.text("feedback_summary", lang, days=summary.days, up=summary.up, down=summary.down), ""]
    if not summary.latest:
        return "\n".join([*lines, messages.text("feedback_none", lang)])
    lines.append(messages.text("feedback_latest", lang))
    for down in summary.latest:
        source = one_line(down.title or down.document or messages.text("no_source", lang))
        lines.append(f'- {utc(down.voted_at)[:10]} "{one_line(down.question)}" — {source}')
    return "\n".join(lines)


def gaps_report(gaps: list[Gap], lang: str | None = None) -> str:
    """What /gaps and `citebot gaps` say about the gaps."""
    if not gaps:
        return messages.text("gaps_none", lang)
    lines = (f"{gap.count} × {one_line(gap.question)}" for gap in gaps)
    return "\n".join([messages.text("gaps_heading", lang), *lines])


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION (in one transaction per step); return the version found."""
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    if current == SCHEMA_VERSION:
        return current  # nothing to write: opening needs no write lock, so a locked file can still be read
    db.execute("BEGIN IMMEDIATE")
    try:
        # Read inside the transaction: another process may have migrated the file a moment ago.
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise FeedbackError(f"schema version {found} is newer than this citebot's ({SCHEMA_VERSION})")
        for version in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return found


def _salt(db: sqlite3.Connection) -> str:
    row = db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
    if row is not None:
        return str(row[0])
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)", (secrets.token_hex(16),))
    return str(db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()[0])
