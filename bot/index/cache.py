"""The on-disk analysis cache: one file per document, keyed by content hash and analyzer settings.

A cache file is `MAGIC | version (u32) | header length (u32) | JSON header | payload`, all little-endian.
The payload holds the sentences and terms as UTF-8 text and the arrays as raw int32; the header says
how long each part is and carries a CRC-32 of the payload. Nothing in it can run code when read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.ingest.corpus import Document
from bot.text.analyzers import LANGUAGES, AnalyzedDocument

log = logging.getLogger(__name__)

MAGIC = b"CITEBOT\x00"
# 2: the document's metadata and pages; 3: the language it was analyzed in; 4: whether its title was made up;
# 5: the heading each sentence sits under
VERSION = 5
SUFFIX = ".cba"
# Files being written are named so; one left this long after its last write is a crash's, and pruned.
TEMPORARY_PREFIX = ".tmp-"
LEFTOVER_SECONDS = 3600.0
PREAMBLE = struct.Struct("<8sII")
INT32 = np.dtype("<i4")
# Headers are a few hundred bytes; anything far larger is not ours.
MAX_HEADER = 1 << 20
ARRAYS = ("ends", "lengths", "rows", "columns", "counts", "pages", "heads")
TEXTS = ("sentences", "terms", "title_terms")
# Terms are runs of word characters, so a newline can never occur inside one.
TERM_SEPARATOR = "\n"


class CorruptCache(Exception):
    """A cache file that is not a valid, matching entry: truncated, garbage, foreign or stale."""


class StaleCache(CorruptCache):
    """A sound cache file written by another citebot version or analyzer: expected after an upgrade, not damage."""


@dataclass(frozen=True)
class Payload:
    """The parts of an analysis a cache file stores, as bytes."""

    texts: dict[str, bytes]
    arrays: dict[str, np.ndarray]


def encode(analyzed: AnalyzedDocument, key: str, digest: str, note: str | None = None) -> bytes:
    """Serialize an analysis into the cache file format, with its document's metadata and the note read with it."""
    return b"".join(encode_chunks(analyzed, key, digest, note))


def encode_chunks(
    analyzed: AnalyzedDocument, key: str, digest: str, note: str | None = None
) -> list[bytes | memoryview]:
    """The cache file as consecutive chunks, to be written one after another without joining them first.

    A document of a hundred megabytes has a payload of several hundred: one copy of it is plenty.
    """
    sentences = analyzed.sentences
    ends = np.cumsum([len(s) for s in sentences], dtype=np.int64)
    if len(ends) and ends[-1] >= 2**31:
        raise ValueError("document too long to cache")
    texts = {
        "sentences": "".join(sentences).encode("utf-8", "surrogatepass"),
        "terms": TERM_SEPARATOR.join(analyzed.terms).encode("utf-8", "surrogatepass"),
        "title_terms": TERM_SEPARATOR.join(analyzed.title_terms).encode("utf-8", "surrogatepass"),
    }
    arrays = {
        "ends": ends.astype(INT32),
        "lengths": np.ascontiguousarray(analyzed.lengths, dtype=INT32),
        "rows": np.ascontiguousarray(analyzed.rows, dtype=INT32),
        "columns": np.ascontiguousarray(analyzed.columns, dtype=INT32),
        "counts": np.ascontiguousarray(analyzed.counts, dtype=INT32),
        "pages": np.ascontiguousarray(analyzed.pages, dtype=INT32),
        "heads": np.ascontiguousarray(analyzed.heads, dtype=INT32),
    }
    parts: list[bytes | memoryview] = [
        *(texts[name] for name in TEXTS),
        *(arrays[name].data.cast("B") for name in ARRAYS),
    ]
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    header = {
        "key": key,
        "digest": digest,
        "title": analyzed.document.title,
        # An extracted file (a PDF, a page) need not be extracted again to be cited: its metadata is kept here.
        "document": {field: getattr(analyzed.document, field) for field in ("source", "date", "url", "language")}
        | {"pages": list(analyzed.document.pages), "title_made": analyzed.document.title_made}
        | {"alternates": [list(pair) for pair in analyzed.document.alternates]},
        "note": note,
        "language": analyzed.language,
        "texts": {name: len(texts[name]) for name in TEXTS},
        "arrays": {name: len(arrays[name]) for name in ARRAYS},
        "size": sum(len(part) for part in parts),
        "crc32": crc,
    }
    head = json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return [PREAMBLE.pack(MAGIC, VERSION, len(head)) + head, *parts]


def decode(data: bytes, key: str, digest: str, document: Document) -> AnalyzedDocument:
    """Parse a cache file's bytes back into an analysis of `document`; raise CorruptCache if anything is off."""
    header, head_size = _header(data, key, digest)
    try:
        texts_sizes = {name: int(header["texts"][name]) for name in TEXTS}
        array_sizes = {name: int(header["arrays"][name]) for name in ARRAYS}
        size, crc = int(header["size"]), int(header["crc32"])
        title = header["title"]
        language = str(header["language"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptCache(f"unreadable header ({type(exc).__name__})") from None
    payload = memoryview(data)[PREAMBLE.size + head_size :]
    expected = sum(texts_sizes.values()) + INT32.itemsize * sum(array_sizes.values())
    if len(payload) != size or size != expected or min(*texts_sizes.values(), *array_sizes.values()) < 0:
        raise CorruptCache(f"payload of {len(payload)} bytes, header says {size}")
    if zlib.crc32(payload) != crc:
        raise CorruptCache("checksum mismatch")
    if language not in LANGUAGES:
        raise CorruptCache(f"analyzed in an unknown language {language!r}")
    if title != document.title:
        # Same bytes, other title: only the file name differs, and the title came from it.
        raise CorruptCache("made for a document with another title")
    at = 0
    texts: dict[str, str] = {}
    for name in TEXTS:
        texts[name] = bytes(payload[at : at + texts_sizes[name]]).decode("utf-8", "surrogatepass")
        at += texts_sizes[name]
    arrays: dict[str, np.ndarray] = {}
    for name in ARRAYS:
        count = array_sizes[name]
        # A copy, so the file's bytes are not kept alive by a view into them.
        arrays[name] = np.frombuffer(payload, dtype=INT32, count=count, offset=at).astype(np.int32)
        at += count * INT32.itemsize
    return _assemble(document, texts, arrays, language)


def read_header(data: bytes, key: str, digest: str) -> dict[str, object]:
    """The JSON header of a cache file's first bytes; raise CorruptCache if it is not one of ours for this content."""
    return _header(data, key, digest)[0]


def _header(data: bytes, key: str, digest: str) -> tuple[dict[str, Any], int]:
    """The checked JSON header and its size in bytes; StaleCache for another format or analyzer, else CorruptCache."""
    if len(data) < PREAMBLE.size:
        raise CorruptCache("truncated preamble")
    magic, version, head_size = PREAMBLE.unpack_from(data)
    if magic != MAGIC:
        raise CorruptCache("not a citebot cache file")
    if version != VERSION:
        raise StaleCache(f"written by cache format {version}, this is {VERSION}")
    if head_size > MAX_HEADER or PREAMBLE.size + head_size > len(data):
        raise CorruptCache("truncated header")
    try:
        header = json.loads(data[PREAMBLE.size : PREAMBLE.size + head_size])
    except ValueError:
        raise CorruptCache("unreadable header") from None
    if not isinstance(header, dict) or header.get("digest") != digest:
        raise CorruptCache("made for other content")
    if header.get("key") != key:
        raise StaleCache("made by another analyzer")
    return header, head_size


def stored_document(header: dict[str, object], path: str) -> tuple[Document, str | None]:
    """The document (without its text) and the note a cache header was written with; raise CorruptCache if odd."""
    fields, title, note = header.get("document"), header.get("title"), header.get("note")
    if not isinstance(fields, dict) or not isinstance(title, str) or not isinstance(note, str | None):
        raise CorruptCache("header without document metadata")
    texts = {name: fields.get(name) for name in ("source", "date", "url", "language")}
    pages = fields.get("pages")
    if not all(isinstance(v, str | None) for v in texts.values()) or not isinstance(pages, list):
        raise CorruptCache("header with malformed document metadata")
    if not all(isinstance(p, int) and p >= 0 for p in pages) or pages != sorted(pages):
        raise CorruptCache("header with malformed page offsets")
    made = fields.get("title_made")
    if not isinstance(made, bool):
        raise CorruptCache("header without the title's provenance")
    versions = fields.get("alternates", [])  # absent from headers written before documents had them
    if not isinstance(versions, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in versions
    ):
        raise CorruptCache("header with malformed language versions")
    alternates = tuple((language, url) for language, url in versions)
    document = Document(
        path=path, title=title, text="", pages=tuple(pages), title_made=made, alternates=alternates, **texts
    )
    return document, note


def _split_terms(text: str) -> tuple[str, ...]:
    return tuple(text.split(TERM_SEPARATOR)) if text else ()


def _assemble(
    document: Document, texts: dict[str, str], arrays: dict[str, np.ndarray], language: str
) -> AnalyzedDocument:
    ends = arrays["ends"]
    joined = texts["sentences"]
    terms = _split_terms(texts["terms"])
    n, pairs = len(ends), len(arrays["rows"])
    if (
        len(arrays["lengths"]) != n
        or len(arrays["pages"]) not in (0, n)
        or len(arrays["heads"]) not in (0, n)
        or (len(arrays["heads"]) and (arrays["heads"].min() < -1 or arrays["heads"].max() >= n))
        or len(arrays["columns"]) != pairs
        or len(arrays["counts"]) != pairs
        or (n and (int(ends[-1]) != len(joined) or np.any(np.diff(ends) < 0) or ends[0] < 0))
        or (pairs and (arrays["rows"].min() < 0 or arrays["rows"].max() >= n))
        or (pairs and (arrays["columns"].min() < 0 or arrays["columns"].max() >= len(terms)))
    ):
        raise CorruptCache("inconsistent arrays")
    bounds = [0, *ends.tolist()]
    sentences = tuple(joined[a:b] for a, b in zip(bounds, bounds[1:]))
    return AnalyzedDocument(
        document=document,
        sentences=sentences,
        terms=terms,
        lengths=arrays["lengths"],
        rows=arrays["rows"],
        columns=arrays["columns"],
        counts=arrays["counts"],
        title_terms=_split_terms(texts["title_terms"]),
        pages=arrays["pages"],
        language=language,
        heads=arrays["heads"],
    )


class AnalysisCache:
    """A folder of cached analyses; never fatal: a bad file is rebuilt, an unwritable folder is skipped."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = Path(folder)
        self.key = key
        self.writable = True
        self.stale = 0  # entries of another version or analyzer met so far: re-analysed, told once

    def _rejected(self, name: str, exc: Exception, path: str) -> None:
        if not isinstance(exc, StaleCache):
            log.warning("cache file %s rejected: %s; re-analyzing %s", name, exc, path)
            return
        # After an upgrade every entry is stale: one line says so, not one per file.
        self.stale += 1
        if self.stale == 1:
            log.info("cached analyses %s (first: %s); re-analyzing those documents", exc, path)
        log.debug("cache file %s stale: %s; re-analyzing %s", name, exc, path)

    def path(self, digest: str) -> Path:
        """Where the analysis of content with this digest is kept."""
        return self.folder / f"{digest}{SUFFIX}"

    def has(self, digest: str) -> bool:
        """Whether an analysis of this content is stored (it is still checked when loaded)."""
        return self.path(digest).is_file()

    def load(self, digest: str, document: Document) -> AnalyzedDocument | None:
        """The cached analysis of this document, or None if there is none or it cannot be trusted."""
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cache file %s unreadable (%s); re-analyzing", path, exc.strerror or exc)
            return None
        try:
            analyzed = decode(data, self.key, digest, document)
        except CorruptCache as exc:
            self._rejected(path.name, exc, document.path)
            return None
        return analyzed

    def document(self, digest: str, path: str) -> tuple[Document, str | None] | None:
        """The metadata and note of the document whose analysis is stored, or None: then it is read again."""
        try:
            with open(self.path(digest), "rb") as handle:
                head = handle.read(PREAMBLE.size)
                size = PREAMBLE.unpack(head)[2] if len(head) == PREAMBLE.size else 0
                head += handle.read(min(size, MAX_HEADER))
            return stored_document(read_header(head, self.key, digest), path)
        except FileNotFoundError:
            return None
        except (OSError, struct.error, CorruptCache) as exc:
            self._rejected(self.path(digest).name, exc, path)
            return None

    def store(self, digest: str, analyzed: AnalyzedDocument, note: str | None = None) -> None:
        """Write an analysis atomically: readers see the old file or the whole new one, never a part."""
        if not self.writable:
            return
        try:
            # The folder first: encoding a large document for a cache that cannot take it is waste.
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path(digest), encode_chunks(analyzed, self.key, digest, note))
        except OSError as exc:
            self.writable = False
            log.warning("cache folder %s not writable (%s); going on without a cache", self.folder, exc.strerror or exc)
        except ValueError as exc:
            log.warning("%s not cached: %s", analyzed.document.path, exc)

    def discard(self, digests: Iterable[str]) -> None:
        """Delete the cache files of these digests, if they exist: content that left the corpus."""
        for digest in digests:
            with contextlib.suppress(OSError):
                self.path(digest).unlink(missing_ok=True)

    def prune(self, keep: set[str]) -> int:
        """Delete cache files for content no longer in the corpus, and leftovers of interrupted writes."""
        removed = 0
        try:
            names = list(self.folder.iterdir())
        except OSError:
            return 0
        for path in names:
            if path.name.startswith(TEMPORARY_PREFIX):
                # Another process may be writing it this moment: only one untouched for an hour was left by a crash.
                remove = path.name.endswith(SUFFIX) and _older_than(path, LEFTOVER_SECONDS)
            else:
                remove = path.suffix == SUFFIX and path.stem not in keep
            if remove:
                try:
                    path.unlink()
                    removed += 1
                except OSError:
                    pass
        return removed


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def write_atomically(path: Path, data: bytes | Iterable[bytes | memoryview], suffix: str = SUFFIX) -> None:
    """Write bytes (or chunks of them, in order) to a temporary file beside `path`, then rename it over `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY_PREFIX, suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as file:
            for chunk in [data] if isinstance(data, bytes) else data:
                file.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
