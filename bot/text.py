"""The one analyzer: sentences out of documents, search terms out of sentences and questions."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sentencex
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS, STOPWORDS_RUSSIAN

from bot.corpus import Document

STOP_WORDS = {"english": frozenset(STOPWORDS_EN_PLUS), "russian": frozenset(STOPWORDS_RUSSIAN)}
LANGUAGE_CODE = {"english": "en", "russian": "ru"}
WORD = re.compile(r"\w+")
BLANK_LINE = re.compile(r"\n\s*\n")
# Lines that stand alone even without a blank line around them: Markdown headings, list items, quotes.
BLOCK_LINE = re.compile(r"^\s{0,3}(?:#{1,6}\s|[-*+]\s|\d{1,3}[.)]\s|>\s?)")
HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s")
RULE_LINE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
MARKUP_PREFIX = re.compile(r"^\s{0,3}(?:#{1,6}\s+|[-*+]\s+|\d{1,3}[.)]\s+|>\s?)")
# A wall of text with no blank line is cut before it is split, so no splitter ever sees megabytes at once.
MAX_BLOCK_CHARS = 5_000
ANALYZER_VERSION = 4


@functools.cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


@dataclass(frozen=True)
class Analyzer:
    """Unicode word tokens, case-folded, stop words dropped, Snowball-stemmed."""

    language: str = "english"

    @property
    def key(self) -> str:
        """What a cached analysis depends on: change the analyzer and old caches stop matching."""
        return f"{ANALYZER_VERSION}:{self.language}"

    @property
    def stop_words(self) -> frozenset[str]:
        """The stop words of this analyzer's language."""
        return STOP_WORDS[self.language]

    def words(self, text: str) -> list[str]:
        """Case-folded word tokens, before stop words and stemming."""
        return WORD.findall(text.casefold())

    def terms(self, text: str) -> list[str]:
        """The search terms of a text: what both sentences and questions are indexed by."""
        stop = self.stop_words
        return _stemmer(self.language).stemWords([w for w in self.words(text) if w not in stop and w != "_"])

    def sentences(self, text: str) -> list[str]:
        """Split prose into sentences: paragraphs first, then a rule-based splitter within each."""
        code = LANGUAGE_CODE[self.language]
        out = []
        for block in blocks(text):
            out.extend(s.strip() for s in sentencex.segment(code, block) if s.strip())
        return out


def blocks(text: str) -> Iterable[str]:
    """Paragraphs of a text, hard-wrapped lines joined, Markdown block markers stripped, long ones cut."""
    for paragraph in BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if not line.strip():
                continue
            if RULE_LINE.match(line) or BLOCK_LINE.match(line):
                yield from _cut(" ".join(lines))
                lines = []
                if RULE_LINE.match(line):
                    continue
            lines.append(MARKUP_PREFIX.sub("", line).strip())
            if HEADING_LINE.match(line):
                yield from _cut(" ".join(lines))
                lines = []
        yield from _cut(" ".join(lines))


def _cut(block: str) -> Iterable[str]:
    while len(block) > MAX_BLOCK_CHARS:
        window = block[:MAX_BLOCK_CHARS]
        # Prefer a cut after a full stop, so the splitter never sees half a sentence.
        at = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
        if at < MAX_BLOCK_CHARS // 2:
            at = window.rfind(" ")
        if at <= 0:
            at = MAX_BLOCK_CHARS - 1
        yield block[: at + 1]
        block = block[at + 1 :].lstrip()
    if block.strip():
        yield block


@dataclass(frozen=True, eq=False)
class AnalyzedDocument:
    """A document split into sentences and counted into terms: all an index needs from it."""

    document: Document
    sentences: tuple[str, ...]
    terms: tuple[str, ...]  # the document's own vocabulary; the arrays below index into it
    lengths: np.ndarray  # terms per sentence (int32), BM25's document length
    rows: np.ndarray  # for each (sentence, term) pair: the sentence's position (int32)
    columns: np.ndarray  # ... the term's position in `terms` (int32)
    counts: np.ndarray  # ... how often the term occurs in the sentence (int32)
    title_terms: tuple[str, ...] = ()
    pages: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # page of each sentence, if any


def count_terms(sentence_terms: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Turn per-sentence term lists into a local vocabulary and sparse (row, column, count) arrays."""
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    counts: list[int] = []
    for row, terms in enumerate(sentence_terms):
        for term, count in Counter(terms).items():
            rows.append(row)
            columns.append(vocabulary.setdefault(term, len(vocabulary)))
            counts.append(count)
    lengths = np.fromiter((len(t) for t in sentence_terms), dtype=np.int32, count=len(sentence_terms))
    as_array = functools.partial(np.array, dtype=np.int32)
    return tuple(vocabulary), lengths, as_array(rows), as_array(columns), as_array(counts)


def analyze(document: Document, analyzer: Analyzer) -> AnalyzedDocument:
    """Split a document into sentences and terms."""
    sentences = analyzer.sentences(document.text)
    terms, lengths, rows, columns, counts = count_terms([analyzer.terms(s) for s in sentences])
    return AnalyzedDocument(
        document=document,
        sentences=tuple(sentences),
        terms=terms,
        lengths=lengths,
        rows=rows,
        columns=columns,
        counts=counts,
        title_terms=tuple(analyzer.terms(document.title)),
        pages=sentence_pages(document.text, sentences, document.pages),
    )


def sentence_pages(text: str, sentences: Sequence[str], pages: Sequence[int]) -> np.ndarray:
    """The 1-based page on which each sentence starts (int32), or an empty array for a text without pages.

    Sentences are found again in the text by their first word, walking forward: a sentence is never
    shorter in the text than as a sentence (joining lines and dropping markup only remove characters),
    so the next one starts no earlier than this one's start plus its length.
    """
    if not pages:
        return np.zeros(0, dtype=np.int32)
    starts = np.asarray(pages, dtype=np.int64)
    found = np.zeros(len(sentences), dtype=np.int64)
    cursor = 0
    for i, sentence in enumerate(sentences):
        first = sentence.split(None, 1)[0] if sentence.strip() else ""
        at = text.find(first, cursor) if first else -1
        if at >= 0:
            found[i] = at
            cursor = at + len(sentence)
        else:
            found[i] = cursor
    return np.maximum(np.searchsorted(starts, found, side="right"), 1).astype(np.int32)
