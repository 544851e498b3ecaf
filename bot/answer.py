"""Answers: the best sentences for a question, each with a citation, or an honest abstention."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from bot.corpus import Document
from bot.library import Hit, Library
from bot.text import Analyzer, MultiAnalyzer

# How many sentence hits, and how many top documents' sentences, compete for the answer.
SENTENCE_CANDIDATES = 100
DOCUMENT_CANDIDATES = 3
DOCUMENT_SENTENCES = 80
# Weights of the ranking features, fitted on the WikiQA benchmark (see README, "Quality").
DOCUMENT_WEIGHT = 1.0
LEAD_WEIGHT = 0.5
LEAD_DECAY = 1.5
TYPE_WEIGHT = 1.2
OVERLAP_WEIGHT = 0.1
# A sentence must come close to the best one to be shown beside it.
KEEP_RATIO = 0.6
# A single part of the question found must carry at least this share of its weight.
ONE_PIECE = 0.55
# How many of the best sentences are checked for coverage: the first is not always the one that answers.
SENTENCE_CHECKS = 5
# Words that frame a request rather than say what it is about.
FILLERS = {
    "en": frozenset(
        "tell explain describe know say said says mention mentioned happen happened happening please "
        "information details".split()
    ),
    "ru": frozenset("расскажи расскажите скажи скажите объясни объясните пожалуйста известно информация".split()),
}
RESULTS = 10
# The defaults of the two knobs a deployment sets: how many sentences to quote, and the abstention bar.
MAX_QUOTES = 3
MIN_CONFIDENCE = 0.2

WANTS_NUMBER = re.compile(
    r"\b(how (many|much|old|long|far|tall|big|large|high|deep|fast)|what (percentage|percent|number|amount|age)"
    r"|number of|сколько|какова? (сумма|стоимость|доля))\b",
    re.IGNORECASE,
)
WANTS_DATE = re.compile(
    r"\b(when|what (years?|date|day|month|century)|(in|from|between) (which|what) years?|когда|в каком году)\b",
    re.IGNORECASE,
)
NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|twenty|thirty|forty|fifty|sixty"
    r"|seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|trillions?)\b",
    re.IGNORECASE,
)
DATE = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b(january|february|march|april|may|june|july|august|september|october"
    r"|november|december)\b|\b(\d{1,2}(st|nd|rd|th)? century)\b"
    r"|\b(январ|феврал|март|апрел|ма[йя]|июн|июл|август|сентябр|октябр|ноябр|декабр)",
    re.IGNORECASE,
)
# A sentence that opens with one of these leans on the one before it, so that one is shown too.
LEANS_BACK = re.compile(
    r"^(it|its|this|that|these|those|he|she|they|his|her|their|such|thus|therefore|in this context|specifically"
    r"|as a result|это|этот|эта|эти|он|она|они|его|её|их|поэтому)\b",
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


@dataclass(frozen=True)
class Answer:
    """What citebot says to a question: quotes with citations, or nothing, plus the ranked evidence."""

    question: str
    answered: bool
    quotes: tuple[Quote, ...]
    sources: tuple[Document, ...]  # sources[i] is citation number i + 1
    results: tuple[Hit, ...]  # the best sentences, ranked, whether or not they cleared the bar
    confidence: float
    took_ms: float
    words: tuple[str, ...] = ()  # words of the quotes that match the question's terms, for highlighting


def wanted_type(question: str) -> tuple[re.Pattern[str] | None, str]:
    """The kind of fact the question asks for (a number, a date, or None) and the question without its frame."""
    for frame, kind in ((WANTS_NUMBER, NUMBER), (WANTS_DATE, DATE)):
        match = frame.search(question)
        if match:
            # "In which years…" asks for a date; the word "years" is not what it is about.
            return kind, question[: match.start()] + " " + question[match.end() :]
    return None, question


def _term_weights(library: Library, ids: list[int]) -> np.ndarray:
    # A word the corpus lacks weighs as much as one it has once: a question about something absent
    # is not covered, yet a paraphrase's own wording costs no more than a rare word would.
    index = library.sentences
    ceiling = math.log((index.n_rows - 0.5) / 1.5) if index.n_rows > 2 else 1.0
    weights = [max(float(index.idf[t]), 0.05) if 0 <= t < index.n_terms else ceiling for t in ids]
    return np.array(weights)


def question_terms(analyzer: Analyzer | MultiAnalyzer, question: str) -> list[str]:
    """The question's search terms, without the words that only frame a request ("tell me", "explain")."""
    fillers = FILLERS.get(analyzer.language, frozenset())
    words = [word for word in analyzer.words(question) if word not in fillers]
    return analyzer.terms(" ".join(words))


def rank(library: Library, terms: list[str], wanted: re.Pattern[str] | None) -> list[Hit]:
    """Rank sentences for a question's terms by BM25, document relevance, lead position and answer type."""
    ids = library.term_ids(terms)
    rows, _ = library.sentences.top(ids, SENTENCE_CANDIDATES)
    if len(rows) == 0:
        return []
    documents, _ = library.passages.top(ids, DOCUMENT_CANDIDATES)
    candidates = set(rows.tolist())
    for number in documents.tolist():
        candidates.update(library.sentence_ids(number)[:DOCUMENT_SENTENCES])
    rows = np.array(sorted(candidates), dtype=np.int64)
    sentence_scores = library.sentences.scores(ids, rows)
    numbers = np.searchsorted(library.offsets, rows, side="right") - 1
    positions = rows - library.offsets[numbers]
    # Scores are scaled to the best candidate's; on tiny corpora rank-bm25's IDF floor can make them zero
    # or negative, and then the share of question words a sentence holds still tells sentences apart.
    sentence_part = np.clip(sentence_scores, 0.0, None)
    document_part = np.clip(library.passages.scores(ids, numbers), 0.0, None)
    overlap = library.sentences.matches(ids, rows) / max(len(set(ids)), 1)
    best = float(sentence_part.max())
    combined = (
        (sentence_part / best if best > 0 else overlap)
        + DOCUMENT_WEIGHT * document_part / max(float(document_part.max()), 1e-9)
        + LEAD_WEIGHT / (1.0 + positions) ** LEAD_DECAY
        + OVERLAP_WEIGHT * overlap
    )
    if wanted is not None:
        texts = [library.entries[n].sentences[p] for n, p in zip(numbers.tolist(), positions.tolist())]
        combined = combined + TYPE_WEIGHT * np.array([bool(wanted.search(t)) for t in texts])
    order = np.lexsort((rows, -combined))[:RESULTS]
    return [Hit(library.sentence(int(rows[i])), float(combined[i])) for i in order]


def coverage(
    library: Library,
    analyzer: Analyzer | MultiAnalyzer,
    terms: list[str],
    hit: Hit,
    wanted: re.Pattern[str] | None = None,
) -> tuple[float, int]:
    """Share of the question's weight (by IDF) that the sentence holds, and in how many separate pieces.

    Question words found side by side in the sentence are one piece: "World Bank" is one thing, and
    a question that shares only it with a sentence has one piece of evidence, not two. The kind of
    fact a typed question asks for ("how many", "when") counts as a piece when the sentence has one.
    """
    if not terms:
        return 0.0, 0
    weights = _term_weights(library, library.term_ids(terms))
    sentence = analyzer.terms(hit.sentence.text)
    found, pairs = set(sentence), set(zip(sentence, sentence[1:]))
    covered = [term in found for term in terms]
    pieces = sum(
        1 for i, term in enumerate(terms) if covered[i] and not (i and covered[i - 1] and (terms[i - 1], term) in pairs)
    )
    held, total = float(weights[np.array(covered)].sum()), float(weights.sum())
    if wanted is not None and wanted.search(hit.sentence.text):
        # Found, the asked-for kind weighs as much as the rarest word: a number is what "how many" is
        # about. Missing, it costs nothing: "when" is often answered by "at night", not by a date.
        frame = float(_term_weights(library, [-1])[0])
        held, total, pieces = held + frame, total + frame, pieces + 1
    return held / total, pieces


def confident(share: float, pieces: int, min_confidence: float = MIN_CONFIDENCE) -> bool:
    """The abstention test: enough of the question is found, in more than one piece or in a big one."""
    # Two separate matches rarely meet by chance; one word or name ("world" in "World Cup") easily
    # does, so a lone match must carry most of the question.
    if pieces == 1:
        return share >= max(min_confidence, ONE_PIECE)
    return pieces > 1 and share >= min_confidence


def lead_in(library: Library, hit: Hit) -> str | None:
    """The sentence before a hit, when the hit cannot be read without it."""
    if hit.sentence.position == 0 or not LEANS_BACK.match(hit.sentence.text):
        return None
    return library.sentence(hit.sentence.id - 1).text


def answer(
    library: Library, question: str, *, max_quotes: int = MAX_QUOTES, min_confidence: float = MIN_CONFIDENCE,
    exclude: Collection[int] = frozenset(),
) -> Answer:
    """Answer a question from the library, citing each quoted sentence's document; `exclude`d ids are never shown."""
    started = time.perf_counter()
    # The frame of a typed question ("how many", "in which year") is no part of what it asks about.
    wanted, topic = wanted_type(question)
    analyzer = library.question_analyzer(question)
    terms = question_terms(analyzer, topic) or question_terms(analyzer, question)
    # Sentences already shown (➕ More) make way for the next best, which face the same test.
    hits = [hit for hit in rank(library, terms, wanted) if hit.sentence.id not in exclude]
    tests = [coverage(library, analyzer, terms, hit, wanted) for hit in hits[:SENTENCE_CHECKS]]
    confidence = max((share for share, _ in tests), default=0.0)
    quotes: list[Quote] = []
    sources: list[Document] = []
    seen: set[str] = set()
    shown: set[int] = set()
    best = None
    for hit, (share, pieces) in zip(hits, tests):
        # Only sentences that pass the test themselves are quoted: an opening line that merely shares
        # a name with the question does not stand before the sentence that answers it.
        if not confident(share, pieces, min_confidence):
            continue
        best = hit.score if best is None else best
        if len(quotes) == max_quotes or hit.score < KEEP_RATIO * best:
            break
        key = " ".join(hit.sentence.text.casefold().split())
        if key in seen or hit.sentence.id in shown:
            continue
        seen.add(key)
        shown.add(hit.sentence.id)
        document = hit.sentence.document
        if document not in sources:
            sources.append(document)
        context = lead_in(library, hit)
        if context is not None and (hit.sentence.id - 1 in shown or hit.sentence.id - 1 in exclude):
            context = None
        if context is not None:
            # Shown as context, the sentence before must not come again as a quote of its own.
            shown.add(hit.sentence.id - 1)
            seen.add(" ".join(context.casefold().split()))
        quotes.append(
            Quote(
                hit.sentence.text, sources.index(document) + 1, hit.score, document, hit.sentence.position, context,
                hit.sentence.page,
            )
        )
    # The quotes' own spellings of the question's terms ("approved" for "approve"), for highlighting.
    wanted = set(terms)
    quoted = {w for q in quotes for w in analyzer.words(f"{q.context or ''} {q.text}")}
    words = tuple(sorted(w for w in quoted if set(analyzer.terms(w)) & wanted))
    return Answer(
        question=question,
        answered=bool(quotes),
        quotes=tuple(quotes),
        sources=tuple(sources),
        results=tuple(hits),
        confidence=confidence,
        took_ms=(time.perf_counter() - started) * 1000,
        words=words,
    )
