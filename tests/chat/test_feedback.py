"""The feedback database: schema and migration, questions, votes, reports, failures, and a kill -9."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.chat import feedback as fb
from bot.chat.feedback import Feedback, Shown, normalize, shown_sentences
from bot.chat.refs import SentenceRef, sentence_ids
from bot.index.library import Library
from bot.ranking.answer import answer

NOW = 1_800_000_000.0
DAY = 86400.0
USER = 123456789


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path, clock: Clock) -> Feedback:
    return Feedback(tmp_path / "data" / "feedback.sqlite3", clock=clock)


def ref(path: str = "a.md", position: int = 0) -> Shown:
    return Shown(SentenceRef(path, position, f"{position:08x}"), f"Title of {path}")


def test_schema_is_created_in_wal_mode_with_a_salt(db: Feedback) -> None:
    assert db.record(USER, "q?", True) == 1
    raw = sqlite3.connect(db.path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == fb.SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    [(salt,)] = raw.execute("SELECT value FROM meta WHERE key = 'salt'").fetchall()
    assert len(salt) == 32


def test_user_id_is_stored_only_as_a_salted_hash(db: Feedback, tmp_path: Path) -> None:
    answer_id = db.record(USER, "what is the capital?", True, [ref()])
    assert answer_id is not None and db.vote(answer_id, USER, up=True) == "recorded"
    db.close()
    raw = sqlite3.connect(db.path)
    hashes = {h for (h,) in raw.execute("SELECT user_hash FROM answers UNION SELECT user_hash FROM votes")}
    assert len(hashes) == 1 and str(USER) not in next(iter(hashes))
    dump = "\n".join(raw.iterdump())
    assert str(USER) not in dump
    # Another database has another salt, so the same user has another hash there.
    other = Feedback(tmp_path / "other.sqlite3")
    other.record(USER, "q", False)
    assert other.user_hash(USER) != db.user_hash(USER)


def test_reopening_keeps_data_and_does_not_migrate_again(db: Feedback, clock: Clock) -> None:
    answer_id = db.record(USER, "q", True, [ref()])
    salt_hash = db.user_hash(USER)
    db.close()
    again = Feedback(db.path, clock=clock)
    recorded = again.answer(answer_id)
    assert recorded is not None and recorded.question == "q"
    assert again.user_hash(USER) == salt_hash


def test_a_newer_schema_is_left_alone_and_logged(db: Feedback, caplog: pytest.LogCaptureFixture) -> None:
    db.path.parent.mkdir(parents=True)
    sqlite3.connect(db.path).execute(f"PRAGMA user_version = {fb.SCHEMA_VERSION + 1}")
    with caplog.at_level(logging.WARNING):
        assert db.record(USER, "q", True) is None
    assert "newer than this citebot's" in caplog.text
    assert sqlite3.connect(db.path).execute("SELECT name FROM sqlite_master").fetchall() == []


def test_more_answers_carry_every_sentence_shown_before(db: Feedback) -> None:
    first = db.record(USER, "q", True, [ref("a.md", 0), ref("a.md", 3)])
    second = db.record(USER, "q", True, [ref("b.md", 1)], parent=first)
    assert first is not None and second is not None
    recorded = db.answer(second)
    assert recorded is not None
    assert [(r.path, r.position) for r in recorded.shown] == [("a.md", 0), ("a.md", 3), ("b.md", 1)]
    assert db.answer(999) is None


def test_a_second_press_changes_the_vote(db: Feedback, clock: Clock) -> None:
    answer_id = db.record(USER, "q", True, [ref()])
    assert answer_id is not None
    assert db.vote(answer_id, USER, up=True) == "recorded"
    assert db.vote(answer_id, USER, up=False) == "recorded"
    assert db.vote(answer_id, USER + 1, up=True) == "recorded"
    summary = db.summary()
    assert (summary.up, summary.down) == (1, 1)
    assert db.vote(answer_id + 100, USER, up=True) == "unknown"


def test_summary_counts_seven_days_and_lists_latest_downvotes_with_first_source(db: Feedback, clock: Clock) -> None:
    old = db.record(USER, "old question", True, [ref("old.md")])
    assert old is not None and db.vote(old, USER, up=False) == "recorded"
    clock.now += 8 * DAY
    context = Shown(SentenceRef("ctx.md", 4, "00000004"), "Context title", quoted=False)
    bad = db.record(USER, "where is the river?", True, [context, ref("river.md", 5), ref("sea.md", 1)])
    good = db.record(USER + 1, "how tall?", True, [ref("tall.md")])
    unanswered = db.record(USER, "nothing?", False)
    assert bad and good and unanswered
    db.vote(bad, USER, up=False)
    clock.now += 60
    db.vote(unanswered, USER, up=False)
    db.vote(good, USER, up=True)
    summary = db.summary(days=7)
    assert (summary.up, summary.down) == (1, 2)
    assert [(d.question, d.document, d.title) for d in summary.latest] == [
        ("nothing?", None, None),
        ("where is the river?", "river.md", "Title of river.md"),
    ]
    report = fb.feedback_report(summary)
    assert "👍 1 · 👎 2" in report and '"where is the river?" — Title of river.md' in report
    assert "Последние 👎" in fb.feedback_report(summary, "ru")


@pytest.mark.parametrize(
    ("question", "expected"),
    [("  What IS   the\tcapital? ", "what is the capital"), ("Қала қайда?!", "қала қайда"), ("...", "")],
)
def test_normalize(question: str, expected: str) -> None:
    assert normalize(question) == expected


def test_gaps_counts_not_found_questions_normalised(db: Feedback, clock: Clock) -> None:
    for question in ["Where is Atlantis?", "where is  atlantis", "WHERE IS ATLANTIS?", "Who is Zorro?"]:
        db.record(USER, question, False)
        clock.now += 1
    db.record(USER, "Where is Fredville?", True, [ref()])
    parent = db.record(USER, "Where is Fredville?", True, [ref()])
    db.record(USER, "Where is Fredville?", False, parent=parent)  # a More that found nothing is no gap
    gaps = db.gaps()
    assert [(g.question, g.count) for g in gaps] == [("where is atlantis", 3), ("who is zorro", 1)]
    assert fb.gaps_report(gaps).splitlines()[1:] == ["3 × where is atlantis", "1 × who is zorro"]
    clock.now += 31 * DAY
    assert db.gaps(days=30) == []


def test_shown_sentences_of_an_answer_round_trip_to_the_library(mini: Library, db: Feedback) -> None:
    result = answer(mini, "What does the bank plan to fund?")
    assert result.answered and any(q.context for q in result.quotes)
    shown = shown_sentences(result)
    answer_id = db.record(USER, result.question, True, shown)
    recorded = db.answer(answer_id)  # type: ignore[arg-type]
    assert recorded is not None
    ids = sentence_ids(mini, list(recorded.shown))
    texts = {mini.sentence(i).text for i in ids}
    assert texts == {q.text for q in result.quotes} | {q.context for q in result.quotes if q.context}


def test_every_sentence_of_a_quoted_section_is_recorded_as_shown(build, db: Feedback) -> None:
    library = build({"faq.md": "# Help\n\n## How do I pay?\n\nPay online. Or pay at any post office.\n"})
    result = answer(library, "How do I pay?", min_confidence=0.0)
    assert result.quotes[0].follow == ("Or pay at any post office.",)
    answer_id = db.record(USER, result.question, True, shown_sentences(result))
    recorded = db.answer(answer_id)  # type: ignore[arg-type]
    assert recorded is not None
    texts = {library.sentence(i).text for i in sentence_ids(library, list(recorded.shown))}
    assert texts == {"Pay online.", "Or pay at any post office."}


def test_a_locked_database_is_logged_and_skipped(
    db: Feedback, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fb, "BUSY_TIMEOUT_MS", 50)
    answer_id = db.record(USER, "q", True)
    assert answer_id is not None
    db.close()
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with caplog.at_level(logging.WARNING):
        assert db.record(USER, "while locked", False) is None
        assert db.vote(answer_id, USER, up=True) == "failed"
    assert "locked" in caplog.text
    holder.execute("ROLLBACK")
    assert db.vote(answer_id, USER, up=True) == "recorded"
    assert db.record(USER, "after", False) is not None


def test_a_full_disk_is_logged_and_skipped(db: Feedback, caplog: pytest.LogCaptureFixture) -> None:
    answer_id = db.record(USER, "q", True)
    assert answer_id is not None
    # SQLite says "database or disk is full" when the file may not grow: the same error as a full disk.
    connection = db._connect()
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")
    with caplog.at_level(logging.WARNING):
        results = [db.record(USER, "x" * 2000, False, [ref(f"{n}.md") for n in range(20)]) for _ in range(50)]
    assert None in results
    assert "full" in caplog.text


def test_an_unusable_path_is_logged_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "taken").write_text("a file where the folder should be")
    db = Feedback(tmp_path / "taken" / "feedback.sqlite3")
    with caplog.at_level(logging.WARNING):
        assert db.record(USER, "q", False) is None
        assert db.vote(1, USER, up=True) == "failed"
        assert db.summary().up == 0 and db.gaps() == [] and db.answer(1) is None
    assert "could not record a question" in caplog.text


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bot.chat.feedback import Feedback

    db = Feedback(Path(sys.argv[1]))
    answer_id = db.record(1, "kill me", True)
    print("answer", answer_id, flush=True)
    user = 0
    while True:
        user += 1
        for up in (True, False):
            assert db.vote(answer_id, user, up) == "recorded"
            print(user, int(up), flush=True)
    """
)


def test_no_acknowledged_vote_is_lost_after_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert writer.stdout is not None
    answer_id = int(writer.stdout.readline().split()[1])
    acknowledged: dict[int, list[int]] = {}
    for line in writer.stdout:
        user, up = map(int, line.split())
        acknowledged.setdefault(user, []).append(up)
        if len(acknowledged) >= 300:
            break
    writer.send_signal(signal.SIGKILL)
    # Lines already in the pipe were acknowledged too; a last one the kill cut short (no newline) was not.
    rest = writer.stdout.read()
    for line in rest[: rest.rfind("\n") + 1].splitlines():
        user, up = map(int, line.split())
        acknowledged.setdefault(user, []).append(up)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {h: up for h, up in raw.execute("SELECT user_hash, up FROM votes WHERE answer_id = ?", (answer_id,))}
    db = Feedback(path)
    db.record(0, "open", False)  # reads the salt
    for user, votes in acknowledged.items():
        # The last user's second vote may have been written but not yet acknowledged when the kill came.
        allowed = {votes[-1], 0} if len(votes) == 1 else {votes[-1]}
        assert stored.get(db.user_hash(user)) in allowed, f"user {user}'s acknowledged vote was lost"


def test_a_file_name_that_is_not_utf8_is_recorded_and_read_back_as_the_same_path(db: Feedback, clock: Clock) -> None:
    path = os.fsdecode("Отчёт.txt".encode("cp1251"))  # lone surrogates, as os.listdir gives it
    answer_id = db.record(USER, "q?", True, [Shown(SentenceRef(path, 3, "0000abcd"), path.removesuffix(".txt"))])
    assert answer_id is not None
    assert db.answer(answer_id).shown == (SentenceRef(path, 3, "0000abcd"),)
    clock.now += 1
    assert db.vote(answer_id, USER, up=False) == "recorded"
    [down] = db.summary().latest
    # Shown, the bytes that are not UTF-8 become U+FFFD: text to show, never to look a file up by.
    assert down.document == "\ufffd" * 5 + ".txt" and down.title == "\ufffd" * 5


FORGED = 'real question" — Budget.pdf\n- 2026-01-01 "forged question" — Made-up source\r\u2028\x1b[2J\u202eevil'


def test_feedback_report_shows_a_stored_question_on_one_line(db: Feedback) -> None:
    answer_id = db.record(USER, FORGED, True, [Shown(SentenceRef("a.md", 0, "00000000"), "Title\nforged")])
    assert answer_id is not None and db.vote(answer_id, USER, up=False) == "recorded"
    report = fb.feedback_report(db.summary())
    [line] = [line for line in report.splitlines() if line.startswith("- ")]
    assert "forged question" in line and "Made-up source" in line  # shown, but inside the one line
    assert not any(char in report for char in "\r\u2028\x1b\u202e")


def test_gaps_report_shows_a_stored_question_on_one_line(db: Feedback) -> None:
    db.record(USER, FORGED, False)
    report = fb.gaps_report(db.gaps())
    assert len(report.splitlines()) == 2 and "forged question" in report.splitlines()[1]
    assert not any(char in report for char in "\r\u2028\x1b\u202e")


def test_the_recorder_waits_out_a_lock_and_drops_what_does_not_fit(
    db: Feedback, caplog: pytest.LogCaptureFixture
) -> None:
    assert db.record(USER, "opened", True) is not None  # the file exists, with its schema
    recorder = fb.Recorder(Feedback(db.path), limit=3)
    holder = sqlite3.connect(db.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with caplog.at_level(logging.WARNING):
        ids = [recorder.record(USER, f"question {n}", False) for n in range(8)]
    holder.execute("ROLLBACK")
    recorder.close(timeout=30)
    # One write in hand and three waiting: those land once the lock clears, the rest are dropped and logged.
    kept = [i for i in ids if i is not None]
    assert 3 <= len(kept) <= 4 and ids[: len(kept)] == kept
    assert recorder.dropped == 8 - len(kept) and "dropped" in caplog.text
    assert {a.question for a in map(db.answer, kept) if a} == {f"question {n}" for n in range(len(kept))}
