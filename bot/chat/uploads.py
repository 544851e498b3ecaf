"""Documents added by sending them: checked, named safely and saved under the corpus's `uploads/` folder.

Nothing here knows Telegram: the bot hands over a file name and bytes, and gets back what was saved or
why it was refused. A name is never used as a path: only a cleaned base name is kept, and an existing
file is never overwritten. What the check read is left in the analysis cache, so the reload that follows
neither extracts nor analyses the file again.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bot.chat import messages
from bot.index.cache import AnalysisCache
from bot.index.loader import analyze, corpus_cache_folder, digest, read_document
from bot.ingest.corpus import SUFFIXES, Document
from bot.ingest.formats import format_of
from bot.ingest.sandbox import SandboxPool
from bot.text.analyzers import AnalyzedDocument
from bot.text.languages import Languages

FOLDER = "uploads"
MAX_NAME = 100
# Characters a file name keeps; everything else becomes "_" (separators, controls, quotes, shell specials).
UNSAFE = re.compile(r"[^\w.\- ()]+")


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


def safe_name(original: str) -> str:
    """A plain file name made from what a sender called the file: no folders, no hidden names, no odd characters."""
    name = unicodedata.normalize("NFC", original).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = UNSAFE.sub("_", stem).strip(" ._") or "document"
    suffix = UNSAFE.sub("", suffix).lower()
    stem = stem[: MAX_NAME - len(suffix) - 1]
    return f"{stem}.{suffix}" if suffix else stem


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
    analyzed = analyze(document, languages)
    if not analyzed.lengths.any():
        raise Refused("upload_refused_no_text")
    key = digest(data, languages, extracted=format_of(path) is not None)
    return Checked(path, key, document, analyzed, problem.reason if problem is not None else None)


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
    """Write the upload under `uploads/` without replacing any file; the path it got, relative to the corpus."""
    folder = Path(corpus_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (name, "")
    for number in range(1, 1000):
        candidate = name if number == 1 else f"{stem} ({number}){suffix}"
        path = folder / candidate
        if path.exists() and path.read_bytes() == data:
            raise Refused("upload_refused_copy", path=f"{FOLDER}/{candidate}")
        try:
            # O_EXCL: two uploads of the same name at once never write over each other.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        return f"{FOLDER}/{candidate}"
    raise Refused("upload_refused_name_taken")


def remove(corpus_dir: Path, name: str) -> str:
    """Delete an uploaded document by its name; the path removed, or Refused if there is no such upload."""
    cleaned = safe_name(name.removeprefix(f"{FOLDER}/"))
    path = Path(corpus_dir) / FOLDER / cleaned
    if not path.is_file() or path.is_symlink():
        raise Refused("remove_missing", name=cleaned)
    path.unlink()
    return f"{FOLDER}/{cleaned}"


def uploaded(corpus_dir: Path) -> list[str]:
    """The names of the uploaded documents, sorted."""
    folder = Path(corpus_dir) / FOLDER
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
