"""Documents added by sending them: checked, named safely and saved under the corpus's `uploads/` folder.

Nothing here knows Telegram: the bot hands over a file name and bytes, and gets back what was saved or
why it was refused. A name is never used as a path: only a cleaned base name is kept, and an existing
file is never overwritten. What the check read is left in the analysis cache, so the reload that follows
neither extracts nor analyses the file again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bot.chat import messages
from bot.index.cache import AnalysisCache
from bot.index.loader import analyze, analyze_apart, corpus_cache_folder, digest, read_document
from bot.ingest.corpus import SUFFIXES, Document
from bot.ingest.formats import Unreadable, format_of
from bot.ingest.sandbox import SandboxPool
from bot.ingest.sidecars import SIDECAR_SUFFIX
from bot.text.analyzers import AnalyzedDocument
from bot.text.languages import Languages

FOLDER = "uploads"
# Past this many characters an upload is analysed in a worker process, not in the bot's.
ANALYSE_HERE_CHARS = 200_000
# What an upload is written under until it is whole: hidden, so no load reads it half-written.
TEMPORARY_PREFIX = ".upload-"


@dataclass(frozen=True)
class Added:
    """A document saved into the corpus: where, and what it holds."""

    path: str  # relative to the corpus folder, e.g. "uploads/report.pdf"
    title: str
    sentences: int
    pages: int


@dataclass(frozen=True)
class Checked:
    """An upload that passed the check: the path it is meant for, and what a load would make of it there."""

    path: str  # relative to the corpus, e.g. "uploads/report.pdf"
    digest: str  # the key the loader files its analysis under
    document: Document
    analyzed: AnalyzedDocument
    note: str | None  # a warning it was read with, kept as the loader keeps it


class Refused(Exception):
    """An upload that is not saved; the message says why, in words for the person who sent it.

    `key` and `values` name the text in `bot.chat.messages`, so the bot can say it in the sender's language;
    `str()` is the English.
    """

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(messages.text(key, **values))
        self.key = key
        self.values = values

    def say(self, lang: str | None) -> str:
        """The reason in the language `lang`."""
        return messages.text(self.key, lang, **self.values)


def check(name: str, data: bytes, max_bytes: int, languages: Languages) -> Checked:
    """What an upload holds, read as `uploads/<name>`; Refused if too large, of a kind not read, or without text."""
    if len(data) > max_bytes:
        raise Refused("upload_refused_size", size=len(data) / 2**20, limit=max_bytes / 2**20)
    if not name.lower().endswith(SUFFIXES):
        raise Refused("upload_refused_kind", kinds=", ".join(s.lstrip(".") for s in SUFFIXES))
    path = f"{FOLDER}/{name}"
    with SandboxPool(1) as readers:
        document, problem = read_document(path, data, None, readers)
        if document is None and problem is not None:
            raise Refused("upload_refused_unreadable", reason=problem.reason)
        if document is None:
            raise Refused("upload_refused_no_text")
        analyzed = _analyzed(document, languages, readers)
    if not analyzed.lengths.any():
        raise Refused("upload_refused_no_text")
    key = digest(data, languages, extracted=format_of(path) is not None)
    return Checked(path, key, document, analyzed, problem.reason if problem is not None else None)


def _analyzed(document: Document, languages: Languages, readers: SandboxPool) -> AnalyzedDocument:
    """The document's analysis: a long one in a worker process, so the bot's own memory and time stay its own."""
    if len(document.text) <= ANALYSE_HERE_CHARS:
        return analyze(document, languages)
    try:
        return analyze_apart(document, languages, readers)
    except Unreadable as exc:
        raise Refused("upload_refused_unreadable", reason=str(exc)) from None


def add(corpus_dir: Path, cache_dir: Path, name: str, data: bytes, max_bytes: int, languages: Languages) -> str:
    """Check an upload and save it, its analysis left in the cache for the reload to take; the path it got."""
    checked = check(name, data, max_bytes, languages)
    path = save(corpus_dir, name, data)
    # Saved under another name ("report (2).pdf") it may read otherwise (a title made from the name): the load reads it.
    if path == checked.path:
        cache = AnalysisCache(corpus_cache_folder(Path(cache_dir), Path(corpus_dir)), languages.key)
        cache.store(checked.digest, checked.analyzed, checked.note)
    return path


def save(corpus_dir: Path, name: str, data: bytes) -> str:
    """Write the upload under `uploads/` without replacing any file; the path it got, relative to the corpus.

    The bytes go to a hidden temporary file, are synced, and only then get their name: a full disk or a crash
    leaves no truncated document for the next load to index.
    """
    folder = Path(corpus_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (name, "")
    temporary = _write_temporary(folder, data)
    try:
        for number in range(1, 1000):
            candidate = name if number == 1 else f"{stem} ({number}){suffix}"
            path = folder / candidate
            if path.exists() and path.read_bytes() == data:
                raise Refused("upload_refused_copy", path=f"{FOLDER}/{candidate}")
            if _publish(temporary, path):
                _sync_folder(folder)
                return f"{FOLDER}/{candidate}"
        raise Refused("upload_refused_name_taken")
    finally:
        temporary.unlink(missing_ok=True)


def _write_temporary(folder: Path, data: bytes) -> Path:
    """The bytes written and synced to a new hidden file in `folder`; nothing left behind if that fails."""
    path = folder / f"{TEMPORARY_PREFIX}{os.getpid()}-{secrets.token_hex(6)}.tmp"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        path.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    return path


def _publish(temporary: Path, path: Path) -> bool:
    """Give the written file its name, unless a file has it already (two uploads of one name never collide)."""
    try:
        os.link(temporary, path)  # fails if the name is taken, unlike a rename
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # A file system without hard links: a rename after the check, which only a race at that instant defeats.
        if path.exists() or path.is_symlink():
            return False
        os.rename(temporary, path)
    return True


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be synced; the file itself was
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def remove(corpus_dir: Path, name: str) -> str:
    """Delete an uploaded document, and its sidecar, by a name `uploaded` lists; Refused if there is no such upload.

    Only an exact name is taken (NFC-normalised, as saved names are): a name is never cleaned or cut here, so
    it cannot come to match another upload.
    """
    given = name.removeprefix(f"{FOLDER}/")
    names = set(uploaded(corpus_dir))
    found = next((n for n in (given, unicodedata.normalize("NFC", given)) if n in names), None)
    if found is None:
        raise Refused("remove_missing", name=given)
    path = Path(corpus_dir) / FOLDER / found
    path.unlink()
    # A sidecar left behind would give its title, source and url to the next upload of the same name.
    path.with_name(found + SIDECAR_SUFFIX).unlink(missing_ok=True)
    return f"{FOLDER}/{found}"


def uploaded(corpus_dir: Path) -> list[str]:
    """The names of the uploaded documents, sorted."""
    folder = Path(corpus_dir) / FOLDER
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        # Hidden files are uploads still being written; sidecars go with their documents.
        return sorted(
            entry.name
            for entry in entries
            if not entry.name.startswith(".")
            and entry.name.lower().endswith(SUFFIXES)
            and entry.is_file(follow_symlinks=False)
        )
