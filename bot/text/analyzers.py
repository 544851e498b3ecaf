"""Analyzers, one per language: sentences out of documents, search terms out of sentences and questions."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import sentencex
import simplemma
import Stemmer
from bm25s import stopwords as bm25s_stopwords

from bot.ingest.corpus import Document

# ISO 639-1 code → Snowball stemmer, for every language PyStemmer ships a stemmer for.
SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french",
    "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "fa": "persian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "st": "sesotho", "es": "spanish",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip
# Kazakh has no Snowball stemmer; its terms are word prefixes instead (see `_kazakh_terms`).
LANGUAGES = frozenset(SNOWBALL) | {"kk"}
ALIASES = {name: code for code, name in SNOWBALL.items()} | {"kazakh": "kk", "nb": "no", "nn": "no"}
# Stop words: bm25s's lists (NLTK's, short lists of function words; English is bm25s's extended one).
# A language it has no list for gets none: BM25's IDF already discounts common words, and the long
# stopwords-iso lists were worse than no list at all for plain stemmed BM25 (P@1, English: wikiqa dev
# 0.373 vs 0.421, xquad 0.730 vs 0.765, squad2 0.622 vs 0.660; Russian: xquad 0.712 vs 0.730), where
# bm25s's lists were the best or close to it (0.405, 0.759, 0.665; 0.741).
BM25S_STOP_WORDS = {
    "en": "STOPWORDS_EN_PLUS", "ru": "STOPWORDS_RUSSIAN", "da": "STOPWORDS_DANISH", "nl": "STOPWORDS_DUTCH",
    "fr": "STOPWORDS_FRENCH", "de": "STOPWORDS_GERMAN", "it": "STOPWORDS_ITALIAN", "no": "STOPWORDS_NORWEGIAN",
    "pt": "STOPWORDS_PORTUGUESE", "es": "STOPWORDS_SPANISH", "sv": "STOPWORDS_SWEDISH", "tr": "STOPWORDS_TURKISH",
}  # fmt: skip
# No maintained Kazakh list ships in a package: these are its closed-class words (conjunctions, postpositions,
# particles, pronouns, question words), as listed in grammars such as Krippes, "Kazakh Grammar with Affix
# List" (Dunwoody Press, 1996). Question words matter most: "Финка дегеніміз не?" asks about "Финка".
KAZAKH_STOP_WORDS = frozenset(
    """және мен бен пен да де та те ол бұл осы сол ма ме ба бе па пе ғой қана ғана үшін туралы бойынша сияқты
    арқылы дейін кейін бірақ немесе не әрі яғни деп еді екен қандай қай кім неше қанша қашан қайда қалай неге
    дегеніміз деген аталады""".split()
)
# NLTK's Russian list has some question words ("кто", "какой") but not their other cases and kin; a question
# is mostly such words, and each one left in ("каких" → "как", "почему" → "поч", "такое" → "так") is a term
# that matches sentences by accident. Interrogative and relative pronouns and adverbs are a closed class.
RUSSIAN_QUESTION_WORDS = frozenset(
    """какое какие каких каким какими каком какую какого какому каков какова каково каковы кого кому кем ком
    чему чём чей чья чьё чье чьи чьих чьим чьими чьего чьему чьей чью который которая которое которые которых
    которым которыми котором которую которого которому которой сколько скольких почему отчего откуда такое
    такая такие таких таким такими такую такого такому""".split()
)
# Lemmatize before stemming only where it was measured to help plain BM25: English ("met" → "meet",
# "children" → "child"; wikiqa dev P@1 0.405 → 0.413, xquad 0.759 → 0.762, squad2 0.665 → 0.663).
# For Russian it hurt (xquad 0.741 → 0.730); other languages are unmeasured, so they keep Snowball alone.
LEMMATIZED = frozenset({"en"})
# Kazakh is agglutinative: a word is its root followed by suffixes (plural, possessive, case), so
# "теңіз", "теңізі", "теңізінің", "теңізде" are one word. Fixed-prefix truncation conflates them without
# a morphological lexicon; Can et al., "Information retrieval on Turkish texts" (JASIST 59(3), 2008) found
# five-letter prefixes as effective as a full stemmer for Turkish, Kazakh's close relative. On kazqad,
# plain BM25 P@1: words 0.219, a suffix stripper (Kazakh case, possessive and plural endings) 0.279,
# five-letter prefixes 0.306 (0.31 on the half of its articles it was chosen on).
KAZAKH_PREFIX = 5
# The language whose terms carry no prefix: every other language's terms start with "code:", and a
# word never holds a colon, so terms of different languages never collide in one index.
PLAIN = "en"
WORD = re.compile(r"\w+")
BLANK_LINE = re.compile(r"\n\s*\n")
# Lines that stand alone even without a blank line around them: Markdown headings, list items, quotes.
BLOCK_LINE = re.compile(r"^\s{0,3}(?:#{1,6}\s|[-*+]\s|\d{1,3}[.)]\s|>\s?)")
HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s")
RULE_LINE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
MARKUP_PREFIX = re.compile(r"^\s{0,3}(?:#{1,6}\s+|[-*+]\s+|\d{1,3}[.)]\s+|>\s?)")
# A wall of text with no blank line is cut before it is split, so no splitter ever sees megabytes at once.
MAX_BLOCK_CHARS = 5_000
# 13: dated title lines open a text only; 12: dated title lines; 11: a few words read by their script;
# 10: headings known per sentence; 9: languages detected from sampled words
ANALYZER_VERSION = 13
# A paragraph of one short line that does not end a sentence is a heading even without Markdown's `#`: a headline
# line of a scraped page, a web page's h2 as trafilatura writes it ("Water tariffs", "How do I pay?"). A line
# ending in a full stop, colon or semicolon is prose, or introduces prose.
TITLE_WORDS = 15
PROSE_END = frozenset(".:;,…!")
# ...except a text's opening line that ends in its date after a comma, full stop and all: "Notes of the working
# group, 2 April 2026.": two to four words after the last comma, one of them a year, as notes and press releases open.
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
DATE_WORDS = (2, 4)
# White space, control characters and terminal escape sequences at a line's end say nothing of how it ends.
CONTROLS = frozenset(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
# A terminal escape sequence at the very end; they are short, so only a line's last characters are searched.
ESCAPE_AT_END = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]$")
ESCAPE_CHARS = 64
# A piece sentencex cuts off is joined again to the one before when it cannot open a sentence: in any language when it
# opens with a comma, colon, semicolon or closing bracket ("Merit Network, Inc." + ", независимая корпорация…"); in
# Russian and Kazakh also when sentencex cut at a name's initials ("Э. И. Дюпон", "Д. Қонаев", "П.К.Эссен") or after an
# abbreviation before a lower-case word ("37,6 млрд. долларов", "XIX ғ. өмір"). English keeps initials already, and
# there the last two rules would join "Xerxes I. In 480 BC" or "Washington, D.C. The".
NEVER_OPENS = frozenset(",;:)]}»")
REJOINED = frozenset({"ru", "kk"})
CYRILLIC_INITIAL = re.compile(r"(?:^|[\s(«\"'„“.-])[А-ЯЁӘҒҚҢӨҰҮҺІ]\.$")


def folded(text: str) -> str:
    """Text as it is compared: case-folded, white space collapsed to single spaces."""
    return " ".join(text.casefold().split())


def language_code(language: str) -> str:
    """The ISO 639-1 code of a supported language, given its code or Snowball name; ValueError otherwise."""
    code = ALIASES.get(language.strip().casefold(), language.strip().casefold())
    if code not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; supported: {', '.join(sorted(LANGUAGES))}")
    return code


@functools.cache
def _stemmer(code: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(SNOWBALL[code])


@functools.cache
def stop_words(code: str) -> frozenset[str]:
    """The stop words of a language (empty where no list is known)."""
    if code == "kk":
        return KAZAKH_STOP_WORDS
    if code == "ru":
        return frozenset(bm25s_stopwords.STOPWORDS_RUSSIAN) | RUSSIAN_QUESTION_WORDS
    return frozenset(getattr(bm25s_stopwords, BM25S_STOP_WORDS[code])) if code in BM25S_STOP_WORDS else frozenset()


# Lemmatizing is a dictionary walk in Python: each word's term is computed once and remembered, so
# analysis costs a dictionary lookup per word, as stemming alone does. Bounded, for corpora of many words.
MEMO_WORDS = 500_000


@functools.cache
def _memo(code: str) -> dict[str, str]:
    return {}


def _lemma_stems(words: list[str], code: str) -> list[str]:
    memo = _memo(code)
    found = memo.get
    return [found(w) or _lemma_stem(w, code, memo) for w in words]


def _lemma_stem(word: str, code: str, memo: dict[str, str]) -> str:
    if len(memo) >= MEMO_WORDS:
        memo.clear()
    term = memo[word] = _stemmer(code).stemWord(simplemma.lemmatize(word, lang=code).casefold())
    return term


def load_lemmatizer(language: str) -> None:
    """Read a language's lemmatizer dictionary and stemmer now (English: a quarter second), not at the first word."""
    code = language_code(language)
    if code in SNOWBALL:
        _stemmer(code)
    if code in LEMMATIZED:
        simplemma.lemmatize("loaded", lang=code)  # simplemma keeps each dictionary it has read


@dataclass(frozen=True)
class Analyzer:
    """One language's analysis: Unicode word tokens, case-folded, stop words dropped, reduced to a stem."""

    language: str = "en"

    def __post_init__(self) -> None:
        # Accept "russian" as well as "ru", so every analyzer of a language is the same value.
        object.__setattr__(self, "language", language_code(self.language))

    @property
    def key(self) -> str:
        """What a cached analysis depends on: change the analyzer and old caches stop matching."""
        return f"{ANALYZER_VERSION}:{self.language}"

    @property
    def stop_words(self) -> frozenset[str]:
        """The stop words of this analyzer's language."""
        return stop_words(self.language)

    def words(self, text: str) -> list[str]:
        """Case-folded word tokens, before stop words and stemming."""
        return WORD.findall(text.casefold())

    def terms(self, text: str) -> list[str]:
        """The search terms of a text: what both sentences and questions are indexed by."""
        stop, code = self.stop_words, self.language
        words = [w for w in self.words(text) if w not in stop and w != "_"]
        if code == "kk":
            stems = [w[:KAZAKH_PREFIX] for w in words]
        elif code in LEMMATIZED:
            stems = _lemma_stems(words, code)
        else:
            stems = _stemmer(code).stemWords(words)
        return stems if code == PLAIN else [f"{code}:{s}" for s in stems]

    def sentences(self, text: str) -> list[str]:
        """Split prose into sentences: paragraphs first, then a rule-based splitter within each."""
        return self.split(text)[0]

    def split(self, text: str) -> tuple[list[str], list[int]]:
        """Sentences, and for each the position of the heading it sits under (its own, for a heading; -1: none)."""
        out: list[str] = []
        heads: list[int] = []
        under = -1
        for block, heading in marked_blocks(text):
            pieces = rejoined(sentencex.segment(self.language, block), cyrillic=self.language in REJOINED)
            for piece in (s.strip() for s in pieces):
                if not piece:
                    continue
                if heading:
                    under = len(out)
                out.append(piece)
                heads.append(under)
        return out, heads


@dataclass(frozen=True)
class MultiAnalyzer:
    """Several languages' analyzers at once, for a question whose language is unsure: the terms of each.

    Terms carry their language, so one BM25 query with all of them scores each language's documents by
    that language's terms alone: searching with each analyzer and merging, in one pass.
    """

    analyzers: tuple[Analyzer, ...]

    @property
    def language(self) -> str:
        """The most likely language."""
        return self.analyzers[0].language

    @property
    def stop_words(self) -> frozenset[str]:
        """The most likely language's stop words."""
        return self.analyzers[0].stop_words

    def words(self, text: str) -> list[str]:
        """Case-folded word tokens, the same in every language."""
        return WORD.findall(text.casefold())

    def terms(self, text: str) -> list[str]:
        """Every analyzer's terms of the text, the most likely language's first."""
        return list(dict.fromkeys(term for analyzer in self.analyzers for term in analyzer.terms(text)))


def rejoined(pieces: Iterable[str], cyrillic: bool = False) -> list[str]:
    """A splitter's consecutive pieces of a block, a piece joined to the one before when it cannot open a sentence.

    `cyrillic`: Russian and Kazakh rules too (initials, and no sentence opening in lower case).
    """
    out: list[str] = []
    for piece in pieces:
        if out and _continues(out[-1].rstrip(), piece.lstrip(), cyrillic):
            out[-1] += piece  # the pieces are consecutive slices of the block, white space included
        else:
            out.append(piece)
    return out


def _continues(before: str, after: str, cyrillic: bool) -> bool:
    first = after[:1]
    if first in NEVER_OPENS:  # "" is not in it: an empty piece joins nothing
        return True
    if not cyrillic:
        return False
    if first.isalpha() and first.islower():
        return True
    return first.isupper() and CYRILLIC_INITIAL.search(before) is not None  # "Э." then "И. Дюпон"


def blocks(text: str) -> Iterable[str]:
    """Paragraphs of a text, hard-wrapped lines joined, Markdown block markers stripped, long ones cut."""
    return (block for block, _ in marked_blocks(text))


def marked_blocks(text: str) -> Iterable[tuple[str, bool]]:
    """blocks(text), each with whether it is a heading: a Markdown heading line, or a title line (`is_title_line`)."""
    paragraphs = [p for p in BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n")) if p.strip()]
    for number, paragraph in enumerate(paragraphs):
        lines: list[str] = []
        kept = [line for line in paragraph.split("\n") if line.strip()]
        for line in kept:
            if RULE_LINE.match(line) or BLOCK_LINE.match(line):
                yield from ((piece, False) for piece in _cut(" ".join(lines)))
                lines = []
                if RULE_LINE.match(line):
                    continue
            lines.append(MARKUP_PREFIX.sub("", line).strip())
            if HEADING_LINE.match(line):
                yield from ((piece, True) for piece in _cut(" ".join(lines)))
                lines = []
        # A title line heads what follows it: the last paragraph of a text heads nothing.
        title = number + 1 < len(paragraphs) and len(kept) == 1 and not BLOCK_LINE.match(kept[0])
        title = title and is_title_line(kept[0], opening=number == 0)
        yield from ((piece, title) for piece in _cut(" ".join(lines)))


def is_title_line(line: str, opening: bool = False) -> bool:
    """A line that reads as a heading: at most TITLE_WORDS words, with letters, not ending as prose does, or, as
    a text's `opening` line, ending in its date."""
    words = line.split()
    if not 0 < len(words) <= TITLE_WORDS:
        return False
    if not any(c.isalpha() for c in line):
        return False
    # Inside a text, a dated line is as likely prose: "The next meeting is on Thursday, 16 April 2026."
    return _last_visible(line) not in PROSE_END or (opening and _ends_in_date(line.rstrip()))


def _ends_in_date(line: str) -> bool:
    """Whether the line ends ", <a date with a year>." (`DATE_WORDS` words): read from the last comma, once."""
    _, comma, date = line.rpartition(",")
    lo, hi = DATE_WORDS
    return bool(comma) and date.endswith(".") and lo <= len(date.split()) <= hi and YEAR.search(date) is not None


def _last_visible(line: str) -> str:
    """The last character that is not white space, a control character or part of an escape sequence."""
    # One walk back from the end, and a search of only the last few characters: linear in the trailing run.
    end = len(line)
    while True:
        while end and (line[end - 1].isspace() or line[end - 1] in CONTROLS):
            end -= 1
        escape = ESCAPE_AT_END.search(line[max(0, end - ESCAPE_CHARS) : end])
        if escape is None:
            return line[end - 1 : end]
        end -= escape.end() - escape.start()


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
    language: str = PLAIN  # the ISO 639-1 code of the analyzer that made it
    # For each sentence, the position of the heading it sits under: its own for a heading, -1 for none (int32).
    heads: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))


def count_terms(
    sentence_terms: Sequence[Sequence[str]],
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    sentences, heads = analyzer.split(document.text)
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
        language=analyzer.language,
        heads=np.array(heads, dtype=np.int32),
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


def paragraph_pieces(text: str, size: int) -> list[str]:
    """A long text cut into pieces of about `size` characters, each ending at a blank line where there is one."""
    pieces = []
    while len(text) > size:
        at = _blank_line_before(text, size)
        pieces.append(text[:at])
        text = text[at:]
    return [*pieces, text] if text else pieces


def _blank_line_before(text: str, size: int) -> int:
    # A blank line ends a paragraph, so cutting there changes no sentence; without one, a line end or a space.
    for mark in ("\n\n", "\n", " "):
        at = text.rfind(mark, size // 2, size)
        if at > 0:
            return at + len(mark)
    return size


def joined(parts: Sequence[AnalyzedDocument], document: Document) -> AnalyzedDocument:
    """One analysis of a document analysed in pieces: sentences in order, the pieces' vocabularies merged."""
    vocabulary: dict[str, int] = {}
    columns, rows, heads, offset, under = [], [], [], 0, -1
    for part in parts:
        ids = np.array([vocabulary.setdefault(term, len(vocabulary)) for term in part.terms], dtype=np.int32)
        columns.append(ids[part.columns] if len(part.columns) else part.columns)
        rows.append(part.rows + np.int32(offset))
        # A piece that opens without a heading sits under the last heading of the pieces before it.
        own = part.heads if len(part.heads) == len(part.sentences) else np.full(len(part.sentences), -1, np.int32)
        heads.append(np.where(own >= 0, own + offset, under).astype(np.int32))
        if len(heads[-1]):
            under = int(heads[-1][-1])
        offset += len(part.sentences)
    return dataclasses.replace(
        parts[0],
        document=document,
        sentences=tuple(s for part in parts for s in part.sentences),
        terms=tuple(vocabulary),
        lengths=np.concatenate([part.lengths for part in parts]),
        rows=np.concatenate(rows).astype(np.int32),
        columns=np.concatenate(columns).astype(np.int32),
        counts=np.concatenate([part.counts for part in parts]),
        pages=np.concatenate([part.pages for part in parts]),
        heads=np.concatenate(heads) if heads else np.zeros(0, dtype=np.int32),
    )
