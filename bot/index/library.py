"""The Library: a loaded corpus's documents and sentences, and the BM25 indexes that find them."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.index.bm25 import BM25
from bot.index.stacked import Stacked, drift
from bot.ingest.corpus import CorpusError, Document, Skipped
from bot.text.analyzers import PLAIN, AnalyzedDocument, Analyzer, MultiAnalyzer
from bot.text.languages import Guess, Languages, question_language


@dataclass(frozen=True)
class Sentence:
    """A sentence of the corpus, with where it stands."""

    id: int
    document: Document
    position: int
    text: str
    page: int | None = None  # the page it starts on, for documents with pages


@dataclass(frozen=True)
class Hit:
    """A sentence found for a query, with its BM25 score."""

    sentence: Sentence
    score: float


@dataclass(frozen=True, eq=False)
class Entry:
    """A document as the library holds it, keyed by the file it came from."""

    digest: str
    stamp: tuple[int, ...]  # (size, mtime_ns) of the file and of its sidecar: unchanged, it is not read again
    document: Document  # without its text: the sentences hold it, and the corpus twice in memory is waste
    sentences: Sequence[str]  # a tuple, or the snapshot's texts decoded on demand
    note: Skipped | None = None
    pages: np.ndarray | None = None  # int32 page of each sentence, for documents with pages
    language: str = PLAIN  # the language the document was analyzed in
    heads: np.ndarray | None = None  # int32 position of the heading each sentence sits under (its own: a heading)


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
    digest: str, stamp: tuple[int, ...], analyzed: AnalyzedDocument, vocabulary: dict[str, int], note: Skipped | None
) -> tuple[Entry, Counts]:
    """Map a document's analysis onto the library's term ids (adding new terms) and count it as a passage."""
    words = analyzed.terms + analyzed.title_terms
    found = list(map(vocabulary.get, words))
    if None in found:
        # Only words the library has not seen yet take the slow path.
        found = [vocabulary.setdefault(w, len(vocabulary)) if i is None else i for w, i in zip(words, found)]
    ids = np.array(found, dtype=np.int32)
    body = ids[: len(analyzed.terms)]
    columns = body[analyzed.columns]
    # The document's count of each of its own terms first: a pass over its vocabulary, not over every pair.
    totals = np.bincount(analyzed.columns, weights=analyzed.counts, minlength=len(body))
    held = np.flatnonzero(totals)
    every = np.concatenate([body[held], ids[len(analyzed.terms) :]])
    weights = np.concatenate([totals[held], np.ones(len(analyzed.title_terms))])
    passage_terms, inverse = np.unique(every, return_inverse=True)
    pages = analyzed.pages if len(analyzed.pages) else None
    heads = analyzed.heads if len(analyzed.heads) == len(analyzed.sentences) else None
    entry = Entry(digest, stamp, untexted(analyzed.document), analyzed.sentences, note, pages, analyzed.language, heads)
    counts = Counts(
        lengths=analyzed.lengths,
        rows=analyzed.rows,
        columns=columns,
        counts=analyzed.counts,
        passage_terms=passage_terms.astype(np.int32),
        passage_counts=np.bincount(inverse, weights=weights).astype(np.int32),
    )
    return entry, counts


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

    def sentence_triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The new sentences' (row, term, count) triples, as the sentence index takes them."""
        return self.rows.array(), self.columns.array(), self.counts.array()

    def passage_triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The new documents' (document, term, count) triples, as the document index takes them."""
        return self.passage_rows.array(), self.passage_columns.array(), self.passage_counts.array()


@dataclass(frozen=True, eq=False)
class Catalogue:
    """Where each document's sentences stand, derived from the entries: kept, so appending extends it."""

    documents: tuple[Document, ...]
    offsets: np.ndarray  # int64 first sentence id of each document, and the total at the end
    heads: np.ndarray  # the sentence id of the heading each sentence sits under (its own: a heading; -1: none)
    held: dict[str, int]  # sentences per language
    numbers: dict[str, int]  # document number of each path

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> Catalogue:
        """The catalogue of these entries, numbered from 0."""
        return _EMPTY.extended(entries)

    def extended(self, entries: Sequence[Entry]) -> Catalogue:
        """This catalogue with `entries` after its own: a pass over them, none over the documents held already."""
        start = int(self.offsets[-1])
        offsets = _offsets(len(entry.sentences) for entry in entries)
        local = [e.heads if e.heads is not None else np.full(len(e.sentences), -1, np.int32) for e in entries]
        within = np.concatenate(local).astype(np.int64) if local else np.zeros(0, np.int64)
        heads = np.where(within >= 0, within + np.repeat(offsets[:-1], np.diff(offsets)) + start, -1)
        held = dict(self.held)
        numbers = dict(self.numbers)
        for number, entry in enumerate(entries, len(self.documents)):
            held[entry.language] = held.get(entry.language, 0) + len(entry.sentences)
            numbers[entry.document.path] = number
        return Catalogue(
            documents=self.documents + tuple(entry.document for entry in entries),
            offsets=np.concatenate([self.offsets, offsets[1:] + start]),
            heads=np.concatenate([self.heads, heads]),
            held=held,
            numbers=numbers,
        )


_EMPTY = Catalogue((), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), {}, {})


class Library:
    """A loaded corpus: its documents, their sentences, and BM25 indexes over sentences and documents.

    Its indexes are BM25, or Stacked once documents were appended (`appended`) and until they are merged in
    (`compacted`): then `delta_documents` of them sit at the end, out of the corpus's order.
    """

    def __init__(
        self,
        entries: Sequence[Entry],
        languages: Languages,
        vocabulary: dict[str, int],
        sentences: BM25 | Stacked,
        passages: BM25 | Stacked,
        skipped: Sequence[Skipped] = (),
        build_seconds: float = 0.0,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.entries = tuple(entries)
        self.languages = languages
        self.vocabulary = vocabulary
        self.sentence_index = sentences
        self.document_index = passages
        self.skipped = tuple(skipped)
        self.build_seconds = build_seconds
        self.catalogue = Catalogue.of(self.entries) if catalogue is None else catalogue
        self.documents = self.catalogue.documents
        self.offsets = self.catalogue.offsets
        self.sentence_count = int(self.offsets[-1])
        self.heads = self.catalogue.heads
        # What the corpus holds, by sentences: the prior of a question's language.
        total = max(self.sentence_count, 1)
        self.language_mix = {code: count / total for code, count in self.catalogue.held.items() if count}
        self.delta_documents = passages.delta.n_rows if isinstance(passages, Stacked) else 0
        self.delta_sentences = sentences.delta.n_rows if isinstance(sentences, Stacked) else 0

    @classmethod
    def build(
        cls,
        entries: Sequence[Entry],
        postings: Postings,
        languages: Languages,
        vocabulary: dict[str, int],
        skipped: Sequence[Skipped] = (),
    ) -> Library:
        """Index documents from scratch; `postings` holds every one of them."""
        if not any(entry.sentences for entry in entries):
            raise CorpusError("the corpus has documents but not one sentence in them")
        n_terms = len(vocabulary)
        sentences = BM25.from_pairs(*postings.sentence_triples(), postings.lengths.array(), n_terms)
        passages = BM25.from_pairs(*postings.passage_triples(), postings.passage_lengths.array(), n_terms)
        return cls(entries, languages, vocabulary, sentences, passages, skipped)

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
            lengths[at : at + stop - start] = self.sentence_index.lengths[start:stop]
            passage_lengths[number] = self.document_index.lengths[old]
        new_lengths, at = postings.lengths.array(), 0
        for number, passage_length in zip(postings.numbers, postings.passage_lengths.array()):
            size = int(offsets[number + 1] - offsets[number])
            lengths[offsets[number] : offsets[number + 1]] = new_lengths[at : at + size]
            passage_lengths[number] = passage_length
            at += size
        n_terms = len(vocabulary)
        sentences = self.sentence_index.updated(row_map, *postings.sentence_triples(), lengths, n_terms)
        passages = self.document_index.updated(document_map, *postings.passage_triples(), passage_lengths, n_terms)
        return Library(entries, self.languages, vocabulary, sentences, passages, skipped)

    def appended(
        self, entries: Sequence[Entry], postings: Postings, vocabulary: dict[str, int], skipped: Sequence[Skipped] = ()
    ) -> Library:
        """This library with `entries` after its own, in a delta index: its rows and scores are left as they are.

        `postings` holds the new entries numbered from 0. What it costs grows with the new entries and the delta,
        not with the library (but for a few passes over per-row and per-term arrays).
        """
        if not entries:
            indexes = self.sentence_index, self.document_index
            return Library(self.entries, self.languages, vocabulary, *indexes, skipped, catalogue=self.catalogue)
        n_terms = len(vocabulary)
        sentences = Stacked.appended(
            self.sentence_index, *postings.sentence_triples(), postings.lengths.array(), n_terms
        )
        passages = Stacked.appended(
            self.document_index, *postings.passage_triples(), postings.passage_lengths.array(), n_terms
        )
        catalogue = self.catalogue.extended(entries)
        entries = self.entries + tuple(entries)
        return Library(entries, self.languages, vocabulary, sentences, passages, skipped, catalogue=catalogue)

    def drift(self) -> float:
        """How far any score may be from the merged library's, relatively (stacked.drift of either index; 0: exact)."""
        return max(
            (drift(index) for index in (self.sentence_index, self.document_index) if isinstance(index, Stacked)),
            default=0.0,
        )

    def exact_indexes(self) -> tuple[BM25, BM25]:
        """The sentence and document indexes of a library without a delta; ValueError with one (compact it first)."""
        sentences, passages = self.sentence_index, self.document_index
        if isinstance(sentences, Stacked) or isinstance(passages, Stacked):
            raise ValueError(f"{self.delta_documents} appended documents are not merged yet")
        return sentences, passages

    def compacted(self) -> Library:
        """The exact library of the same documents: in the corpus's order, one index each, scores as a fresh build's.

        A library without appended documents is its own compacted form.
        """
        if not self.delta_documents:
            return self
        entries = sorted(self.entries, key=lambda entry: entry.document.path)
        return self.updated(entries, Postings(), self.vocabulary, self.skipped)

    def appended_since(self, older: Library) -> tuple[Entry, ...] | None:
        """The entries this library appended on top of `older`; None unless it is `older` with entries appended."""
        if len(self.entries) < len(older.entries) or _main_of(self) is not _main_of(older):
            return None
        return self.entries[len(older.entries) :]

    def document_languages(self) -> dict[str, int]:
        """How many documents the library holds in each language, most first."""
        return dict(Counter(entry.language for entry in self.entries).most_common())

    def document_analyzer(self, number: int) -> Analyzer:
        """The analyzer document `number` was analyzed with."""
        return Analyzer(self.entries[number].language)

    def question_language(self, question: str) -> Guess:
        """The question's likely languages among those the corpus holds, weighed by how much it holds of each."""
        return question_language(question, self.language_mix or {PLAIN: 1.0}, self.languages.model_home)

    def question_analyzer(self, question: str) -> Analyzer | MultiAnalyzer:
        """The analyzer to search for a question with: its language's, or several languages' when unsure."""
        likely = self.question_language(question).likely()
        if len(likely) == 1:
            return Analyzer(likely[0])
        return MultiAnalyzer(tuple(Analyzer(code) for code in likely))

    def term_ids(self, terms: Iterable[str]) -> list[int]:
        """Map analyzed terms to ids; terms the corpus never had map to -1."""
        return [self.vocabulary.get(term, -1) for term in terms]

    def locate(self, sentence_id: int) -> tuple[int, int]:
        """The (document number, position) of a sentence id."""
        number = int(np.searchsorted(self.offsets, sentence_id, side="right")) - 1
        return number, sentence_id - int(self.offsets[number])

    def is_heading(self, sentence_id: int) -> bool:
        """Whether the sentence is a heading (a heading line or a title line)."""
        return int(self.heads[sentence_id]) == sentence_id

    def sentence(self, sentence_id: int) -> Sentence:
        """The sentence with this id."""
        number, position = self.locate(sentence_id)
        entry = self.entries[number]
        page = int(entry.pages[position]) if entry.pages is not None else None
        return Sentence(sentence_id, entry.document, position, entry.sentences[position], page)

    def sentence_ids(self, number: int) -> range:
        """Ids of all sentences of a document."""
        return range(int(self.offsets[number]), int(self.offsets[number + 1]))

    def search(self, terms: Sequence[str], k: int = 10) -> list[Hit]:
        """The k sentences with the highest BM25 score for these terms."""
        rows, scores = self.sentence_index.top(self.term_ids(terms), k)
        return [Hit(self.sentence(int(r)), float(s)) for r, s in zip(rows, scores)]


def _main_of(library: Library) -> np.ndarray:
    """The postings array of a library's main sentence index: shared by every library appended onto it."""
    index = library.sentence_index
    return index.main.postings if isinstance(index, Stacked) else index.postings


def untexted(document: Document) -> Document:
    """The document without its text: kept once the sentences hold it."""
    return dataclasses.replace(document, text="")
