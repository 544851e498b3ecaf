"""Loading a corpus folder into a Library: scan the files, analyze what changed, build the indexes."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
import posixpath
import stat
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.index import snapshot as snapshots
from bot.index.cache import AnalysisCache
from bot.index.library import Entry, Library, Postings, make_entry
from bot.ingest.corpus import (
    MAX_FILE_MB,
    SUFFIXES,
    CorpusError,
    Document,
    Skipped,
    corpus_paths,
    grouped,
    make_title,
    parse_file,
)
from bot.ingest.formats import EXTRACTOR_VERSION, Extracted, Unreadable, format_of, missing_reader
from bot.ingest.sandbox import SandboxPool
from bot.ingest.sidecars import MAX_SIDECAR_BYTES, SIDECAR_SUFFIX, document_with_sidecar, with_sidecar
from bot.text.analyzers import AnalyzedDocument, joined, paragraph_pieces
from bot.text.languages import Languages, analyze_document

log = logging.getLogger(__name__)

# Below this many characters of new text, a worker pool costs more to start than it saves.
PARALLEL_MIN_CHARS = 2_000_000
# A file that is still being written is read this many times before it is reported instead.
READ_TRIES = 3
# A document longer than this many characters is analysed in pieces (see _analyze_all).
PIECE_CHARS = 2_000_000
# A document analysed apart (an upload) gets this long, plus this much per million characters.
ANALYSIS_BASE_SECONDS = 60.0
ANALYSIS_SECONDS_PER_MILLION = 15.0
# Past this size a file is skipped: one such file would hold a load for minutes and gigabytes.


def corpus_cache_folder(cache_dir: Path, corpus_dir: Path) -> Path:
    """The corpus's own part of the cache folder: pruning for one corpus never touches another's entries."""
    name = hashlib.blake2b(str(corpus_dir.resolve()).encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return cache_dir / f"corpus-{name}"


def digest(data: bytes, languages: Languages, sidecar: bytes | None = None, extracted: bool = False) -> str:
    """Content hash of a file and its sidecar, salted with the analyzers' version and the allowed languages.

    The bytes and these settle the document's language (declared or detected), so the digest keys the
    language too; the cache file's header names it. Extracted formats add the extractor's version.
    """
    salt = f"{languages.key}:x{EXTRACTOR_VERSION}" if extracted else languages.key
    hashed = hashlib.blake2b(data, digest_size=16, key=salt.encode()[:64])
    if sidecar is not None:
        hashed.update(b"\x00sidecar\x00" + len(sidecar).to_bytes(8, "little") + sidecar)
    return hashed.hexdigest()


def _analyze_all(documents: list[Document], languages: Languages, workers: int) -> Iterator[AnalyzedDocument]:
    """Analyses of the documents, each in its language, in order; in worker processes when there is enough text.

    A very long document is analysed in paragraph-aligned pieces, so the pieces go to every worker
    instead of one worker holding the whole load up (and its whole analysis in memory at once).
    """
    pieces = [(number, piece) for number, document in enumerate(documents) for piece in _pieces(document, languages)]
    chars = sum(len(piece.text) for _, piece in pieces)
    if workers == 1 or chars < PARALLEL_MIN_CHARS or len(pieces) < 2:
        analyses: Iterator[AnalyzedDocument] = (analyze_document(piece, languages) for _, piece in pieces)
    else:
        analyses = _analyze_in_pool([piece for _, piece in pieces], languages, workers)
    return _rejoined(documents, [number for number, _ in pieces], analyses)


def analyze(document: Document, languages: Languages) -> AnalyzedDocument:
    """One document's analysis, exactly as a load makes it (in pieces when it is long), in this process."""
    return next(_analyze_all([document], languages, workers=1))


def analyze_apart(document: Document, languages: Languages, readers: SandboxPool) -> AnalyzedDocument:
    """`analyze` in a sandbox worker, under its time and memory limits: a long upload never loads the caller.

    Unreadable with the reason if the worker fails, runs out of memory or time.
    """
    seconds = ANALYSIS_BASE_SECONDS + ANALYSIS_SECONDS_PER_MILLION * len(document.text) / 1e6
    # The worker maps the language classifier's model from the folder `languages` names (its model_home).
    analyzed: AnalyzedDocument = readers.run(analyze, document, languages, seconds=seconds)
    return analyzed


def _pieces(document: Document, languages: Languages) -> list[Document]:
    if len(document.text) <= PIECE_CHARS or document.pages:
        return [document]
    # The language is settled once for the whole document, so every piece is analysed alike.
    language = languages.of(document)
    return [
        dataclasses.replace(document, text=text, language=language)
        for text in paragraph_pieces(document.text, PIECE_CHARS)
    ]


def _rejoined(
    documents: list[Document], numbers: list[int], analyses: Iterator[AnalyzedDocument]
) -> Iterator[AnalyzedDocument]:
    """The analyses of whole documents from those of their pieces, which come in order."""
    parts: list[AnalyzedDocument] = []
    for at, analysis in enumerate(analyses):
        parts.append(analysis)
        if at + 1 == len(numbers) or numbers[at + 1] != numbers[at]:
            whole = parts[0] if len(parts) == 1 else joined(parts, documents[numbers[at]])
            parts = []  # let the pieces go before the whole is used: they are as large as it is
            yield whole


def _analyze_in_pool(documents: list[Document], languages: Languages, workers: int) -> Iterator[AnalyzedDocument]:
    # Workers detect the languages of the documents they analyse: they map the model from the same folder.
    with ProcessPoolExecutor(max_workers=workers or None) as pool:
        chunk = max(1, min(64, len(documents) // ((workers or 2) * 8)))
        yield from pool.map(analyze_document, documents, [languages] * len(documents), chunksize=chunk)


@dataclass(frozen=True)
class _Pending:
    """A file to add: its key, and its document (with text only while it still has to be analyzed)."""

    key: str
    stamp: tuple[int, ...]
    file: Path
    document: Document
    note: Skipped | None
    cached: bool


def load_library(
    corpus_dir: Path,
    cache_dir: Path,
    *,
    languages: str | Collection[str] = "auto",
    workers: int = 0,
    previous: Library | None = None,
    progress: Callable[[str], None] | None = None,
    snapshot: bool = True,
    writer: snapshots.SnapshotWriter | None = None,
    max_file_mb: float = MAX_FILE_MB,
    changed: Collection[str] | None = None,
) -> Library:
    """Load the corpus folder into a Library, re-reading only what changed since `previous` (or the snapshot).

    `changed` names the only paths that changed (the rest of `previous` is trusted, as a channel post's writer
    knows what it wrote); `writer` writes the new snapshot in a thread; `languages` is "auto" or codes.
    """
    started = time.perf_counter()
    # A document that needs detection maps the classifier's model from the cache folder.
    chosen = dataclasses.replace(Languages.parse(languages), model_home=Path(cache_dir).absolute())
    root = Path(corpus_dir)
    cache_folder = corpus_cache_folder(Path(cache_dir), root)
    cache = AnalysisCache(cache_folder, chosen.key)
    previous = _reusable(previous, chosen, cache_folder, snapshot)
    skipped: list[Skipped] = []
    # Worker processes read every PDF, page and office file, so no hostile file can hang or crash the load.
    with SandboxPool(workers) as readers:
        # A changed sidecar (`report.pdf.yml`) changes its file's document.
        only = None if changed is None else frozenset(changed) | {p.removesuffix(SIDECAR_SUFFIX) for p in changed}
        if only is not None and appendable(previous, only):
            assert previous is not None  # appendable says so
            reading = _Reading(chosen, cache, skipped, readers, int(max_file_mb * 2**20), {})
            library = _append(root, only, previous, reading, workers, progress)
            library.build_seconds = time.perf_counter() - started
            return library
        items = scan(root, chosen, cache, previous, skipped, readers, int(max_file_mb * 2**20), only=only)
        anew = previous is None or not _unchanged(items, previous)
        if anew:
            library = _build(root, items, chosen, cache, previous, workers, skipped, progress, readers)
        else:
            assert previous is not None  # nothing changed since it
            library = _with_indexes_of(previous, items, chosen, skipped)
    # A file touched without a change (or hashed again as racy) gets its new stamp kept, or every start rereads it.
    if (anew or _restamped(items, previous)) and snapshot and cache.writable:
        _save(library, cache_folder, writer)
    library.build_seconds = time.perf_counter() - started
    return library


def _reusable(previous: Library | None, chosen: Languages, cache_folder: Path, snapshot: bool) -> Library | None:
    """What a load can reuse: the previous library if it was analysed alike, else the snapshot (if allowed)."""
    if previous is not None and previous.languages != chosen:
        previous = None  # other analyzers: nothing of the old library can be reused
    if previous is None and snapshot:
        previous = _mapped(cache_folder, chosen)
    return previous


def _save(library: Library, cache_folder: Path, writer: snapshots.SnapshotWriter | None) -> None:
    """Write the library's snapshot: in the writer's thread when there is one."""
    if writer is not None:
        writer.write_soon(library, cache_folder)
    else:
        snapshots.write(library, cache_folder)


def appendable(previous: Library | None, only: Collection[str]) -> bool:
    """Whether a load of these changed paths can append them: all new to `previous`, an in-process library.

    An edit or a removal (a path `previous` holds) renumbers and reweighs what is there, so it takes the exact
    path; so does a sharded library, whose shards are laid out by path.
    """
    if previous is None or type(previous) is not Library:
        return False
    return not any(path in previous.catalogue.numbers for path in only)


def _append(
    root: Path,
    only: frozenset[str],
    previous: Library,
    reading: _Reading,
    workers: int,
    progress: Callable[[str], None] | None,
) -> Library:
    """`previous` with the new files among `only` appended after its documents (`Library.appended`).

    No snapshot is written: one of a library with a delta would be out of the corpus's order (see compact).
    """
    files = [(relative, os.path.join(root, relative)) for relative in sorted(only) if _listable(root, relative)]
    missing = {kind: missing_reader(kind) for kind in {format_of(relative) for relative, _ in files} if kind}
    reading = dataclasses.replace(reading, missing=missing)
    found = [_scan_file(relative, file, None, reading) for relative, file in files]
    settled = [_settle(item, reading.skipped) if isinstance(item, _Extracting) else item for item in found]
    items: list[Entry | _Pending] = [item for item in settled if item is not None]
    vocabulary = dict(previous.vocabulary)  # the library answering now must not see terms come and go
    entries, postings = analyse_and_post(
        items, reading.languages, reading.cache, vocabulary, workers, reading.skipped, progress, readers=reading.readers
    )
    _report(reading.skipped)
    # What was left out before is still left out, but for the paths read again now.
    kept = [s for s in previous.skipped if s.path not in only]
    return previous.appended(entries, postings, vocabulary, kept + reading.skipped)


def _listable(root: Path, relative: str) -> bool:
    """Whether a named path is a document a full scan would list (not hidden, a known suffix, a regular file)."""
    path = root / relative
    hidden = any(part.startswith(".") for part in Path(relative).parts)
    return not hidden and path.suffix.lower() in SUFFIXES and path.is_file() and not path.is_symlink()


def compact(
    library: Library, cache_dir: Path, corpus_dir: Path, *, writer: snapshots.SnapshotWriter | None = None
) -> Library:
    """The library's exact form (`Library.compacted`), and its snapshot written when `writer` is given."""
    started = time.perf_counter()
    compacted = library.compacted()
    if writer is not None and compacted is not library:
        writer.write_soon(compacted, corpus_cache_folder(Path(cache_dir), Path(corpus_dir)))
    compacted.build_seconds = time.perf_counter() - started
    return compacted


def _with_indexes_of(
    previous: Library, items: list[Entry | _Pending], languages: Languages, skipped: list[Skipped]
) -> Library:
    """A library of the same files as `previous` (their stamps may be new) that shares its indexes."""
    # Warnings of documents read before (a sidecar value ignored, say) are still reported.
    skipped.extend(item.note for item in items if isinstance(item, Entry) and item.note is not None)
    library = Library(
        items,  # type: ignore[arg-type]  # unchanged: every item is an Entry
        languages,
        previous.vocabulary,
        previous.sentence_index,
        previous.document_index,
        skipped,
    )
    _report(skipped)
    return library


def _build(
    root: Path,
    items: list[Entry | _Pending],
    languages: Languages,
    cache: AnalysisCache,
    previous: Library | None,
    workers: int,
    skipped: list[Skipped],
    progress: Callable[[str], None] | None,
    readers: SandboxPool,
) -> Library:
    """Count what changed into new postings and build (or update `previous` into) a Library."""
    vocabulary = dict(previous.vocabulary) if previous is not None else {}
    entries, postings = analyse_and_post(
        items, languages, cache, vocabulary, workers, skipped, progress, readers=readers
    )
    del items
    _report(skipped)
    if not entries:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped) or f"no {', '.join(SUFFIXES)} files"
        raise CorpusError(f"no usable document in {root}: {reasons}")
    _tidy(cache, entries, previous)
    if previous is not None:
        return previous.updated(entries, postings, vocabulary, skipped)
    return Library.build(entries, postings, languages, vocabulary, skipped)


def _mapped(cache_folder: Path, languages: Languages) -> Library | None:
    """The snapshot of this corpus's last build, or None (with the reason logged) when there is none to trust."""
    try:
        return snapshots.read(cache_folder, languages)
    except snapshots.BadSnapshot as exc:
        # A first start has none, and an upgrade or a changed setting makes one stale: a rebuild is expected.
        # One that was there and failed a check is worth a warning.
        level = {snapshots.NoSnapshot: logging.DEBUG, snapshots.StaleSnapshot: logging.INFO}.get(
            type(exc), logging.WARNING
        )
        log.log(level, "building the index: %s", exc)
        return None


def _unchanged(items: list[Entry | _Pending], previous: Library) -> bool:
    """Whether the scan found exactly the documents `previous` holds, in the same order."""
    return len(items) == len(previous.entries) and all(
        isinstance(item, Entry) and item.digest == old.digest and item.document.path == old.document.path
        for item, old in zip(items, previous.entries)
    )


def _restamped(items: list[Entry | _Pending], previous: Library | None) -> bool:
    """Whether any file's stamp differs from the one `previous` holds for it (its content being the same)."""
    return previous is None or any(
        not isinstance(item, Entry) or item.stamp != old.stamp for item, old in zip(items, previous.entries)
    )


def _report(skipped: list[Skipped]) -> None:
    for path, reason in grouped(skipped):
        log.warning("%s: %s", path, reason)


def scan(
    root: Path,
    languages: Languages,
    cache: AnalysisCache,
    previous: Library | None,
    skipped: list[Skipped],
    readers: SandboxPool,
    max_bytes: int,
    only: frozenset[str] | None = None,
) -> list[Entry | _Pending]:
    """The corpus's files in order: entries of `previous` that did not change, and files still to add.

    With `only`, just those paths are looked at; every other entry of `previous` is kept as it is.
    """
    known = {e.document.path: e for e in previous.entries} if previous is not None else {}
    files = _files_to_scan(root, previous, only, skipped)
    missing = {kind: missing_reader(kind) for kind in {format_of(relative) for relative, _ in files} if kind}
    reading = _Reading(languages, cache, skipped, readers, max_bytes, missing)
    items: list[Entry | _Pending | _Extracting] = []
    waiting: deque[_Extracting] = deque()
    for relative, file in files:
        entry = known.get(relative)
        if only is not None and entry is not None and relative not in only:
            items.append(entry)  # trusted: the caller named every path it changed
            continue
        item = _scan_file(relative, file, entry, reading)
        if item is None:
            continue
        items.append(item)
        if isinstance(item, _Extracting):
            waiting.append(item)
            # Files wait for a worker with their bytes in memory: only a few per worker are let wait.
            while len(waiting) > 2 * readers.workers:
                waiting.popleft().future.exception()
    settled = [_settle(item, skipped) if isinstance(item, _Extracting) else item for item in items]
    return [item for item in settled if item is not None]


@dataclass(frozen=True)
class _Reading:
    """What a scan reads each file with, and where it notes the files it skips."""

    languages: Languages
    cache: AnalysisCache
    skipped: list[Skipped]
    readers: SandboxPool
    max_bytes: int
    missing: dict[str, str | None]  # a format whose library is not installed: why its files are skipped


def _scan_file(
    relative: str, file: str, entry: Entry | None, reading: _Reading
) -> Entry | _Pending | _Extracting | None:
    """One listed file: its unchanged entry, its analysis still to come, or None when it is skipped (and why)."""
    skipped, max_bytes = reading.skipped, reading.max_bytes
    try:
        stamp = _stamp(file) + _sidecar_stamp(relative, file)
        if entry is not None and entry.stamp == stamp:
            # Same size, times and inode: the file was not touched, so it is not read again (see _stamp).
            return entry
        if stamp[0] > max_bytes:
            skipped.append(
                Skipped(relative, f"too large: {stamp[0] / 2**20:,.1f} MB, over the {max_bytes / 2**20:g} MB limit")
            )
            return None
        data, sidecar, stamp = _read(relative, file, max_bytes)
    except (OSError, FileChanging) as exc:
        skipped.append(_unreadable(relative, exc))
        return None
    key = digest(data, reading.languages, sidecar, extracted=format_of(relative) is not None)
    if entry is not None and entry.digest == key:
        return dataclasses.replace(entry, stamp=stamp)
    stored = reading.cache.document(key, relative)
    if stored is not None:
        # Read before: the cache has its metadata and analysis, so the file is not parsed or extracted again.
        cached, reason = stored
        return _Pending(key, stamp, Path(file), cached, _kept(relative, reason), cached=True)
    kind = format_of(relative)
    if kind is None:
        parsed, note = text_document(relative, data, sidecar)
        return _pending(key, stamp, Path(file), parsed, note, skipped)  # None: the reason is in `skipped`
    why = reading.missing[kind]
    if why is not None:
        skipped.append(Skipped(relative, why))  # reported once for all such files (corpus.grouped)
        return None
    return _Extracting(key, stamp, Path(file), relative, sidecar, reading.readers.submit(kind, data))


def _files_to_scan(
    root: Path, previous: Library | None, only: frozenset[str] | None, skipped: list[Skipped]
) -> list[tuple[str, str]]:
    """The (relative, path) pairs a scan goes through: every document of the folder, or those `only` allows."""
    if only is not None and previous is not None:
        return _named_files(root, previous, only, skipped)
    found = corpus_paths(root)
    skipped.extend(found.skipped)
    files, resources = saved_page_resources(list(found))
    skipped.extend(resources)
    return files


def _named_files(root: Path, previous: Library, only: frozenset[str], skipped: list[Skipped]) -> list[tuple[str, str]]:
    """The files of `previous` and the named paths that exist, in the order a full scan lists them."""
    kept = [s for s in previous.skipped if not s.warning and s.path not in only]
    skipped.extend(kept)  # what was left out before and was not touched is still left out, for the same reason
    paths = {entry.document.path for entry in previous.entries} - only
    paths.update(relative for relative in only if _listable(root, relative))
    return [(relative, os.path.join(root, relative)) for relative in sorted(paths)]


def saved_page_resources(files: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[Skipped]]:
    """The files apart from those in a browser's `Page_files/` folder beside `Page.html` (frames, ads), and those."""
    pages = {posixpath.splitext(relative)[0]: relative for relative, _ in files if format_of(relative) == "html"}
    kept: list[tuple[str, str]] = []
    resources: list[Skipped] = []
    for relative, file in files:
        page = _page_of(relative, pages)
        if page is None:
            kept.append((relative, file))
        else:
            resources.append(Skipped(relative, f"part of the saved page {page}, not a document of its own"))
    return kept, resources


def _page_of(relative: str, pages: dict[str, str]) -> str | None:
    """The saved page whose resource folder holds this file: `News_files/ad.html` belongs to `News.html`."""
    parts = relative.split("/")
    for at, part in enumerate(parts[:-1]):
        if part.endswith("_files"):
            page = pages.get("/".join([*parts[:at], part.removesuffix("_files")]))
            if page is not None:
                return page
    return None


@dataclass(frozen=True)
class _Extracting:
    """A file a worker is extracting, and what its document needs besides: its sidecar."""

    key: str
    stamp: tuple[int, ...]
    file: Path
    relative: str
    sidecar: bytes | None
    future: Future[Extracted]


def _settle(job: _Extracting, skipped: list[Skipped]) -> _Pending | None:
    """The extracted file as a document to add, or None (and its reason in `skipped`)."""
    try:
        document, note = document_from(job.relative, job.future.result(), job.sidecar)
    except Unreadable as exc:
        skipped.append(Skipped(job.relative, str(exc)))
        return None
    return _pending(job.key, job.stamp, job.file, document, note, skipped)


def _pending(
    key: str,
    stamp: tuple[int, ...],
    file: Path,
    document: Document | None,
    note: Skipped | None,
    skipped: list[Skipped],
) -> _Pending | None:
    # Only files the cache had no usable entry for get here (scan asked it first): they are analysed.
    if document is None:
        skipped.append(note)  # type: ignore[arg-type]  # a file read into no Document always has its Skipped
        return None
    return _Pending(key, stamp, file, document, note, cached=False)


def analyse_and_post(
    items: list[Entry | _Pending],
    languages: Languages,
    cache: AnalysisCache,
    vocabulary: dict[str, int],
    workers: int,
    skipped: list[Skipped],
    progress: Callable[[str], None] | None = None,
    *,
    readers: SandboxPool,
) -> tuple[list[Entry], Postings]:
    """Analyze (or take from the cache) each file to add, counting its terms into new postings as it comes."""
    fresh = [item.document for item in items if isinstance(item, _Pending) and not item.cached]
    if progress is not None and fresh:
        progress(f"analyzing {len(fresh)} of {len(items)} documents")
    analyzed_in_order = _analyze_all(fresh, languages, workers)
    del fresh
    entries: list[Entry] = []
    postings = Postings()
    offset = 0
    for item in items:
        if isinstance(item, _Pending):
            analyzed = next(analyzed_in_order) if not item.cached else cache.load(item.key, item.document)
            if analyzed is None:
                # The cache file could not be trusted: analyze the file after all, and cache it anew.
                reread = _reread(item, languages, skipped, readers)
                if reread is None:
                    continue
                item = reread
                analyzed = analyze_document(item.document, languages)
            if not item.cached:
                cache.store(item.key, analyzed, item.note.reason if item.note is not None else None)
            if not analyzed.sentences:
                skipped.append(Skipped(item.document.path, "no sentences found"))
                continue
            entry, counts = make_entry(item.key, item.stamp, analyzed, vocabulary, item.note)
            postings.add(len(entries), offset, counts)
            del analyzed, counts
        else:
            entry = item
        if entry.note is not None:
            skipped.append(entry.note)
        entries.append(entry)
        offset += len(entry.sentences)
    return entries, postings


def _tidy(cache: AnalysisCache, entries: list[Entry], previous: Library | None) -> None:
    """Delete the cache files of content that left the corpus."""
    if not cache.writable:
        return
    digests = {entry.digest for entry in entries}
    if previous is None:
        cache.prune(digests)
    else:
        # A reload knows what left the corpus; listing a folder of every document's file costs more.
        cache.discard({entry.digest for entry in previous.entries} - digests)


def _unreadable(relative: str, exc: OSError | FileChanging) -> Skipped:
    reason = f"cannot read: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
    return Skipped(relative, reason)


class FileChanging(Exception):
    """A file whose size or modification time moved while it was read: what was read may be torn."""


# A file whose status changed this recently may still change within the same clock tick without its stamp
# moving (git's "racy" files): its stamp is recorded so that it never matches, and the next scan hashes it.
RACY_NS = 2 * 10**9
# Flags every document and sidecar is opened with: a symlink swapped in since the listing is refused (ELOOP),
# and a FIFO is not waited on.
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _stamp(file: str | Path) -> tuple[int, ...]:
    """What says a file is unchanged: size, mtime, ctime and inode of the path itself (a symlink is not followed).

    Size and mtime alone can be kept by an edit (utime, `cp -p`, a sync tool); the ctime cannot be set and moves
    on every change, and a file replaced by another has another inode.
    """
    return stamp_of(os.stat(file, follow_symlinks=False))


def stamp_of(info: os.stat_result, now_ns: int | None = None) -> tuple[int, ...]:
    """The stamp of a file's status: (size, mtime_ns, ctime_ns, inode); a racy file's ctime recorded as -1."""
    ctime = info.st_ctime_ns
    if (time.time_ns() if now_ns is None else now_ns) - ctime < RACY_NS:
        ctime = -1
    return info.st_size, info.st_mtime_ns, ctime, info.st_ino


def read_whole(file: str | Path, tries: int = READ_TRIES, limit: int = -1) -> tuple[bytes, tuple[int, ...]]:
    """A file's bytes (at most `limit`, if given) and its stamp as read; FileChanging if it never holds still.

    The file is opened without following a symlink and checked to be a regular file; the bytes and the stamp
    both come from that open file, so nothing swapped in at the path since the listing is read.
    """
    for _ in range(tries):
        descriptor = _open_regular(file)
        with os.fdopen(descriptor, "rb") as handle:
            before = os.fstat(descriptor)
            # Asked for what the file holds (and one byte to see it grow), not the cap: read(n) sets n bytes aside.
            wanted = before.st_size + 1 if limit < 0 else min(limit, before.st_size + 1)
            data = handle.read(wanted)
            after = os.fstat(descriptor)
        # An editor saving mid-read leaves a torn file: same look before and after, and every byte read, or again.
        if _same(before, after) and len(data) == (after.st_size if limit < 0 else min(after.st_size, limit)):
            return data, stamp_of(after)
    raise FileChanging(f"changed while being read ({tries} tries); it is read again on the next reload")


def _same(before: os.stat_result, after: os.stat_result) -> bool:
    fields = ("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")
    return all(getattr(before, name) == getattr(after, name) for name in fields)


def _open_regular(file: str | Path) -> int:
    """A descriptor of the regular file at `file`; a symlink, FIFO or device there is refused, never waited on."""
    try:
        descriptor = os.open(file, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symlink, not followed") from exc
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(errno.EINVAL, "not a regular file")
    return descriptor


def _reread(item: _Pending, languages: Languages, skipped: list[Skipped], readers: SandboxPool) -> _Pending | None:
    """The pending file read afresh, keyed by the digest of exactly the bytes read now, or None if unusable.

    The file may have changed since it was hashed; analysing the new bytes under the old digest would
    file text under content it is not, and a later load of the old content would quote it.
    """
    relative = item.document.path
    try:
        data, sidecar, stamp = _read(relative, item.file)
    except (OSError, FileChanging) as exc:
        skipped.append(_unreadable(relative, exc))
        return None
    document, note = read_document(relative, data, sidecar, readers)
    if document is None:
        skipped.append(note)  # type: ignore[arg-type]  # a file read into no Document always has its Skipped
        return None
    key = digest(data, languages, sidecar, extracted=format_of(relative) is not None)
    return _Pending(key, stamp, item.file, document, note, cached=False)


def _sidecar_path(relative: str, file: str | Path) -> str | None:
    """Where a file's metadata sidecar would be (`report.pdf.yml`, `notes.md.yml`)."""
    return f"{file}{SIDECAR_SUFFIX}"


def _sidecar_stamp(relative: str, file: str | Path) -> tuple[int, ...]:
    sidecar = _sidecar_path(relative, file)
    try:
        return _stamp(sidecar) if sidecar is not None else ()
    except FileNotFoundError:
        return ()


def _read(
    relative: str, file: str | Path, max_bytes: int = int(MAX_FILE_MB * 2**20)
) -> tuple[bytes, bytes | None, tuple[int, ...]]:
    """A file's bytes, its sidecar's bytes (None without one), and the stamp of both as read."""
    data, stamp = read_whole(file, limit=max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(errno.EFBIG, f"too large: over the {max_bytes / 2**20:g} MB limit")
    sidecar = _sidecar_path(relative, file)
    if sidecar is None:
        return data, None, stamp
    try:
        # One byte past the cap is enough to know the sidecar is over it: a huge one is never read whole.
        extra, extra_stamp = read_whole(sidecar, limit=MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return data, None, stamp
    except OSError as exc:
        raise OSError(exc.errno, f"sidecar {posixpath.basename(relative)}{SIDECAR_SUFFIX}: {exc.strerror}") from exc
    return data, extra, stamp + extra_stamp


def read_document(
    relative: str, data: bytes, sidecar: bytes | None, readers: SandboxPool
) -> tuple[Document | None, Skipped | None]:
    """A file's Document: text files parsed here, every other format extracted in a worker."""
    kind = format_of(relative)
    if kind is None:
        return text_document(relative, data, sidecar)
    try:
        return document_from(relative, readers.extract(kind, data), sidecar)
    except Unreadable as exc:
        return None, Skipped(relative, str(exc))


def text_document(relative: str, data: bytes, sidecar: bytes | None) -> tuple[Document | None, Skipped | None]:
    """A text file's Document, its sidecar's fields over its front matter, and a warning if any."""
    document, note = parse_file(relative, data)
    if document is None or sidecar is None:
        return document, note
    document, warning = document_with_sidecar(document, sidecar)
    notes = "; ".join(n for n in (note.reason if note else None, warning) if n)
    return document, _kept(relative, notes or None)


def document_from(relative: str, extracted: Extracted, sidecar: bytes | None) -> tuple[Document, Skipped | None]:
    """The Document of an extracted file, its sidecar's fields over what the file said, and a warning if any."""
    if sidecar is not None:
        extracted = with_sidecar(extracted, sidecar)
    title, made = make_title(extracted.title, extracted.text, relative)
    document = Document(
        path=relative,
        title=title,
        title_made=made,
        text=extracted.text,
        source=extracted.source,
        date=extracted.date,
        url=extracted.url,
        pages=extracted.pages,
        language=extracted.language,
        alternates=extracted.alternates,
    )
    return document, _kept(relative, extracted.warning)


def _kept(relative: str, warning: str | None) -> Skipped | None:
    return Skipped(relative, warning, warning=True) if warning else None
