"""What the ranker sees: a question's analysis, its candidate sentences, and a row of features for each."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from bot.bm25 import BM25
from bot.library import Library
from bot.text import Analyzer

# How many sentence hits, and how many top documents' sentences, compete for the answer.
SENTENCE_CANDIDATES = 100
DOCUMENT_CANDIDATES = 3
DOCUMENT_SENTENCES = 80
# Words sharing this many first letters are taken as forms of one word ("Kazakh", "Kazakhstan").
PREFIX = 5
# Words that frame a request rather than say what it is about.
FILLERS = {
    "english": frozenset(
        "tell explain describe know say said says mention mentioned happen happened happening please "
        "information details".split()
    ),
    "russian": frozenset("расскажи расскажите скажи скажите объясни объясните пожалуйста известно информация".split()),
}
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
WANTS_PERSON = re.compile(r"^\W*(who|whom|whose)\b|\b(кто|кого|кому|кем)\b", re.IGNORECASE)
CAPITALIZED = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-ZА-ЯЁ]\w+")

# Features every candidate gets from the indexes alone (cheap: no text is read).
INDEX_FEATURES = (
    "sentence_bm25",  # the sentence's BM25 over the best candidate's
    "sentence_bm25_abs",  # the sentence's BM25 over the question's total IDF
    "document_bm25",  # its document's BM25 over the best candidate document's
    "top_document",  # its document is the best-scoring one
    "lead",  # 1 / (1 + position in the document)
    "idf_covered",  # share of the question's IDF weight the sentence holds
    "terms_covered",  # share of the question's distinct terms the sentence holds
    "missing_max",  # the heaviest question term the sentence lacks, as a share of the question's weight
    "document_missing",  # share of the question's weight its document lacks altogether
)
# Features read from the text of the best candidates only.
TEXT_FEATURES = (
    "pairs",  # adjacent question terms found adjacent in the sentence, over the pairs the question has
    "derived",  # share of IDF weight matched only by a shared prefix ("conclude" ~ "conclusion")
    "title",  # share of the question's IDF weight found in the document's title
    "type_found",  # the question asks for a number or date and the sentence has one
    "type_missing",  # it asks for one and the sentence has none
    "person_found",  # a "who" question meets a capitalized word it does not contain
    "length",  # log of the sentence's term count
    "novelty",  # share of the sentence's terms the question lacks
    "neighbour",  # share of the question's IDF weight the sentences around it hold
)


@dataclass(frozen=True)
class Question:
    """A question as the ranker sees it: its search terms, their ids and weights, and what it asks for."""

    text: str
    analyzer: Analyzer
    terms: tuple[str, ...]
    ids: tuple[int, ...]
    weights: np.ndarray  # IDF weight of each term; a term the corpus lacks weighs as much as a word it has once
    prefixes: tuple[str, ...]  # the PREFIX first letters of each term's word
    wanted: re.Pattern[str] | None  # NUMBER, DATE or None
    person: bool


def question_analyzer(library: Library, question: str) -> Analyzer:
    """The analyzer a question is read with: the one point where per-language analysis plugs in."""
    return library.analyzer


def wanted_type(question: str) -> tuple[re.Pattern[str] | None, str]:
    """The kind of fact the question asks for (a number, a date, or None) and the question without its frame."""
    for frame, kind in ((WANTS_NUMBER, NUMBER), (WANTS_DATE, DATE)):
        match = frame.search(question)
        if match:
            # "In which years…" asks for a date; the word "years" is not what it is about.
            return kind, question[: match.start()] + " " + question[match.end() :]
    return None, question


def _content_words(analyzer: Analyzer, text: str) -> list[tuple[str, str]]:
    """(word, term) pairs of a text's content words, fillers and stop words dropped."""
    fillers = FILLERS.get(analyzer.language, frozenset())
    out = []
    for word in analyzer.words(text):
        if word in fillers:
            continue
        terms = analyzer.terms(word)
        if terms:
            out.append((word, terms[0]))
    return out


def analyze_question(library: Library, question: str) -> Question:
    """Read a question into search terms, weights and the kind of answer it wants."""
    analyzer = question_analyzer(library, question)
    wanted, topic = wanted_type(question)
    pairs = _content_words(analyzer, topic) or _content_words(analyzer, question)
    terms = tuple(term for _, term in pairs)
    ids = tuple(library.term_ids(terms))
    index = library.sentences
    ceiling = math.log((index.n_rows - 0.5) / 1.5) if index.n_rows > 2 else 1.0
    weights = np.array([max(float(index.idf[t]), 0.05) if 0 <= t < index.n_terms else ceiling for t in ids])
    return Question(
        text=question,
        analyzer=analyzer,
        terms=terms,
        ids=ids,
        weights=weights,
        prefixes=tuple(word[:PREFIX] for word, _ in pairs),
        wanted=wanted,
        person=bool(WANTS_PERSON.search(question)),
    )


def candidates(library: Library, question: Question) -> np.ndarray:
    """Sentence ids worth ranking: the best by BM25, and the sentences of the best documents."""
    rows, _ = library.sentences.top(list(question.ids), SENTENCE_CANDIDATES)
    if len(rows) == 0:
        return np.empty(0, dtype=np.int64)
    documents, _ = library.passages.top(list(question.ids), DOCUMENT_CANDIDATES)
    pool = [rows.astype(np.int64)]
    for number in documents.tolist():
        start = int(library.offsets[number])
        stop = min(int(library.offsets[number + 1]), start + DOCUMENT_SENTENCES)
        pool.append(np.arange(start, stop, dtype=np.int64))
    return np.unique(np.concatenate(pool))


def term_hits(library: Library, question: Question, rows: np.ndarray) -> np.ndarray:
    """A (rows × question terms) matrix: does the sentence contain the term."""
    return _hits(library.sentences, question.ids, rows)


def _hits(index: BM25, ids: tuple[int, ...], rows: np.ndarray) -> np.ndarray:
    out = np.zeros((len(rows), len(ids)), dtype=bool)
    for j, term in enumerate(ids):
        if not (0 <= term < index.n_terms):
            continue
        postings = index.postings[index.indptr[term] : index.indptr[term + 1]]
        if len(postings) == 0:
            continue
        at = np.minimum(np.searchsorted(postings, rows), len(postings) - 1)
        out[:, j] = postings[at] == rows
    return out


def index_features(library: Library, question: Question, rows: np.ndarray) -> np.ndarray:
    """The INDEX_FEATURES of each candidate row."""
    ids = list(question.ids)
    total = float(question.weights.sum()) or 1.0
    sentence = np.clip(library.sentences.scores(ids, rows), 0.0, None)
    numbers = np.searchsorted(library.offsets, rows, side="right") - 1
    positions = rows - library.offsets[numbers]
    document = np.clip(library.passages.scores(ids, numbers), 0.0, None)
    hits = term_hits(library, question, rows)
    distinct = {term: j for j, term in enumerate(question.terms)}
    covered_terms = hits[:, list(distinct.values())].mean(axis=1) if distinct else np.zeros(len(rows))
    best_document = float(document.max()) if len(document) else 0.0
    in_document = _hits(library.passages, question.ids, numbers)
    return np.column_stack(
        [
            sentence / max(float(sentence.max()), 1e-9),
            sentence / total,
            document / max(best_document, 1e-9),
            (document >= best_document) & (best_document > 0),
            1.0 / (1.0 + positions),
            hits @ question.weights / total,
            covered_terms,
            (np.where(hits, 0.0, question.weights).max(axis=1) if len(question.ids) else 0.0) / total,
            (~in_document) @ question.weights / total,
        ]
    ).astype(float)


def _idf_share(question: Question, found: np.ndarray) -> float:
    return float(question.weights[found].sum() / (question.weights.sum() or 1.0))


def text_features(library: Library, question: Question, rows: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """The TEXT_FEATURES of each candidate row; `covered` is term_hits for the same rows."""
    analyzer = question.analyzer
    terms = question.terms
    pairs = set(zip(terms, terms[1:]))
    question_words = set(analyzer.words(question.text))
    out = np.zeros((len(rows), len(TEXT_FEATURES)))
    titles: dict[int, np.ndarray] = {}
    for i, row in enumerate(rows.tolist()):
        number, position = library.locate(row)
        entry = library.entries[number]
        text = entry.sentences[position]
        words = analyzer.words(text)
        sentence_terms = analyzer.terms(text)
        found_pairs = len(pairs & set(zip(sentence_terms, sentence_terms[1:])))
        prefixes = {w[:PREFIX] for w in words if len(w) >= PREFIX}
        derived = np.array(
            [not covered[i, j] and len(p) >= PREFIX and p in prefixes for j, p in enumerate(question.prefixes)],
            dtype=bool,
        )
        if number not in titles:
            title = set(analyzer.terms(entry.document.title))
            titles[number] = np.array([t in title for t in terms], dtype=bool)
        has_type = bool(question.wanted.search(text)) if question.wanted is not None else False
        novel = [t for t in sentence_terms if t not in set(terms)]
        around = np.zeros(len(terms), dtype=bool)
        for neighbour in (position - 1, position + 1):
            if 0 <= neighbour < len(entry.sentences):
                near = set(analyzer.terms(entry.sentences[neighbour]))
                around |= np.array([t in near for t in terms], dtype=bool)
        person = question.person and any(m.group(0).casefold() not in question_words for m in CAPITALIZED.finditer(text))
        out[i] = (
            found_pairs / max(len(pairs), 1),
            _idf_share(question, derived),
            _idf_share(question, titles[number]),
            has_type,
            question.wanted is not None and not has_type,
            person,
            math.log1p(len(sentence_terms)),
            len(novel) / max(len(sentence_terms), 1),
            _idf_share(question, around & ~covered[i]),
        )
    return out
