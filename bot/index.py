"""The search index: exact BM25 over an inverted index, and the Library that serves a corpus."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.cache import AnalysisCache
from bot.config import Settings
from bot.corpus import CorpusError, Document, Skipped, corpus_paths, parse_file
from bot.text import AnalyzedDocument, Analyzer, analyze

log = logging.getLogger(__name__)

# rank-bm25's BM25Okapi defaults, kept so that scores match it exactly.
K1, B, EPSILON = 1.5, 0.75, 0.25
# Below this many characters of new text, a worker pool costs more to start than it saves.
PARALLEL_MIN_CHARS = 2_000_000
# Postings are weighted this many at a time, to keep temporaries small.
SLICE = 1 << 20
# A query's rarest terms, up to this many postings together, are tried first (see BM25.top).
RARE_POSTINGS = 2_000
# A file that is still being written is read this many times before it is reported instead.
READ_TRIES = 3


class BM25:
    """rank-bm25's BM25Okapi scores, computed from an inverted index instead of a scan of every row."""

    def __init__(
        self,
        rows: np.ndarray,
        columns: np.ndarray,
        counts: np.ndarray,
        lengths: np.ndarray,
        n_terms: int,
        k1: float = K1,
        b: float = B,
        epsilon: float = EPSILON,
    ) -> None:
        # A stable sort by term keeps each term's rows ascending, which `scores` and `updated` rely on.
        order = np.argsort(columns, kind="stable")
        postings = np.ascontiguousarray(rows[order], dtype=np.int32)
        tf = np.ascontiguousarray(counts[order], dtype=np.int32)
        del order
        self._setup(postings, tf, np.bincount(columns, minlength=n_terms), lengths, (k1, b, epsilon))

    def _setup(
        self, postings: np.ndarray, counts: np.ndarray, df: np.ndarray, lengths: np.ndarray, params: tuple[float, ...]
    ) -> None:
        k1, b, epsilon = self.params = params
        self.n_rows = len(lengths)
        self.n_terms = len(df)
        if self.n_rows == 0:
            raise ValueError("BM25 needs at least one row")
        self.postings, self.counts = postings, counts
        self.lengths = np.asarray(lengths, dtype=np.int32)
        self.indptr = np.zeros(self.n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=self.indptr[1:])
        avgdl = float(self.lengths.sum(dtype=np.int64)) / self.n_rows
        idf = np.log(self.n_rows - df + 0.5) - np.log(df + 0.5)
        present = df > 0
        # As in rank-bm25: terms in more than half the rows get a floor of epsilon × the mean IDF.
        average_idf = float(idf[present].sum() / present.sum()) if present.any() else 0.0
        idf[present & (idf < 0)] = epsilon * average_idf
        idf[~present] = 0.0
        self.idf = idf
        # rank-bm25's tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)), same operations in the same order so the
        # bits agree, but the length part once per row and the rest in place, a slice at a time: at a
        # million rows every temporary the size of the postings costs a hundred megabytes.
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = k1 * (1 - b + b * self.lengths.astype(np.float64) / avgdl)
            self.weights = np.empty(len(postings))
            for start in range(0, len(postings), SLICE):
                part = slice(start, start + SLICE)
                tf = counts[part].astype(np.float64)
                weights = self.weights[part]
                np.take(norm, postings[part], out=weights)
                weights += tf
                tf *= k1 + 1
                np.divide(tf, weights, out=weights)
        # The most one posting of each term can add, for skipping rows that cannot reach the top (see `top`).
        self.max_weight = np.zeros(self.n_terms)
        nonempty = np.flatnonzero(df > 0)
        if len(nonempty):
            self.max_weight[nonempty] = np.maximum.reduceat(self.weights, self.indptr[nonempty])
        self._local = threading.local()

    def updated(
        self, row_map: np.ndarray, rows: np.ndarray, columns: np.ndarray, counts: np.ndarray, lengths: np.ndarray,
        n_terms: int,
    ) -> BM25:
        """This index with its rows renumbered by `row_map` (-1 drops one) and new (row, column, count) postings.

        The result equals a fresh build over the same rows, and costs a few passes over the postings
        instead of a sort of them all: what makes a reload after a small change quick.
        """
        terms = np.repeat(np.arange(self.n_terms, dtype=np.int32), np.diff(self.indptr))
        moved = row_map[self.postings]
        keep = moved >= 0
        terms, moved, tf = terms[keep], moved[keep].astype(np.int32), self.counts[keep]
        del keep
        order = np.lexsort((rows, columns))
        new_terms, new_rows, new_counts = columns[order], rows[order], counts[order]
        width = np.int64(len(lengths))
        # Renumbering keeps rows in order, so the kept postings stay sorted by (term, row).
        at = np.searchsorted(terms.astype(np.int64) * width + moved, new_terms.astype(np.int64) * width + new_rows)
        postings = np.insert(moved, at, new_rows.astype(np.int32))
        del moved
        tf = np.insert(tf, at, new_counts.astype(np.int32))
        df = np.bincount(np.insert(terms, at, new_terms.astype(np.int32)), minlength=n_terms)
        del terms
        index = BM25.__new__(BM25)
        index._setup(postings, tf, df, lengths, self.params)
        return index

    @classmethod
    def from_tokens(cls, corpus: Sequence[Sequence[str]], **params: float) -> tuple[BM25, dict[str, int]]:
        """Index token lists as rank-bm25 would; return the index and its term ids."""
        vocabulary: dict[str, int] = {}
        rows, columns, counts = [], [], []
        for row, tokens in enumerate(corpus):
            tf: dict[int, int] = {}
            for token in tokens:
                term = vocabulary.setdefault(token, len(vocabulary))
                tf[term] = tf.get(term, 0) + 1
            rows.extend([row] * len(tf))
            columns.extend(tf)
            counts.extend(tf.values())
        lengths = np.array([len(tokens) for tokens in corpus], dtype=np.int64)
        index = cls(
            np.array(rows, dtype=np.int32),
            np.array(columns, dtype=np.int64),
            np.array(counts, dtype=np.int64),
            lengths,
            len(vocabulary),
            **params,
        )
        return index, vocabulary

    def _buffer(self) -> np.ndarray:
        # One score accumulator per thread: concurrent queries never share one, and none is reallocated.
        buffer = getattr(self._local, "scores", None)
        if buffer is None:
            buffer = self._local.scores = np.zeros(self.n_rows)
        return buffer

    def _known(self, query: Iterable[int]) -> list[int]:
        return [t for t in query if 0 <= t < self.n_terms and self.indptr[t] < self.indptr[t + 1]]

    def top(self, query: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows that share a term with the query, best first, with their exact scores."""
        terms = self._known(query)
        if not terms or k <= 0:
            return np.empty(0, dtype=np.int32), np.empty(0)
        return self._top_by_rare_terms(terms, k) or self._top_of_all(terms, k)

    def _top_by_rare_terms(self, terms: list[int], k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The top k found from the rows of the query's rare terms, when the common ones cannot change it.

        MaxScore's idea: a row without any rare term scores at most the sum of the common terms'
        largest contributions. When k rows with rare terms already beat that on their rare terms
        alone, no other row can enter the top k, and a query with "said" in it need not touch a
        third of the corpus. Returns None when the shortcut does not apply.
        """
        times = Counter(terms)
        if any(self.idf[t] <= 0 for t in times):
            return None
        by_size = sorted(times, key=lambda t: self.indptr[t + 1] - self.indptr[t])
        rare, size = [], 0
        for term in by_size:
            length = int(self.indptr[term + 1] - self.indptr[term])
            if rare and size + length > RARE_POSTINGS:
                break
            rare.append(term)
            size += length
        common = by_size[len(rare) :]
        if not common or not k <= size <= RARE_POSTINGS:
            return None
        ceiling = sum(times[t] * float(self.idf[t] * self.max_weight[t]) for t in common)
        with self._accumulated([(t, times[t]) for t in rare]) as (partial, touched):
            rows = np.unique(np.concatenate(touched))
            lower = partial[rows]
        if len(rows) < k:
            return None
        kth = np.partition(lower, len(lower) - k)[len(lower) - k]
        if kth <= ceiling:
            return None
        # Only rows that could still beat the k-th best on their rare terms get exact scores.
        rows = rows[lower + ceiling >= kth]
        scores = self.scores(terms, rows)
        order = np.lexsort((rows, -scores))[:k]
        return rows[order], scores[order]

    def _top_of_all(self, terms: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        # Query terms are added one at a time, in order, repeats included, exactly as rank-bm25 does.
        with self._accumulated([(t, 1) for t in terms]) as (scores, touched):
            candidates = touched[0] if len(touched) == 1 else np.concatenate(touched)
            values = scores[candidates]
            # A row occurs at most once per query term, so the best this many entries hold k distinct rows;
            # every entry scoring at least the last of them is kept, ties included.
            wanted = min(len(candidates), k * len(touched))
            if wanted < len(candidates):
                threshold = np.partition(values, len(values) - wanted)[len(values) - wanted]
                candidates = candidates[values >= threshold]
            rows = np.unique(candidates)
            values = scores[rows]
        order = np.lexsort((rows, -values))[:k]
        return rows[order], values[order]

    @contextlib.contextmanager
    def _accumulated(self, terms: list[tuple[int, int]]) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        """This thread's score buffer with each (term, times) added in, and the rows touched; cleared after."""
        scores = self._buffer()
        touched = []
        try:
            for term, times in terms:
                lo, hi = self.indptr[term], self.indptr[term + 1]
                rows = self.postings[lo:hi]
                scores[rows] += times * self.idf[term] * self.weights[lo:hi]
                touched.append(rows)
            yield scores, touched
        finally:
            if sum(len(rows) for rows in touched) > self.n_rows // 8:
                scores.fill(0.0)  # one pass over the buffer beats scattered writes to a large part of it
            else:
                for rows in touched:
                    scores[rows] = 0.0

    def scores(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """Exact scores of the given rows (zero where they share no term with the query)."""
        rows = np.asarray(rows, dtype=np.int32)
        out = np.zeros(len(rows))
        for term in self._known(query):
            lo, hi = self.indptr[term], self.indptr[term + 1]
            postings = self.postings[lo:hi]
            at = np.minimum(np.searchsorted(postings, rows), len(postings) - 1)
            hit = postings[at] == rows
            out[hit] += self.idf[term] * self.weights[lo:hi][at[hit]]
        return out

    def matches(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """How many distinct query terms each of the given rows contains."""
        rows = np.asarray(rows, dtype=np.int32)
        out = np.zeros(len(rows), dtype=np.int32)
        for term in set(self._known(query)):
            postings = self.postings[self.indptr[term] : self.indptr[term + 1]]
            at = np.minimum(np.searchsorted(postings, rows), len(postings) - 1)
            out += postings[at] == rows
        return out


@dataclass(frozen=True)
class Sentence:
    """A sentence of the corpus, with where it stands."""

    id: int
    document: Document
    position: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A sentence found for a query, with its BM25 score."""

    sentence: Sentence
    score: float


@dataclass(frozen=True, eq=False)
class Entry:
    """A document as the library holds it, keyed by the file it came from."""

    digest: str
    stamp: tuple[int, int]  # (size, mtime_ns) of the file: unchanged, it is not even read again
    document: Document  # without its text: the sentences hold it, and the corpus twice in memory is waste
    sentences: tuple[str, ...]
    note: Skipped | None = None


@dataclass(frozen=True, eq=False)
class Counts:
    """A document's term counts in the library's term ids: what goes into the indexes, then is let go."""

    lengths: np.ndarray  # terms per sentence
    rows: np.ndarray  # sentence position of each (sentence, term) pair
    columns: np.ndarray  # global term id of each pair
    counts: np.ndarray  # occurrences of each pair
    passage_terms: np.ndarray  # the document's distinct term ids, title included
    passage_counts: np.ndarray  # occurrences of each in the whole document


def make_entry(
    digest: str, stamp: tuple[int, int], analyzed: AnalyzedDocument, vocabulary: dict[str, int], note: Skipped | None
) -> tuple[Entry, Counts]:
    """Map a document's analysis onto the library's term ids (adding new terms) and count it as a passage."""
    words = analyzed.terms + analyzed.title_terms
    found = list(map(vocabulary.get, words))
    if None in found:
        # Only words the library has not seen yet take the slow path.
        found = [vocabulary.setdefault(w, len(vocabulary)) if i is None else i for w, i in zip(words, found)]
    ids = np.array(found, dtype=np.int32)
    columns = ids[: len(analyzed.terms)][analyzed.columns]
    every = np.concatenate([columns, ids[len(analyzed.terms) :]])
    weights = np.concatenate([analyzed.counts, np.ones(len(analyzed.title_terms), dtype=np.int32)])
    passage_terms, inverse = np.unique(every, return_inverse=True)
    entry = Entry(digest, stamp, _untexted(analyzed.document), analyzed.sentences, note)
    counts = Counts(
        lengths=analyzed.lengths,
        rows=analyzed.rows,
        columns=columns,
        counts=analyzed.counts,
        passage_terms=passage_terms.astype(np.int32),
        passage_counts=np.bincount(inverse, weights=weights).astype(np.int32),
    )
    return entry, counts


def corpus_cache_folder(cache_dir: Path, corpus_dir: Path) -> Path:
    """The corpus's own part of the cache folder: pruning for one corpus never touches another's entries."""
    name = hashlib.blake2b(str(corpus_dir.resolve()).encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return cache_dir / f"corpus-{name}"


def digest(data: bytes, analyzer: Analyzer) -> str:
    """Content hash of a file, salted with the analyzer's settings."""
    return hashlib.blake2b(data, digest_size=16, key=analyzer.key.encode()[:64]).hexdigest()


def _offsets(sizes: Iterable[int]) -> np.ndarray:
    sizes = np.fromiter(sizes, dtype=np.int64)
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return offsets


class _Column:
    """An int32 array that grows as values are appended, so documents need not be kept to be joined."""

    def __init__(self) -> None:
        self.data = np.empty(1 << 12, dtype=np.int32)
        self.size = 0

    def extend(self, values: np.ndarray | Sequence[int]) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            bigger = np.empty(max(end, len(self.data) * 2), dtype=np.int32)
            bigger[: self.size] = self.data[: self.size]
            self.data = bigger
        self.data[self.size : end] = values
        self.size = end

    def array(self) -> np.ndarray:
        return self.data[: self.size]


class Postings:
    """The postings of the documents new to an index, gathered as each document is read."""

    def __init__(self) -> None:
        self.rows, self.columns, self.counts, self.lengths = _Column(), _Column(), _Column(), _Column()
        self.passage_rows, self.passage_columns, self.passage_counts = _Column(), _Column(), _Column()
        self.passage_lengths = _Column()
        self.numbers: list[int] = []

    def add(self, number: int, offset: int, counts: Counts) -> None:
        """Add document `number`, whose first sentence is row `offset`."""
        self.rows.extend(counts.rows + np.int32(offset))
        self.columns.extend(counts.columns)
        self.counts.extend(counts.counts)
        self.lengths.extend(counts.lengths)
        self.passage_rows.extend(np.full(len(counts.passage_terms), number, dtype=np.int32))
        self.passage_columns.extend(counts.passage_terms)
        self.passage_counts.extend(counts.passage_counts)
        self.passage_lengths.extend([int(counts.passage_counts.sum())])
        self.numbers.append(number)


class Library:
    """A loaded corpus: its documents, their sentences, and BM25 indexes over sentences and documents."""

    def __init__(
        self,
        entries: Sequence[Entry],
        analyzer: Analyzer,
        vocabulary: dict[str, int],
        sentences: BM25,
        passages: BM25,
        skipped: Sequence[Skipped] = (),
        build_seconds: float = 0.0,
    ) -> None:
        self.entries = tuple(entries)
        self.analyzer = analyzer
        self.vocabulary = vocabulary
        self.sentences = sentences
        self.passages = passages
        self.skipped = tuple(skipped)
        self.build_seconds = build_seconds
        self.documents = tuple(entry.document for entry in self.entries)
        self.offsets = _offsets(len(entry.sentences) for entry in self.entries)
        self.sentence_count = int(self.offsets[-1])

    @classmethod
    def build(
        cls, entries: Sequence[Entry], postings: Postings, analyzer: Analyzer, vocabulary: dict[str, int],
        skipped: Sequence[Skipped] = (),
    ) -> Library:
        """Index documents from scratch; `postings` holds every one of them."""
        if not any(entry.sentences for entry in entries):
            raise CorpusError("the corpus has documents but not one sentence in them")
        n_terms = len(vocabulary)
        sentences = BM25(postings.rows.array(), postings.columns.array(), postings.counts.array(), postings.lengths.array(), n_terms)
        passages = BM25(
            postings.passage_rows.array(), postings.passage_columns.array(), postings.passage_counts.array(),
            postings.passage_lengths.array(), n_terms,
        )
        return cls(entries, analyzer, vocabulary, sentences, passages, skipped)

    def updated(
        self, entries: Sequence[Entry], postings: Postings, vocabulary: dict[str, int], skipped: Sequence[Skipped] = ()
    ) -> Library:
        """A library of `entries`, re-using this one's postings for each entry it already holds.

        `postings` holds the entries new here, by their position in `entries`.
        """
        offsets = _offsets(len(entry.sentences) for entry in entries)
        if offsets[-1] == 0:
            raise CorpusError("the corpus has documents but not one sentence in them")
        new = set(postings.numbers)
        where = {(e.document.path, e.digest): number for number, e in enumerate(entries) if number not in new}
        row_map = np.full(self.sentence_count, -1, dtype=np.int64)
        document_map = np.full(len(self.entries), -1, dtype=np.int64)
        lengths = np.zeros(int(offsets[-1]), dtype=np.int32)
        passage_lengths = np.zeros(len(entries), dtype=np.int32)
        for old, entry in enumerate(self.entries):
            number = where.get((entry.document.path, entry.digest))
            if number is None:
                continue
            start, stop, at = int(self.offsets[old]), int(self.offsets[old + 1]), int(offsets[number])
            row_map[start:stop] = np.arange(at, at + stop - start)
            document_map[old] = number
            lengths[at : at + stop - start] = self.sentences.lengths[start:stop]
            passage_lengths[number] = self.passages.lengths[old]
        new_lengths, at = postings.lengths.array(), 0
        for number, passage_length in zip(postings.numbers, postings.passage_lengths.array()):
            size = int(offsets[number + 1] - offsets[number])
            lengths[offsets[number] : offsets[number + 1]] = new_lengths[at : at + size]
            passage_lengths[number] = passage_length
            at += size
        n_terms = len(vocabulary)
        sentences = self.sentences.updated(
            row_map, postings.rows.array(), postings.columns.array(), postings.counts.array(), lengths, n_terms
        )
        passages = self.passages.updated(
            document_map, postings.passage_rows.array(), postings.passage_columns.array(),
            postings.passage_counts.array(), passage_lengths, n_terms,
        )
        return Library(entries, self.analyzer, vocabulary, sentences, passages, skipped)

    def term_ids(self, terms: Iterable[str]) -> list[int]:
        """Map analyzed terms to ids; terms the corpus never had map to -1."""
        return [self.vocabulary.get(term, -1) for term in terms]

    def locate(self, sentence_id: int) -> tuple[int, int]:
        """The (document number, position) of a sentence id."""
        number = int(np.searchsorted(self.offsets, sentence_id, side="right")) - 1
        return number, sentence_id - int(self.offsets[number])

    def sentence(self, sentence_id: int) -> Sentence:
        """The sentence with this id."""
        number, position = self.locate(sentence_id)
        entry = self.entries[number]
        return Sentence(sentence_id, entry.document, position, entry.sentences[position])

    def sentence_ids(self, number: int) -> range:
        """Ids of all sentences of a document."""
        return range(int(self.offsets[number]), int(self.offsets[number + 1]))

    def search(self, terms: Sequence[str], k: int = 10) -> list[Hit]:
        """The k sentences with the highest BM25 score for these terms."""
        rows, scores = self.sentences.top(self.term_ids(terms), k)
        return [Hit(self.sentence(int(r)), float(s)) for r, s in zip(rows, scores)]


def _analyze_all(documents: list[Document], analyzer: Analyzer, workers: int) -> Iterator[AnalyzedDocument]:
    """Analyses of the documents, in order; in worker processes when there is enough text to split."""
    chars = sum(len(d.text) for d in documents)
    if workers == 1 or chars < PARALLEL_MIN_CHARS or len(documents) < 2:
        return (analyze(d, analyzer) for d in documents)
    return _analyze_in_pool(documents, analyzer, workers)


def _analyze_in_pool(documents: list[Document], analyzer: Analyzer, workers: int) -> Iterator[AnalyzedDocument]:
    with ProcessPoolExecutor(max_workers=workers or None) as pool:
        chunk = max(1, min(64, len(documents) // ((workers or 2) * 8)))
        yield from pool.map(analyze, documents, [analyzer] * len(documents), chunksize=chunk)


@dataclass(frozen=True)
class _Pending:
    """A file to add: its key, and its document (with text only while it still has to be analyzed)."""

    key: str
    stamp: tuple[int, int]
    file: Path
    document: Document
    note: Skipped | None
    cached: bool


def load_library(
    settings: Settings,
    previous: Library | None = None,
    progress: Callable[[str], None] | None = None,
) -> Library:
    """Load the corpus folder into a Library, re-reading only files that changed since `previous`."""
    started = time.perf_counter()
    analyzer = Analyzer(settings.language)
    root = Path(settings.corpus_dir)
    reuse = previous is not None and previous.analyzer == analyzer
    known = {e.document.path: e for e in previous.entries} if previous is not None and reuse else {}
    vocabulary = dict(previous.vocabulary) if previous is not None and reuse else {}
    cache = AnalysisCache(corpus_cache_folder(Path(settings.cache_dir), root), analyzer.key)
    skipped: list[Skipped] = []
    items: list[Entry | _Pending] = []
    for relative, file in corpus_paths(root):
        entry = known.get(relative)
        try:
            stamp = _stamp(file)
            if entry is not None and entry.stamp == stamp:
                # Same size and modification time: the file was not touched, so it is not read again.
                items.append(entry)
                continue
            data, stamp = read_whole(file)
        except OSError as exc:
            skipped.append(Skipped(relative, f"cannot read: {exc.strerror or exc}"))
            continue
        except FileChanging as exc:
            skipped.append(Skipped(relative, str(exc)))
            continue
        key = digest(data, analyzer)
        if entry is not None and entry.digest == key:
            items.append(dataclasses.replace(entry, stamp=stamp))
            continue
        document, note = parse_file(relative, data)
        if document is None:
            skipped.append(note)  # type: ignore[arg-type]
            continue
        cached = cache.has(key)
        # Only a document still to analyze keeps its text now: a million sentences' worth adds up.
        items.append(_Pending(key, stamp, Path(file), document if not cached else _untexted(document), note, cached))
    fresh = [item.document for item in items if isinstance(item, _Pending) and not item.cached]
    if progress is not None and fresh:
        progress(f"analyzing {len(fresh)} of {len(items)} documents")
    analyzed_in_order = _analyze_all(fresh, analyzer, settings.workers)
    del fresh
    entries: list[Entry] = []
    postings = Postings()
    offset = 0
    for item in items:
        if isinstance(item, _Pending):
            analyzed = next(analyzed_in_order) if not item.cached else cache.load(item.key, item.document)
            rejected = analyzed is None
            if analyzed is None:
                # The cache file could not be trusted: analyze the file after all, and cache it anew.
                item = _reread(item, analyzer, skipped)
                if item is None:
                    continue
                analyzed = analyze(item.document, analyzer)
            if rejected or not item.cached:
                cache.store(item.key, analyzed)
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
    del items
    for problem in skipped:
        log.warning("%s: %s", problem.path, problem.reason)
    if not entries:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped) or "no .txt or .md files"
        raise CorpusError(f"no usable document in {root}: {reasons}")
    if cache.writable:
        digests = {entry.digest for entry in entries}
        if previous is None:
            cache.prune(digests)
        else:
            # A reload knows what left the corpus; listing a folder of every document's file costs more.
            cache.discard({entry.digest for entry in previous.entries} - digests)
    if previous is not None and reuse:
        library = previous.updated(entries, postings, vocabulary, skipped)
    else:
        library = Library.build(entries, postings, analyzer, vocabulary, skipped)
    library.build_seconds = time.perf_counter() - started
    return library


class FileChanging(Exception):
    """A file whose size or modification time moved while it was read: what was read may be torn."""


def _stamp(file: str | Path) -> tuple[int, int]:
    info = os.stat(file)
    return info.st_size, info.st_mtime_ns


def read_whole(file: str | Path, tries: int = READ_TRIES) -> tuple[bytes, tuple[int, int]]:
    """A file's bytes and the (size, mtime) they were read at; raise FileChanging if it never holds still."""
    for _ in range(tries):
        before = _stamp(file)
        with open(file, "rb") as handle:
            data = handle.read()
        after = _stamp(file)
        # An editor saving mid-read leaves a torn file: same look before and after, and every byte read, or again.
        if before == after and len(data) == after[0]:
            return data, after
    raise FileChanging(f"changed while being read ({tries} tries); it is read again on the next reload")


def _reread(item: _Pending, analyzer: Analyzer, skipped: list[Skipped]) -> _Pending | None:
    """The pending file read afresh, keyed by the digest of exactly the bytes read now, or None if unusable.

    The file may have changed since it was hashed; analysing the new bytes under the old digest would
    file text under content it is not, and a later load of the old content would quote it.
    """
    try:
        data, stamp = read_whole(item.file)
    except (OSError, FileChanging) as exc:
        reason = f"cannot read: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
        skipped.append(Skipped(item.document.path, reason))
        return None
    document, note = parse_file(item.document.path, data)
    if document is None:
        skipped.append(note)  # type: ignore[arg-type]
        return None
    return _Pending(digest(data, analyzer), stamp, item.file, document, note, cached=False)


def _untexted(document: Document) -> Document:
    return dataclasses.replace(document, text="")
