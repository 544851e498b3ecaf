"""Answers: the best sentences for a question, each with a citation, or an honest abstention."""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from bot.index.library import Hit, Library
from bot.ingest.corpus import Document
from bot.ranking.features import Question, analyze_question
from bot.ranking.ranker import Ranker, default_ranker, rank, ready_ranker, sigmoids
from bot.ranking.sections import section_of
from bot.text.analyzers import Analyzer, MultiAnalyzer, folded, load_lemmatizer

# A sentence is quoted beside the first only if the model thinks it at least this likely, relative to the first.
KEEP_RATIO = 0.3
RESULTS = 10
# The default of the knob a deployment sets: how many sentences to quote. The abstention bar's default is
# the ranker's own threshold, chosen on the benchmarks' dev parts (bot/data/ranker.json).
MAX_QUOTES = 3
# A declined question still gets its best sentence as "the closest passage" when that sentence (with the heading
# it sits under) holds the question's most specific words: one of its heaviest terms by IDF in this corpus (a word
# the corpus lacks weighing as much as one it has once), every name it capitalises, and at least this share of its
# IDF weight. An off-topic question, sharing no specific word with the corpus, gets none.
CLOSEST_SHARE = 0.3
# A question word the corpus lacks says nothing of where the answer is ("garden" of "who fixes the pipe in my
# garden"): the heaviest word the corpus has stands in for it when its IDF is at least this share of a missing
# word's. A word in most of the corpus's sentences ("Kazakhstan" in an article about Kazakhstan) does not.
SPECIFIC_SHARE = 0.5
# A capitalised word after the first of a question is a name ("Bitcoin", "Sunday", "Астана"): a passage without it
# is about something else.
NAME = re.compile(r"(?<=[\s(«\"'])[^\W\d_]*[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ]\w*")
# A sentence that opens with one of these leans on the one before it, so that one is shown too.
LEANS_BACK = re.compile(
    r"^(it|its|this|that|these|those|he|she|they|his|her|their|such|thus|therefore|in this context|specifically"
    r"|as a result|это|этот|эта|эти|он|она|они|его|её|их|поэтому|ол|бұл|осы|сол|олар|оның|олардың|сондықтан)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Quote:
    """One sentence of an answer, the citation number of its document, and optional lead-in context."""

    text: str
    citation: int
    score: float
    document: Document
    position: int
    context: str | None = None
    page: int | None = None  # the page the sentence is on, for documents with pages
    follow: tuple[str, ...] = ()  # the rest of its short section, shown after it as one passage

    @property
    def sentences(self) -> tuple[str, ...]:
        """The quote's own sentences as shown: the sentence, then the rest of its section."""
        return (self.text, *self.follow)


@dataclass(frozen=True)
class Answer:
    """What citebot says to a question: quotes with citations, or nothing, plus the ranked evidence."""

    question: str
    answered: bool
    quotes: tuple[Quote, ...]
    sources: tuple[Document, ...]  # sources[i] is citation number i + 1
    results: tuple[Hit, ...]  # the best sentences, ranked (score: the ranker's log-odds), answered or not
    probability: float  # the ranker's estimate that the first sentence answers the question
    took_ms: float
    words: tuple[str, ...] = ()  # words of the quotes that match the question's terms, for highlighting
    closest: Quote | None = None  # declined, the best sentence when it holds the question's most specific words


def lead_in(library: Library, hit: Hit) -> str | None:
    """The sentence before a hit, when the hit cannot be read without it."""
    if hit.sentence.position == 0 or not LEANS_BACK.match(hit.sentence.text):
        return None
    return library.sentence(hit.sentence.id - 1).text


@functools.lru_cache(maxsize=1 << 16)
def _word_terms(analyzer: Analyzer | MultiAnalyzer, word: str) -> tuple[str, ...]:
    # Words recur from answer to answer: stemming each one once keeps highlighting off the clock.
    return tuple(analyzer.terms(word))


def warm_up(library: Library, semantic: bool = False) -> None:
    """Load now what the first question would wait for: the ranker, each document language's lemmatizer, a search.

    One question per language (a document's title) runs the whole way once, so nothing lazy is left on its path.
    """
    ranker = ready_ranker(semantic)
    titles: dict[str, str] = {}
    for entry in library.entries:
        titles.setdefault(entry.language, entry.document.title)
    for language, title in titles.items():
        load_lemmatizer(language)
        answer(library, title, semantic=semantic, ranker=ranker)


def answer(
    library: Library,
    question: str,
    *,
    max_quotes: int = MAX_QUOTES,
    min_confidence: float | None = None,
    exclude: Collection[int] = frozenset(),
    semantic: bool = False,
    ranker: Ranker | None = None,
    context: str = "",
) -> Answer:
    """Answer a question from the library, citing each quoted sentence's document; `exclude`d ids are never shown.

    `semantic` ranks with word embeddings as well, when they are installed; `ranker` overrides the shipped one;
    `context` is the subject a follow-up question leans on (bot/ranking/followup.py), weighed less than its words.
    """
    started = time.perf_counter()
    ranker = ranker or default_ranker(semantic)
    analyzed = analyze_question(library, question, context)
    ranking = rank(library, analyzed, ranker, exclude)
    threshold = ranking.threshold if min_confidence is None else min_confidence
    top = zip(ranking.rows[:RESULTS].tolist(), ranking.scores[:RESULTS].tolist())
    hits = [Hit(library.sentence(row), score) for row, score in top]
    quotes: list[Quote] = []
    sources: list[Document] = []
    if hits and ranking.probability >= threshold:
        # Each sentence's own odds, from the full model: a second quote must come close to the first.
        likely = sigmoids(ranking.scores[: len(hits)])
        keep = [hit for hit, p in zip(hits, likely) if p >= KEEP_RATIO * likely[0]]
        quotes, sources = _quotes(library, keep, max_quotes, exclude)
    closest = None if quotes else closest_passage(library, analyzed, ranking.rows[:RESULTS], exclude)
    # The quotes' own spellings of the question's terms ("approved" for "approve"), for highlighting.
    wanted = set(analyzed.terms)
    shown = quotes or ([closest] if closest is not None else [])
    quoted = {w for q in shown for w in analyzed.analyzer.words(" ".join((q.context or "", *q.sentences)))}
    words = tuple(sorted(w for w in quoted if not wanted.isdisjoint(_word_terms(analyzed.analyzer, w))))
    return Answer(
        question=question,
        answered=bool(quotes),
        quotes=tuple(quotes),
        sources=tuple(sources),
        results=tuple(hits),
        probability=ranking.probability,
        took_ms=(time.perf_counter() - started) * 1000,
        words=words,
        closest=closest,
    )


def closest_passage(
    library: Library, question: Question, rows: np.ndarray, exclude: Collection[int] = frozenset()
) -> Quote | None:
    """The best-ranked sentence that is not a heading, as a quote, when it holds the question's most specific
    words (see CLOSEST_SHARE); None otherwise."""
    row = next((int(r) for r in rows if not library.is_heading(int(r)) and int(r) not in exclude), None)
    if row is None or not question.terms:
        return None
    head = int(library.heads[row])
    found = library.sentence_index.contains(list(question.ids), np.array([row, head if head >= 0 else row]))
    held = found[0] | found[1]
    weights = question.weights
    heaviest = specific_terms(library, question)
    names = {word.casefold() for word in NAME.findall(question.text)}
    named = np.array([word in names for word in question.words], dtype=bool)
    if (
        not (held & heaviest).any()
        or (named & ~held).any()
        or float(weights[held].sum()) < CLOSEST_SHARE * float(weights.sum())
    ):
        return None
    return _quote(library, Hit(library.sentence(row), 0.0), 1, section_of(library, row))


def specific_terms(library: Library, question: Question) -> np.ndarray:
    """The question's most specific terms: its heaviest, or the heaviest the corpus has (see SPECIFIC_SHARE)."""
    weights = question.weights
    known = np.array([0 <= t < library.sentence_index.n_terms for t in question.ids], dtype=bool)
    if known.any() and not known.all():
        top = float(weights[known].max())
        if top >= SPECIFIC_SHARE * float(weights[~known].max()):
            return known & (weights >= top - 1e-9)
    return weights >= weights.max() - 1e-9


def _quote(library: Library, hit: Hit, citation: int, section: range | None) -> Quote:
    """A hit as a quote: with its lead-in when it leans back, or from the start of its short section to its end."""
    if section is None:
        sentence = hit.sentence
        return Quote(
            sentence.text,
            citation,
            hit.score,
            sentence.document,
            sentence.position,
            lead_in(library, hit),
            sentence.page,
        )
    first = library.sentence(section[0])
    follow = tuple(library.sentence(i).text for i in section[1:])
    return Quote(first.text, citation, hit.score, first.document, first.position, None, first.page, follow)


def _quotes(
    library: Library, hits: list[Hit], most: int, exclude: Collection[int]
) -> tuple[list[Quote], list[Document]]:
    """Up to `most` distinct passages (a sentence, with its lead-in when it leans back, or its short section),
    each with its citation number."""
    quotes: list[Quote] = []
    sources: list[Document] = []
    seen: set[str] = set()
    shown: set[int] = set()
    for hit in hits:
        if len(quotes) == most:
            break
        # A heading is context, never an answer of its own.
        if folded(hit.sentence.text) in seen or hit.sentence.id in shown or library.is_heading(hit.sentence.id):
            continue
        section = section_of(library, hit.sentence.id)
        if section is not None and any(i in exclude or i in shown for i in section):
            section = None  # part of it was shown already: the sentence alone
        document = hit.sentence.document
        if document not in sources:
            sources.append(document)
        quote = _quote(library, hit, sources.index(document) + 1, section)
        if quote.context is not None and (hit.sentence.id - 1 in shown or hit.sentence.id - 1 in exclude):
            quote = dataclasses.replace(quote, context=None)
        shown.update(section if section is not None else [hit.sentence.id])
        seen.update(folded(text) for text in quote.sentences)
        if quote.context is not None:
            # Shown as context, the sentence before must not come again as a quote of its own.
            shown.add(hit.sentence.id - 1)
            seen.add(folded(quote.context))
        quotes.append(quote)
    return quotes, sources
