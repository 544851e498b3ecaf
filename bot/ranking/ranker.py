"""The fitted ranker: logistic models over candidate features, and the probability that the first one answers."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.index.library import Library
from bot.ranking import features
from bot.ranking.features import INDEX_FEATURES, SEMANTIC_FEATURES, TEXT_FEATURES, Question
from bot.ranking.sections import section_of
from bot.text.embeddings import Embedder, default_embedder

log = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).parent.parent / "data" / "ranker.json"
# The abstention model's inputs: the full model's log-odds for the best candidate, the question's length,
# and those of the best candidate's features that say how much of the question it holds. Chosen on dev:
# the lead over the second candidate made it overconfident on tiny corpora, and the share of the question
# missing from the document learned SQuAD's habit (its unanswerable questions reuse the article's words)
# and took a missing word for a sign of an answer.
QUESTION_EVIDENCE = ("best_logit", "question_terms")
CANDIDATE_EVIDENCE = ("idf_covered", "derived", "type_found", "type_missing")
# With word embeddings, the abstention model also sees how close in meaning the best candidate is, and how much
# of the question it lacks even in meaning.
SEMANTIC_EVIDENCE = CANDIDATE_EVIDENCE + ("semantic", "soft_covered", "soft_missing")
ANSWER_FEATURES = QUESTION_EVIDENCE + CANDIDATE_EVIDENCE
SEMANTIC_ANSWER_FEATURES = QUESTION_EVIDENCE + SEMANTIC_EVIDENCE
# The ranker file holds one variant per signal set: "semantic" is used when the embeddings are installed.
VARIANTS = ("words", "semantic")
# Questions the embeddings can read. wordllama's vectors come from an English-centred model: on the Russian
# questions of XQuAD's train and dev parts (never fitted on) sentence similarity lowered P@1 by 0.013–0.016,
# so questions in other languages are ranked by the words variant.
SEMANTIC_LANGUAGES = frozenset({"en"})


def candidate_features(semantic: bool) -> tuple[str, ...]:
    """The full model's feature names, in column order."""
    return INDEX_FEATURES + TEXT_FEATURES + (SEMANTIC_FEATURES if semantic else ())


def answer_feature_names(semantic: bool) -> tuple[str, ...]:
    """The abstention model's feature names, in column order."""
    return SEMANTIC_ANSWER_FEATURES if semantic else ANSWER_FEATURES


# Where the abstention model's candidate features are in the full model's columns.
_CANDIDATE_COLUMNS = [candidate_features(False).index(name) for name in CANDIDATE_EVIDENCE]
_SEMANTIC_COLUMNS = [candidate_features(True).index(name) for name in SEMANTIC_EVIDENCE]
# Where each candidate's share of the question (its heading's included) is, for the hand-over under headings.
COVERED_COLUMN = candidate_features(False).index("idf_covered")


@dataclass(frozen=True)
class LinearModel:
    """A logistic regression on standardized features: logit = ((x - mean) / scale) · weights + bias."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of each row of x (columns in `names` order)."""
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form, one entry per feature so the file reads as an explanation."""
        return {
            "bias": round(self.bias, 6),
            "features": {
                name: {"weight": round(float(w), 6), "mean": round(float(m), 6), "scale": round(float(s), 6)}
                for name, w, m, s in zip(self.names, self.weights, self.mean, self.scale)
            },
        }

    @classmethod
    def from_dict(cls, data: dict) -> LinearModel:
        """Read the form as_dict writes."""
        rows = data["features"]
        column = lambda key: np.array([float(rows[name][key]) for name in rows])  # noqa: E731
        return cls(tuple(rows), column("mean"), column("scale"), column("weight"), float(data["bias"]))


@dataclass(frozen=True)
class Ranker:
    """Three fitted models: a cheap first pass over every candidate, a full one over the shortlist, and P(answer)."""

    first: LinearModel  # INDEX_FEATURES of every candidate
    second: LinearModel  # INDEX_FEATURES + TEXT_FEATURES (+ SEMANTIC_FEATURES) of the shortlist
    answers: LinearModel  # ANSWER_FEATURES (or SEMANTIC_ANSWER_FEATURES): does the best candidate answer?
    shortlist: int
    threshold: float  # below this probability the bot says it found nothing (chosen on dev)
    embedder: Embedder | None = None  # the word embeddings of the "semantic" variant
    fallback: Ranker | None = None  # the words variant, for questions the embeddings cannot read

    @property
    def semantic(self) -> bool:
        """Whether this ranker reads word embeddings."""
        return self.embedder is not None

    def for_question(self, question: Question) -> Ranker:
        """The variant that ranks this question: words alone when the embeddings cannot read its language."""
        if self.fallback is not None and question.analyzer.language not in SEMANTIC_LANGUAGES:
            return self.fallback
        return self


@dataclass(frozen=True)
class Ranking:
    """Candidate sentence ids, best first, their scores (log-odds), and P(the first one answers)."""

    rows: np.ndarray
    scores: np.ndarray
    probability: float
    threshold: float  # the abstention bar of the variant that ranked them


def read_ranker(path: Path, embedder: Embedder | None = None) -> Ranker:
    """Load a ranker from the JSON file `citebot fit` writes: its "semantic" variant when given an embedder."""
    data = json.loads(path.read_text(encoding="utf-8"))
    words = _variant(path, data, None)
    if embedder is None or "semantic" not in data["variants"]:  # a file fitted without the embeddings: words only
        return words
    return dataclasses.replace(_variant(path, data, embedder), fallback=words)


def _variant(path: Path, data: dict, embedder: Embedder | None) -> Ranker:
    semantic = embedder is not None
    variant = data["variants"]["semantic" if semantic else "words"]
    models = {name: LinearModel.from_dict(variant["models"][name]) for name in ("second", "answers")}
    models["first"] = LinearModel.from_dict(data["first"])
    expected = {
        "first": INDEX_FEATURES,
        "second": candidate_features(semantic),
        "answers": answer_feature_names(semantic),
    }
    for name, model in models.items():
        if model.names != expected[name]:
            raise ValueError(f"{path}: model {name!r} has features {model.names}, this code computes {expected[name]}")
    return Ranker(
        first=models["first"],
        second=models["second"],
        answers=models["answers"],
        shortlist=int(data["shortlist"]),
        threshold=float(variant["threshold"]),
        embedder=embedder,
    )


@functools.cache
def default_ranker(semantic: bool = False) -> Ranker:
    """The ranker shipped in the package: with word embeddings when asked for and installed, words only if not."""
    return read_ranker(MODEL_FILE, default_embedder() if semantic else None)


def ready_ranker(semantic: bool) -> Ranker:
    """The shipped ranker, read now rather than at the first question; warns if embeddings were asked for but absent."""
    ranker = default_ranker(semantic)
    if semantic and not ranker.semantic:
        log.warning(
            "CITEBOT_SEMANTIC is on but the word embeddings are not installed (pip install 'citebot[semantic]'): "
            "ranking by words"
        )
    return ranker


def sigmoid(x: float) -> float:
    """The logistic function: a logit as a probability."""
    return float(sigmoids(np.asarray(x)))


def sigmoids(x: np.ndarray) -> np.ndarray:
    """The logistic function of each logit."""
    return 1.0 / (1.0 + np.exp(-x))


def feature_rows(
    library: Library, question: Question, ranker: Ranker, exclude: Collection[int] = frozenset()
) -> tuple[np.ndarray, np.ndarray]:
    """The shortlist's sentence ids and their full feature rows, in first-pass order; `exclude`d ids left out."""
    rows = features.candidates(library, question)
    if exclude:
        rows = rows[~np.isin(rows, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))]
    if len(rows) == 0:
        return rows, np.empty((0, len(ranker.second.names)))
    stage = features.index_stage(library, question, rows)
    # The text of every candidate costs too much to read; the first pass picks which ones are read.
    order = np.lexsort((rows, -ranker.first.logits(stage.features)))
    order = np.concatenate([order[: ranker.shortlist], first_under(library, rows, order, ranker.shortlist)])
    rows, cheap = rows[order], stage.features[order]
    full = [cheap, features.text_features(library, question, rows, stage.hits[order], stage.lead_hits[order])]
    if ranker.embedder is not None:
        full.append(features.semantic_features(library, question, rows, ranker.embedder, stage.hits[order]))
    return rows, np.column_stack(full)


# Headings among the first pass's best this many hand over to a sentence under them, which joins the shortlist
# when none is in it already: reading one more sentence's text for each costs little; for every heading, a lot.
HANDOVER = 5


def first_under(library: Library, rows: np.ndarray, order: np.ndarray, size: int) -> np.ndarray:
    """Indexes into `rows` of the sentences that open the text under a heading among the first HANDOVER in
    `order`, when no sentence under it is among the first `size`: a heading hands its place to what it heads."""
    short = rows[order[:size]]
    top = short[:HANDOVER]
    headings = top[library.heads[top] == top]
    if len(headings) == 0 or len(order) <= size:
        return np.empty(0, dtype=np.int64)
    covered = library.heads[short][library.heads[short] != short]
    headings = headings[~np.isin(headings, covered)]
    rest = order[size:]
    opening = rest[np.isin(rows[rest] - 1, headings) & np.isin(library.heads[rows[rest]], headings)]
    return opening.astype(np.int64)


def first_under_headings(library: Library, rows: np.ndarray, scores: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """The ranking order (indexes into rows, best first) where a heading hands its place to the best sentence
    under it, which it then follows; a heading with no candidate under it goes last.

    A heading is context: a question that repeats it is answered by what it heads. `covered` (each row's share
    of the question's weight, its heading's included) keeps the hand-over honest: the sentence moves up past
    those that hold less of the question, never past one that holds more ("discount on heating" is answered
    under "Discounts", not by the first sentence under "Heating").
    """
    order = np.lexsort((rows, -scores))
    ranked = rows[order]
    heads = library.heads[ranked]
    headings = heads == ranked
    if not headings.any():
        return order
    best_under: dict[int, int] = {}
    for i, row, head in zip(order.tolist(), ranked.tolist(), heads.tolist()):
        if head >= 0 and head != row:
            best_under.setdefault(head, i)
    sentences = [i for i, is_heading in zip(order.tolist(), headings.tolist()) if not is_heading]
    above = 0  # sentences ranked above the heading being looked at
    for row, is_heading in zip(ranked.tolist(), headings.tolist()):
        if not is_heading:
            above += 1
        elif row in best_under:
            _move_up(sentences, best_under[row], above, covered)
    return np.array(_with_headings(sentences, order, ranked, headings, best_under), dtype=np.int64)


def _move_up(sentences: list[int], moved: int, to: int, covered: np.ndarray) -> None:
    """Move `moved` up to place `to` of `sentences`, or as near it as it goes without passing one that holds more."""
    at = sentences.index(moved)
    while to < at and covered[sentences[to]] > covered[moved] + 1e-9:
        to += 1
    if to < at:
        sentences.insert(to, sentences.pop(at))


def _with_headings(
    sentences: list[int], order: np.ndarray, ranked: np.ndarray, headings: np.ndarray, best_under: dict[int, int]
) -> list[int]:
    """The sentences in order, each heading right after the best sentence under it, the rest of them last."""
    follows: dict[int, list[int]] = {}
    last: list[int] = []
    for i, row, is_heading in zip(order.tolist(), ranked.tolist(), headings.tolist()):
        if is_heading:
            (follows.setdefault(best_under[row], []) if row in best_under else last).append(i)
    out: list[int] = []
    for i in sentences:
        out.append(i)
        out.extend(follows.get(i, ()))
    return out + last


def answer_logit(library: Library, rows: np.ndarray, scores: np.ndarray, order: np.ndarray) -> float:
    """The full model's score of the first answer, or of the heading it sits under when that scores higher.

    A question that repeats an FAQ's heading is answered by the sentence under it, which holds few of its
    words: the heading's match is the evidence that the section answers.
    """
    first = int(order[0])
    head = int(library.heads[rows[first]])
    under: list[int] = np.flatnonzero(rows == head).tolist() if head >= 0 and head != rows[first] else []
    return max([float(scores[first])] + [float(scores[i]) for i in under])


def answer_features(
    library: Library,
    question: Question,
    rows: np.ndarray,
    x: np.ndarray,
    scores: np.ndarray,
    order: np.ndarray,
    semantic: bool = False,
) -> np.ndarray:
    """The abstention model's input (ANSWER_FEATURES): the first answer's score (answer_logit) and features."""
    names = SEMANTIC_EVIDENCE if semantic else CANDIDATE_EVIDENCE
    overall = {
        "best_logit": answer_logit(library, rows, scores, order),
        "question_terms": np.log1p(len(question.terms)),
    }
    first = dict(zip(names, x[order[0], _SEMANTIC_COLUMNS if semantic else _CANDIDATE_COLUMNS].tolist()))
    # The answer is quoted with its short section: the asked-for fact anywhere in it is the answer's.
    if first["type_missing"] and passage_has_type(library, question, int(rows[order[0]])):
        first.update(type_found=1.0, type_missing=0.0)
    return np.array([overall[name] for name in QUESTION_EVIDENCE] + [first[name] for name in names])


def passage_has_type(library: Library, question: Question, sentence_id: int) -> bool:
    """Whether the short section a sentence is quoted with holds the kind of fact the question asks for."""
    section = section_of(library, sentence_id)
    wanted = question.wanted
    if wanted is None or section is None:
        return False
    language = library.document_analyzer(library.locate(sentence_id)[0]).language
    return any(features.holds_kind(wanted, library.sentence(i).text, language) for i in section)


def rank(library: Library, question: Question, ranker: Ranker, exclude: Collection[int] = frozenset()) -> Ranking:
    """Rank the question's candidate sentences and estimate whether the first one answers it.

    Sentences already shown (`exclude`, for "➕ More") make way for the next best, which face the same test.
    """
    ranker = ranker.for_question(question)
    rows, x = feature_rows(library, question, ranker, exclude)
    if len(rows) == 0:
        return Ranking(rows, np.empty(0), 0.0, ranker.threshold)
    scores = ranker.second.logits(x)
    order = first_under_headings(library, rows, scores, x[:, COVERED_COLUMN])
    evidence = answer_features(library, question, rows, x, scores, order, ranker.semantic)
    probability = sigmoid(ranker.answers.logits(evidence[None])[0])
    return Ranking(rows[order], scores[order], probability, ranker.threshold)
