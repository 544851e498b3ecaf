"""The search index: exact BM25 over an inverted index, and the Library that serves a corpus."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.cache import AnalysisCache
from bot.config import Settings
from bot.corpus import CorpusError, Document, Skipped, corpus_files, parse_file
from bot.text import AnalyzedDocument, Analyzer, analyze

log = logging.getLogger(__name__)

# rank-bm25's BM25Okapi defaults, kept so that scores match it exactly.
K1, B, EPSILON = 1.5, 0.75, 0.25
# Below this many characters of new text, a worker pool costs more to start than it saves.
PARALLEL_MIN_CHARS = 2_000_000


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
        self.n_rows = len(lengths)
        self.n_terms = n_terms
        if self.n_rows == 0:
            raise ValueError("BM25 needs at least one row")
        # A stable sort by term keeps each term's rows ascending, which `scores` relies on.
        order = np.argsort(columns, kind="stable")
        self.postings = np.ascontiguousarray(rows[order], dtype=np.int32)
        df = np.bincount(columns, minlength=n_terms)
        self.indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=self.indptr[1:])
        avgdl = float(lengths.sum()) / self.n_rows
        idf = np.log(self.n_rows - df + 0.5) - np.log(df + 0.5)
        present = df > 0
        # As in rank-bm25: terms in more than half the rows get a floor of epsilon × the mean IDF.
        average_idf = float(idf[present].sum() / present.sum()) if present.any() else 0.0
        idf[present & (idf < 0)] = epsilon * average_idf
        idf[~present] = 0.0
        self.idf = idf
        tf = counts[order].astype(np.float64)
        del order
        # rank-bm25's tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)), same operations in the same order so the
        # bits agree, but the length part once per row and the rest in place: at a million rows every
        # temporary the size of the postings costs a hundred megabytes.
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = k1 * (1 - b + b * np.asarray(lengths, dtype=np.float64) / avgdl)
            weights = norm[self.postings]
            del norm
            weights += tf
            tf *= k1 + 1
            np.divide(tf, weights, out=weights)
        del tf
        self.weights = weights
        self._local = threading.local()

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
        scores = self._buffer()
        touched = []
        try:
            # Query terms are added one at a time, in order, repeats included, exactly as rank-bm25 does.
            for term in terms:
                lo, hi = self.indptr[term], self.indptr[term + 1]
                rows = self.postings[lo:hi]
                scores[rows] += self.idf[term] * self.weights[lo:hi]
                touched.append(rows)
            candidates = touched[0] if len(touched) == 1 else np.concatenate(touched)
            values = scores[candidates]
            # A row occurs at most once per query term, so this many picks hold k distinct rows.
            wanted = min(len(candidates), k * len(touched))
            if wanted < len(candidates):
                candidates = candidates[np.argpartition(-values, wanted - 1)[:wanted]]
            rows = np.unique(candidates)
            values = scores[rows]
            order = np.lexsort((rows, -values))[:k]
            return rows[order], values[order]
        finally:
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
    """A document as the library holds it: its analysis, keyed by the bytes it came from."""

    digest: str
    analyzed: AnalyzedDocument
    note: Skipped | None = None
    term_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))


def digest(data: bytes, analyzer: Analyzer) -> str:
    """Content hash of a file, salted with the analyzer's settings."""
    return hashlib.blake2b(data, digest_size=16, key=analyzer.key.encode()[:64]).hexdigest()


class Library:
    """A loaded corpus: its documents, their sentences, and BM25 indexes over sentences and documents."""

    def __init__(
        self,
        entries: Sequence[Entry],
        analyzer: Analyzer,
        vocabulary: dict[str, int],
        skipped: Sequence[Skipped] = (),
        build_seconds: float = 0.0,
    ) -> None:
        self.entries = tuple(entries)
        self.analyzer = analyzer
        self.vocabulary = vocabulary
        self.skipped = tuple(skipped)
        self.build_seconds = build_seconds
        self.documents = tuple(entry.analyzed.document for entry in self.entries)
        sizes = np.array([len(entry.analyzed.sentences) for entry in self.entries], dtype=np.int64)
        self.offsets = np.zeros(len(self.entries) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.offsets[1:])
        self.sentence_count = int(self.offsets[-1])
        if self.sentence_count == 0:
            raise CorpusError("the corpus has documents but not one sentence in them")
        self.sentences = self._sentence_index()
        self.passages = self._document_index()

    def _sentence_index(self) -> BM25:
        parts = [e.analyzed for e in self.entries]
        rows = np.concatenate([a.rows.astype(np.int32) + int(o) for a, o in zip(parts, self.offsets)])
        columns = np.concatenate([e.term_ids[e.analyzed.columns] for e in self.entries])
        counts = np.concatenate([a.counts for a in parts])
        lengths = np.concatenate([a.lengths for a in parts])
        return BM25(rows, columns, counts, lengths, len(self.vocabulary))

    def _document_index(self) -> BM25:
        # A document is its title plus all its sentences: it tells which article a question is about.
        rows, columns, counts, lengths = [], [], [], []
        for number, entry in enumerate(self.entries):
            analyzed = entry.analyzed
            title = np.array([self.vocabulary[t] for t in analyzed.title_terms], dtype=np.int32)
            terms = np.concatenate([entry.term_ids[analyzed.columns], title])
            weights = np.concatenate([analyzed.counts, np.ones(len(title), dtype=np.int32)])
            unique, inverse = np.unique(terms, return_inverse=True)
            # int32 throughout: at a million sentences these arrays are the peak of a load.
            columns.append(unique.astype(np.int32))
            counts.append(np.bincount(inverse, weights=weights).astype(np.int32))
            rows.append(np.full(len(unique), number, dtype=np.int32))
            lengths.append(int(analyzed.lengths.sum()) + len(title))
        all_rows, all_columns, all_counts = np.concatenate(rows), np.concatenate(columns), np.concatenate(counts)
        del rows, columns, counts
        return BM25(all_rows, all_columns, all_counts, np.array(lengths, dtype=np.int64), len(self.vocabulary))

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
        analyzed = self.entries[number].analyzed
        return Sentence(sentence_id, analyzed.document, position, analyzed.sentences[position])

    def sentence_ids(self, number: int) -> range:
        """Ids of all sentences of a document."""
        return range(int(self.offsets[number]), int(self.offsets[number + 1]))

    def search(self, terms: Sequence[str], k: int = 10) -> list[Hit]:
        """The k sentences with the highest BM25 score for these terms."""
        rows, scores = self.sentences.top(self.term_ids(terms), k)
        return [Hit(self.sentence(int(r)), float(s)) for r, s in zip(rows, scores)]


def _analyze_all(documents: list[Document], analyzer: Analyzer, workers: int) -> list[AnalyzedDocument]:
    chars = sum(len(d.text) for d in documents)
    if workers == 1 or chars < PARALLEL_MIN_CHARS or len(documents) < 2:
        return [analyze(d, analyzer) for d in documents]
    with ProcessPoolExecutor(max_workers=workers or None) as pool:
        chunk = max(1, len(documents) // ((workers or 2) * 8))
        return list(pool.map(analyze, documents, [analyzer] * len(documents), chunksize=chunk))


def load_library(
    settings: Settings,
    previous: Library | None = None,
    progress: Callable[[str], None] | None = None,
) -> Library:
    """Load the corpus folder into a Library, re-analyzing only files that changed since `previous`."""
    started = time.perf_counter()
    analyzer = Analyzer(settings.language)
    root = Path(settings.corpus_dir)
    known = {e.analyzed.document.path: e for e in previous.entries} if previous else {}
    vocabulary = dict(previous.vocabulary) if previous and previous.analyzer == analyzer else {}
    slots: list[Entry | tuple[str, Document, Skipped | None]] = []
    skipped: list[Skipped] = []
    for file in corpus_files(root):
        path = file.relative_to(root).as_posix()
        try:
            data = file.read_bytes()
        except OSError as exc:
            skipped.append(Skipped(path, f"cannot read: {exc.strerror or exc}"))
            continue
        key = digest(data, analyzer)
        entry = known.get(path)
        if entry is not None and entry.digest == key and vocabulary:
            slots.append(entry)
            continue
        document, note = parse_file(path, data)
        if document is None:
            skipped.append(note)  # type: ignore[arg-type]
            continue
        slots.append((key, document, note))
    fresh = [slot for slot in slots if isinstance(slot, tuple)]
    cache = AnalysisCache(settings.cache_dir, analyzer.key)
    found = [cache.load(key, document) for key, document, _ in fresh]
    missing = [number for number, result in enumerate(found) if result is None]
    if progress is not None and missing:
        progress(f"analyzing {len(missing)} of {len(slots)} documents")
    for number, result in zip(missing, _analyze_all([fresh[n][1] for n in missing], analyzer, settings.workers)):
        found[number] = result
        cache.store(fresh[number][0], result)
    analyzed = iter(found)
    entries: list[Entry] = []
    for slot in slots:
        if isinstance(slot, Entry):
            entry = slot
        else:
            key, _, note = slot
            result = next(analyzed)
            if not result.sentences:
                skipped.append(Skipped(result.document.path, "no sentences found"))
                continue
            words = result.terms + result.title_terms
            ids = np.array([vocabulary.setdefault(t, len(vocabulary)) for t in words], dtype=np.int32)
            entry = Entry(key, result, note, ids[: len(result.terms)])
        if entry.note is not None:
            skipped.append(entry.note)
        entries.append(entry)
    for problem in skipped:
        log.warning("%s: %s", problem.path, problem.reason)
    if cache.writable:
        cache.prune({slot.digest if isinstance(slot, Entry) else slot[0] for slot in slots})
    if not entries:
        raise CorpusError(f"no usable document in {root}: " + ("; ".join(f"{s.path}: {s.reason}" for s in skipped) or "no .txt or .md files"))
    return Library(entries, analyzer, vocabulary, skipped, time.perf_counter() - started)
