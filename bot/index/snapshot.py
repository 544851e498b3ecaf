"""A built Library on disk as plain .npy files and a JSON manifest, mapped back in instead of rebuilt.

A snapshot is a folder `snapshot/<name>/` beside the corpus's analysis cache, and `snapshot/CURRENT` names the
one in use. A new snapshot is written to a folder of its own and then named in CURRENT by an atomic rename,
so a reader sees the old snapshot or the whole new one. Every file's size and CRC-32 are in the manifest and
checked before anything is trusted; arrays are mapped read-only (`np.load(mmap_mode="r")`, never pickle),
so several processes serving the same corpus share one copy of the pages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import mmap
import os
import shutil
import threading
import time
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from bot.index.bm25 import ARRAYS, BM25
from bot.index.cache import write_atomically
from bot.index.library import Entry, Library
from bot.ingest.corpus import Document, Skipped
from bot.text.analyzers import LANGUAGES
from bot.text.languages import Languages

log = logging.getLogger(__name__)

VERSION = 5  # 5: the heading each sentence sits under; 4: stamps are (size, mtime, ctime, inode)
FOLDER = "snapshot"
POINTER = "CURRENT"
MANIFEST = "manifest.json"
# The snapshot names each index's arrays by these keys (the format predates the attribute names).
INDEXES = {"sentences": "sentence_index", "passages": "document_index"}
# Terms are stored joined by a newline, which a term (a run of word characters) cannot hold.
SEPARATOR = "\n"
CHUNK = 1 << 24
# Background writes: one at a time, and for each corpus only the newest library.


class MappedTexts(Sequence[str]):
    """A document's sentences, decoded from the mapped snapshot when asked for: a million strings unmade."""

    __slots__ = ("_blob", "_ends", "_start", "_stop")

    def __init__(self, blob: np.ndarray, ends: np.ndarray, start: int, stop: int) -> None:
        self._blob, self._ends, self._start, self._stop = blob, ends, start, stop

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("sentence index out of range")
        row = self._start + index
        begin = int(self._ends[row - 1]) if row else 0
        return bytes(self._blob[begin : int(self._ends[row])]).decode("utf-8", "surrogatepass")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"MappedTexts({len(self)} sentences)"


class BadSnapshot(Exception):
    """A snapshot that is missing, half-written, corrupt, or made by another version or analyzer."""


class NoSnapshot(BadSnapshot):
    """No snapshot was ever written for this corpus: the first start, nothing to warn about."""


class StaleSnapshot(BadSnapshot):
    """A sound snapshot made by another citebot version or language setting: expected after a change."""


# A snapshot folder without a manifest is still being written, perhaps by another process; one silent for this
# long was left by a writer that died. A finished one is named current right after its manifest is written.
ABANDONED_SECONDS = 3600.0
SETTLED_SECONDS = 5.0


def folder(cache_folder: Path) -> Path:
    """Where a corpus's snapshots live, beside its analysis cache."""
    return cache_folder / FOLDER


def write(library: Library, cache_folder: Path) -> Path | None:
    """Write the library as a new snapshot and make it current; None (and a warning) if it cannot be written."""
    root = folder(cache_folder)
    target = root / f"{uuid.uuid4().hex[:12]}"
    try:
        arrays = _arrays(library)
    except ValueError as exc:
        log.warning("no snapshot written: %s", exc)
        return None
    try:
        target.mkdir(parents=True)
        files = {}
        for name, array in arrays.items():
            path = target / f"{name}.npy"
            np.save(path, np.ascontiguousarray(array), allow_pickle=False)
            files[path.name] = {"size": path.stat().st_size, "crc32": _crc32(path)}
        documents = target / "documents.json"
        # ASCII escapes: a file name that is not UTF-8 holds lone surrogates, which only an escape carries through.
        documents.write_text(json.dumps([_entry_json(e) for e in library.entries]), "ascii")
        files[documents.name] = {"size": documents.stat().st_size, "crc32": _crc32(documents)}
        manifest = {
            "version": VERSION,
            "analyzer": library.languages.key,
            "params": list(library.sentence_index.params),
            "documents": len(library.entries),
            "sentences": library.sentence_count,
            "files": files,
        }
        (target / MANIFEST).write_text(json.dumps(manifest, indent=1), "utf-8")
        write_atomically(root / POINTER, target.name.encode("ascii"), suffix=".tmp")
    except OSError as exc:
        log.warning("no snapshot written to %s: %s", root, exc.strerror or exc)
        shutil.rmtree(target, ignore_errors=True)
        return None
    _remove_others(root, keep=target.name)
    return target


class SnapshotWriter:
    """Writes snapshots in threads of their own, so a reload answers at once; only a corpus's newest is written.

    Its threads are no daemons: a process that exits waits for a write to finish rather than leave half of it.
    The bot keeps one for its reloads; whoever makes one owns the writes it starts.
    """

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[threading.Thread] = []
        self._newest: dict[Path, Library] = {}

    def write_soon(self, library: Library, cache_folder: Path) -> None:
        """Write this library's snapshot in a thread, unless a newer library of the corpus comes first."""
        with self._pending_lock:
            self._newest[cache_folder] = library
            thread = threading.Thread(
                target=self._write_if_newest, args=(library, cache_folder), name="citebot-snapshot"
            )
            self._pending.append(thread)
        thread.start()

    def flush(self) -> None:
        """Wait until every snapshot this writer started is on disk."""
        while True:
            with self._pending_lock:
                threads = [t for t in self._pending if t.is_alive() or not t.ident]
                self._pending[:] = threads
            if not threads:
                return
            for thread in threads:
                thread.join()

    def _write_if_newest(self, library: Library, cache_folder: Path) -> None:
        with self._write_lock:
            with self._pending_lock:
                if self._newest.get(cache_folder) is not library:
                    return  # a newer library of this corpus was loaded meanwhile: its snapshot is the one to keep
                del self._newest[cache_folder]
            write(library, cache_folder)


def read(cache_folder: Path, languages: Languages) -> Library:
    """The current snapshot, mapped; raise BadSnapshot if there is none or it fails any check."""
    root = folder(cache_folder)
    if not (root / POINTER).exists():
        raise NoSnapshot("no snapshot yet")
    try:
        name = (root / POINTER).read_text("ascii").strip()
        target = root / name
        manifest = json.loads((target / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BadSnapshot(f"no usable snapshot ({exc})") from None
    if not name or os.sep in name:
        raise BadSnapshot(f"bad snapshot pointer {name!r}")
    if manifest.get("version") != VERSION:
        raise StaleSnapshot("snapshot of another version")
    if manifest.get("analyzer") != languages.key:
        raise StaleSnapshot("snapshot made with another language setting")
    # Tens of thousands of small objects are made at once; the cyclic collector would walk them again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _verify(target, manifest["files"])
        arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in target.glob("*.npy")}
        rows = json.loads((target / "documents.json").read_text("utf-8"))
        params = tuple(float(x) for x in manifest["params"])
        # np.load with mmap_mode gives memmaps, typed as plain arrays; `params` has the three the manifest holds.
        return _library(arrays, rows, languages, params)  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise BadSnapshot(f"snapshot {name} unusable ({type(exc).__name__}: {exc})") from None
    finally:
        if collecting:
            gc.enable()


def _arrays(library: Library) -> dict[str, np.ndarray]:
    # A library with appended documents has them out of the corpus's order: its merge is written instead.
    exact = dict(zip(INDEXES, library.exact_indexes()))
    arrays: dict[str, np.ndarray] = {}
    for index in INDEXES:
        for name, array in exact[index].arrays().items():
            arrays[f"{index}.{name}"] = np.asarray(array)
    terms = sorted(library.vocabulary, key=library.vocabulary.__getitem__)
    arrays["terms"] = _joined(terms)
    encoded = [s.encode("utf-8", "surrogatepass") for entry in library.entries for s in entry.sentences]
    arrays["text_ends"] = np.cumsum([len(b) for b in encoded], dtype=np.int64)
    arrays["texts"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    # The page of each sentence, 0 for documents without pages.
    pages = [e.pages if e.pages is not None else np.zeros(len(e.sentences), np.int32) for e in library.entries]
    arrays["pages"] = np.concatenate(pages).astype(np.int32) if pages else np.zeros(0, np.int32)
    # The position of the heading each sentence sits under, in its document (-1: none).
    heads = [e.heads if e.heads is not None else np.full(len(e.sentences), -1, np.int32) for e in library.entries]
    arrays["heads"] = np.concatenate(heads).astype(np.int32) if heads else np.zeros(0, np.int32)
    return arrays


def _joined(texts: Any) -> np.ndarray:
    parts = list(texts)
    if any(SEPARATOR in text for text in parts):
        raise ValueError("a term holds a line break")
    return np.frombuffer(SEPARATOR.join(parts).encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _split(array: np.ndarray, count: int) -> list[str]:
    parts = bytes(array).decode("utf-8", "surrogatepass").split(SEPARATOR) if count else []
    if len(parts) != count:
        raise ValueError(f"{count} texts expected, {len(parts)} found")
    return parts


def _entry_json(entry: Entry) -> dict[str, Any]:
    document = {k: v for k, v in dataclasses.asdict(entry.document).items() if k != "text"}
    note = dataclasses.asdict(entry.note) if entry.note is not None else None
    return {
        "digest": entry.digest,
        "stamp": list(entry.stamp),
        "document": document,
        "note": note,
        "sentences": len(entry.sentences),
        "paged": entry.pages is not None,
        "language": entry.language,
    }


def _library(
    arrays: dict[str, np.ndarray], rows: list[dict[str, Any]], languages: Languages, params: tuple[float, float, float]
) -> Library:
    indexes = [BM25(**{name: arrays[f"{index}.{name}"] for name in ARRAYS}, params=params) for index in INDEXES]
    terms = _split(arrays["terms"], indexes[0].n_terms)
    blob, ends, pages, heads = arrays["texts"], arrays["text_ends"], arrays["pages"], arrays["heads"]
    if (
        len(ends) != indexes[0].n_rows
        or len(pages) != len(ends)
        or len(heads) != len(ends)
        or (len(ends) and int(ends[-1]) != len(blob))
    ):
        raise ValueError("sentence texts and index disagree")
    entries, at = [], 0
    for row in rows:
        size = int(row["sentences"])
        document = Document(text="", **_tuples(row["document"]))
        note = Skipped(**row["note"]) if row["note"] is not None else None
        stamp = tuple(int(x) for x in row["stamp"])  # the file's (size, mtime, ctime, inode), then its sidecar's
        paged = pages[at : at + size] if row.get("paged") else None
        language = str(row["language"])
        if language not in LANGUAGES:
            raise ValueError(f"a document in an unknown language {language!r}")
        texts = MappedTexts(blob, ends, at, at + size)
        entries.append(Entry(str(row["digest"]), stamp, document, texts, note, paged, language, heads[at : at + size]))
        at += size
    if at != len(ends) or len(entries) != indexes[1].n_rows:
        raise ValueError("documents and indexes disagree")
    return Library(entries, languages, dict(zip(terms, range(len(terms)))), indexes[0], indexes[1])


def _tuples(fields: dict[str, Any]) -> dict[str, Any]:
    # JSON has no tuples: lists come back as the tuples the frozen dataclasses held.
    # Pairs inside a list (a document's alternates) come back as tuples too.
    return {
        k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
        for k, v in fields.items()
    }


def _verify(target: Path, files: dict[str, dict[str, int]]) -> None:
    present = {p.name for p in target.iterdir() if p.name != MANIFEST}
    if present != set(files):
        raise ValueError(f"files {sorted(present ^ set(files))} missing or unexpected")
    for name, expected in files.items():
        path = target / name
        if path.stat().st_size != expected["size"] or _crc32(path) != expected["crc32"]:
            raise ValueError(f"{name} does not match its checksum")


def _crc32(path: Path) -> int:
    # Through a mapping, not read(): no copy, and the pages read are the ones the index then uses.
    if path.stat().st_size == 0:
        return 0
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            crc = 0
            for start in range(0, len(view), CHUNK):
                crc = zlib.crc32(view[start : start + CHUNK], crc)
            return crc
        finally:
            view.release()


def _remove_others(root: Path, keep: str) -> None:
    # Processes still mapping an old snapshot keep their pages: unlinking a mapped file does not unmap it.
    for path in root.iterdir():
        if path.is_dir() and path.name != keep and _finished_or_abandoned(path):
            with contextlib.suppress(OSError):
                shutil.rmtree(path)


def _finished_or_abandoned(path: Path) -> bool:
    """Whether a snapshot folder is no other process's write in progress: finished a while ago, or long silent."""
    now = time.time()
    try:
        return now - (path / MANIFEST).stat().st_mtime > SETTLED_SECONDS
    except FileNotFoundError:
        try:
            return now - path.stat().st_mtime > ABANDONED_SECONDS
        except OSError:
            return False
    except OSError:
        return False
