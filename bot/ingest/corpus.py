"""Documents: reading a corpus folder and the metadata each file carries."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from bot.ingest.formats import READER_MISSING

SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".epub", ".odt")
# Scrapers leave a first line like " date 2025-06-01 Images | primeminister.kz": a date, a section, a site.
SCRAPED_HEADER = re.compile(r"^\s*date\s+(?P<date>\d{4}-\d{2}-\d{2})\b(?P<section>[^|\n]*)\|\s*(?P<site>[^\s|]+)\s*$")
# A heading line, its title taken whole and trimmed in Python: a pattern that backtracks over the spaces before an
# optional closing `#` run took 76 s on a heading padded with 3,000 non-breaking spaces.
HEADING = re.compile(r"^[^\S\n]{0,3}#{1,6}[^\S\n]+(?P<title>[^\n]*)", re.MULTILINE)
# A share of undecodable bytes above which a file is binary or in a foreign encoding, not text with a typo.
MAX_BAD_BYTES = 0.01
# A file larger than this many megabytes is skipped, unread (CITEBOT_MAX_FILE_MB sets another limit).
MAX_FILE_MB = 100.0
TITLE_CHARS = 120
# Front matter is a few lines of metadata; past this it is not parsed, so no header can stall a load.
MAX_FRONT_MATTER_CHARS = 64_000
TEXT_FIELDS = ("title", "source", "url", "date", "language")
NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Document:
    """One file of the corpus: where it is, what it says, and how to cite it."""

    path: str
    title: str
    text: str
    source: str | None = None
    date: str | None = None
    url: str | None = None
    pages: tuple[int, ...] = ()  # offset in `text` where each page starts; empty for formats without pages
    language: str | None = None  # as the front matter or file says (an ISO 639-1 code, unchecked); None: detect it
    title_made: bool = False  # no title was given: citebot made one from the opening words or the file name
    # The same article in other languages, as (language, url) pairs: a saved web page's hreflang links.
    alternates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A file left out of the corpus (or, with `warning`, read but with a warning), and why."""

    path: str
    reason: str
    warning: bool = False


def grouped(skipped: Iterable[Skipped]) -> list[tuple[str, str]]:
    """(path, reason) of each entry, but one line for all the files a missing reader left out: `12 files (a.pdf, …)`."""
    lines: list[tuple[str, str]] = []
    missing: dict[str, list[str]] = {}
    for item in skipped:
        if READER_MISSING in item.reason:
            missing.setdefault(item.reason, []).append(item.path)
        else:
            lines.append((item.path, item.reason))
    for reason, paths in missing.items():
        shown = ", ".join(paths[:3]) + (", …" if len(paths) > 3 else "")
        lines.append((f"{len(paths)} file{'s' if len(paths) != 1 else ''} ({shown})", reason))
    return lines


class CorpusError(Exception):
    """The corpus cannot be used at all: missing, empty, or with no readable document."""


class MissingCorpus(CorpusError):
    """The corpus folder does not exist: the command line says which setting named it."""


@dataclass(frozen=True)
class CorpusFiles:
    """A corpus folder's documents, as (path relative to the root, path), and the entries left out with why."""

    files: tuple[tuple[str, str], ...]
    skipped: tuple[Skipped, ...] = ()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """The documents, so that `for relative, path in corpus_paths(root)` reads them."""
        return iter(self.files)


def corpus_paths(root: Path) -> CorpusFiles:
    """The corpus's .txt and .md files, recursively, hidden ones left out; links and special files are vetted.

    Nothing is opened here (a FIFO would block the reader forever) and no symlinked folder is entered (a loop would
    never end, and a folder inside the corpus would be read twice). A symlink to a file is followed once when the
    file is inside the corpus and not read at its own path already. A symlink out of the corpus is not followed:
    corpora come from archives and git clones, and a `notes.txt -> ~/.env` must not have the bot quote its token.
    """
    if not root.exists():
        raise MissingCorpus(f"corpus folder {root} does not exist")
    if not root.is_dir():
        raise CorpusError(f"corpus path {root} is not a folder")
    files: dict[str, str] = {}
    links: list[tuple[str, str]] = []
    skipped: list[Skipped] = []
    # os.scandir with plain strings: pathlib costs seconds on a folder of fifty thousand files.
    pending = [(str(root), "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    relative = prefix + entry.name
                    if entry.is_symlink():
                        links.append((relative, entry.path))  # vetted once every document's own path is known
                    elif entry.is_dir(follow_symlinks=False):
                        pending.append((entry.path, f"{relative}/"))
                    elif _is_document_name(entry.name):
                        if entry.is_file(follow_symlinks=False):
                            files[relative] = entry.path
                        else:
                            skipped.append(Skipped(relative, f"not a regular file: {_kind_of_file(entry.path)}"))
        except OSError as exc:
            if not prefix:
                raise CorpusError(f"cannot read corpus folder {root}: {exc.strerror or exc}") from exc
            skipped.append(Skipped(prefix.rstrip("/"), f"cannot list folder: {exc.strerror or exc}"))
    real_root = os.path.realpath(root)
    read_as: dict[str, str] = {}  # a linked file's real path → the relative path it is read under
    for relative, path in sorted(links):
        reason = _vet_link(relative, path, real_root, files, read_as)
        if reason is not None:
            skipped.append(Skipped(relative, reason))
    return CorpusFiles(tuple(sorted(files.items())), tuple(sorted(skipped, key=lambda s: s.path)))


def _is_document_name(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def _kind_of_file(path: str, follow: bool = False) -> str:
    try:
        mode = os.stat(path, follow_symlinks=follow).st_mode
    except OSError as exc:
        return f"cannot stat: {exc.strerror or exc}"
    kinds = [
        (stat.S_ISFIFO, "named pipe (FIFO)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "folder"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")


def _vet_link(relative: str, path: str, real_root: str, files: dict[str, str], read_as: dict[str, str]) -> str | None:
    """Add a symlinked document to `files` if it is to be read, else return why not (None: not worth a mention)."""
    document = _is_document_name(relative)
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if not document:
            return None
        return "broken symlink" if exc.errno == errno.ENOENT else f"cannot follow symlink: {exc.strerror or exc}"
    target = os.path.realpath(path)
    if stat.S_ISDIR(info.st_mode):
        folder = os.path.dirname(os.path.join(real_root, relative))
        if _within(folder, target):
            return "symlink loop: a link to a folder that holds it"
        return "symlink to a folder, not followed"
    if not document:
        return None
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file: symlink to a {_kind_of_file(path, follow=True)}"
    if not _within(target, real_root):
        return "symlink to a file outside the corpus, not followed"
    inside = os.path.relpath(target, real_root)
    if inside in files:
        return f"symlink to {inside}, read there"
    if target in read_as:
        return f"symlink to the same file as {read_as[target]}, read there"
    read_as[target] = relative
    # Read at the target itself: documents are opened without following symlinks (see loader.read_whole), so a
    # link swapped for another after this check is refused rather than followed out of the corpus.
    files[relative] = target
    return None


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def decode(data: bytes) -> tuple[str | None, str | None]:
    """Decode file bytes as UTF-8; return (text, warning) or (None, reason to skip)."""
    if b"\x00" in data[:8192]:
        return None, "binary file (contains NUL bytes)"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        bad = text.count("\ufffd")
        if bad > max(1, len(data) * MAX_BAD_BYTES):
            return None, f"not UTF-8 text ({exc.reason} at byte {exc.start}, {bad} bad bytes)"
        return text, f"{bad} undecodable byte(s) replaced ({exc.reason} at byte {exc.start})"


class FrontMatterError(ValueError):
    """Front matter that is refused whole, with why."""


class _MetadataLoader(yaml.SafeLoader):
    """YAML for front matter: aliases refused, plain scalars kept as the author typed them (nulls aside)."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        # An alias is how nine lines of YAML expand to gigabytes (the "billion laughs"); metadata never needs one.
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not allowed", self.peek_event().start_mark)
        # PyYAML's stubs type `index` as a Node; the composer passes whatever it was given, which is what we pass.
        return super().compose_node(parent, index)  # type: ignore[arg-type]


# YAML 1.1 reads `no` as False, `3.10` as 3.1 and `0x1F` as 31: only `null`/`~`/empty are resolved, the rest is text.
_MetadataLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag == NULL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _MetadataHandler(frontmatter.YAMLHandler):
    """python-frontmatter's YAML handler with the strict loader and a size budget."""

    def load(self, fm: str, **kwargs: object) -> dict[str, Any]:
        """Parse front matter text, refusing what is too long to be metadata."""
        if len(fm) > MAX_FRONT_MATTER_CHARS:
            raise FrontMatterError(f"longer than {MAX_FRONT_MATTER_CHARS} characters")
        try:
            meta = yaml.load(fm, Loader=_MetadataLoader)
        except RecursionError:
            raise FrontMatterError("nested too deeply") from None
        except yaml.composer.ComposerError as exc:
            raise FrontMatterError(exc.problem or type(exc).__name__) from None
        if meta is not None and not isinstance(meta, dict):
            raise FrontMatterError(f"{_kind(meta)}, not key: value pairs")
        return meta or {}  # empty front matter: no fields, as frontmatter.parse reads a None


METADATA = _MetadataHandler()


def _kind(value: object) -> str:
    kinds = [
        (bool, "a boolean"),
        (int | float, "a number"),
        (dt.date, "a date"),
        (bytes, "binary data"),
        (list | tuple, "a list"),
        (set | frozenset, "a set"),
        (dict, "a mapping"),
    ]
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _field(name: str, value: object) -> tuple[str | None, str | None]:
    """A metadata value as text, or None and a warning that names the field and what it held instead."""
    if value is None:
        return None, None
    if name == "date" and isinstance(value, dt.date):
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat(), None
    if not isinstance(value, str):
        return None, f"front matter {name} ignored ({_kind(value)}, not text)"
    text = value.strip()
    if name == "date":
        # An ISO date or timestamp, quoted or not, is kept as its date; any other wording stays as written.
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(text).date().isoformat(), None
    return text or None, None


def make_title(given: str | None, body: str, path: str) -> tuple[str, bool]:
    """A document's title, and whether citebot made it up: the given one, else the first heading, else the
    opening sentence (shortened), else the file name."""
    if given:
        return given, False
    heading = heading_title(body)
    if heading:
        return heading, False
    return opening_title(body) or title_from_path(path), True


def heading_title(body: str) -> str | None:
    """The title of a text's first heading with words in it, if any."""
    for heading in HEADING.finditer(body):
        title = _heading_title(heading["title"])
        if title:
            return title
    return None


def opening_title(body: str) -> str | None:
    """A headline made from a text's opening: its first sentence, or that sentence's first clause, shortened."""
    # The first line with words in it: a rule or a row of dashes is no headline.
    first = next((line.strip() for line in body.splitlines() if re.search(r"\w", line)), "")
    if not first:
        return None
    sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    if len(sentence) <= TITLE_CHARS:
        return sentence.rstrip(".")
    # News leads name who did what before the first comma; that clause reads as a headline.
    clause = sentence.split(",", 1)[0]
    if 20 <= len(clause) <= TITLE_CHARS:
        return clause
    return sentence[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"


def _heading_title(line: str) -> str:
    """The title in the rest of a heading line: trimmed, without a closing run of `#`s."""
    title = line.strip()
    bare = title.rstrip("#")
    # The closing run is markup only after a space (CommonMark): `# Learn C#` keeps its `#`.
    if bare != title and (not bare or bare[-1].isspace()):
        title = bare.rstrip()
    return title


def title_from_path(path: str) -> str:
    """A readable title from a file name: `war_and-peace.md` → `war and peace`."""
    return re.sub(r"[_\-]+", " ", Path(path).stem).strip() or path


def parse_document(path: str, text: str) -> tuple[Document, str | None]:
    """Split a file's text into metadata and body; return the Document and a warning, if any."""
    meta: dict[str, object] = {}
    warnings: list[str] = []
    body = text
    if text.lstrip("\ufeff").startswith("---"):
        try:
            meta, body = frontmatter.parse(text, handler=METADATA)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            why = str(exc) if isinstance(exc, FrontMatterError) else type(exc).__name__
            warnings.append(f"broken front matter ignored ({why})")
            parts = re.split(r"^---\s*$", text, maxsplit=2, flags=re.MULTILINE)
            body = parts[2] if len(parts) == 3 else text
    else:
        first, _, rest = text.partition("\n")
        header = SCRAPED_HEADER.match(first)
        if header:
            meta = {"date": header["date"], "source": header["site"]}
            body = rest
    fields: dict[str, str | None] = {}
    for name in TEXT_FIELDS:
        fields[name], warning = _field(name, meta.get(name))
        warnings += [warning] if warning else []
    title, made = make_title(fields["title"], body, path)
    document = Document(
        path=path,
        title=title,
        title_made=made,
        text=body,
        source=fields["source"],
        date=fields["date"],
        url=fields["url"],
        language=fields["language"],
    )
    return document, "; ".join(warnings) or None


def parse_file(path: str, data: bytes) -> tuple[Document | None, Skipped | None]:
    """Turn one file's bytes into a Document; a file that cannot be used comes back as Skipped."""
    text, problem = decode(data)
    if text is None:
        return None, Skipped(path, problem or "unreadable")
    document, warning = parse_document(path, text)
    if not document.text.strip():
        return None, Skipped(path, "empty: no text after the metadata" if text.strip() else "empty file")
    notes = "; ".join(note for note in (problem, warning) if note)
    return document, Skipped(path, notes, warning=True) if notes else None
