"""The fitted ranker: logistic models over candidate features, and the probability that the first one answers."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot import features
from bot.features import INDEX_FEATURES, TEXT_FEATURES, Question
from bot.library import Library

MODEL_FILE = Path(__file__).parent / "data" / "ranker.json"
# The abstention model's inputs: the full model's log-odds for the best candidate, the question's length,
# and those of the best candidate's features that say how much of the question it holds. Chosen on dev:
# the lead over the second candidate made it overconfident on tiny corpora, and the share of the question
# missing from the document learned SQuAD's habit (its unanswerable questions reuse the article's words)
# and took a missing word for a sign of an answer.
ANSWER_FEATURES = (
    "best_logit", "question_terms", "sentence_bm25_abs", "idf_covered", "derived", "type_found", "type_missing",
)
_CANDIDATE_COLUMNS = [(INDEX_FEATURES + TEXT_FEATURES).index(name) for name in ANSWER_FEATURES[2:]]


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
    second: LinearModel  # INDEX_FEATURES + TEXT_FEATURES of the shortlist
    answers: LinearModel  # ANSWER_FEATURES: does the best candidate's sentence answer the question?
    shortlist: int
    threshold: float  # below this probability the bot says it found nothing (chosen on dev)


@dataclass(frozen=True)
class Ranking:
    """Candidate sentence ids, best first, their scores (log-odds), and P(the first one answers)."""

    rows: np.ndarray
    scores: np.ndarray
    probability: float


def read_ranker(path: Path) -> Ranker:
    """Load a ranker from the JSON file `citebot fit` writes."""
    data = json.loads(path.read_text(encoding="utf-8"))
    models = {name: LinearModel.from_dict(data["models"][name]) for name in ("first", "second", "answers")}
    expected = {
        "first": INDEX_FEATURES,
        "second": INDEX_FEATURES + TEXT_FEATURES,
        "answers": ANSWER_FEATURES,
    }
    for name, model in models.items():
        if model.names != expected[name]:
            raise ValueError(f"{path}: model {name!r} has features {model.names}, this code computes {expected[name]}")
    return Ranker(**models, shortlist=int(data["shortlist"]), threshold=float(data["threshold"]))


@functools.cache
def default_ranker() -> Ranker:
    """The ranker shipped in the package."""
    return read_ranker(MODEL_FILE)


def sigmoid(x: float) -> float:
    """The logistic function."""
    return float(1.0 / (1.0 + np.exp(-x)))


def feature_rows(
    library: Library, question: Question, ranker: Ranker, exclude: Collection[int] = frozenset()
) -> tuple[np.ndarray, np.ndarray]:
    """The shortlist's sentence ids and their full feature rows, in first-pass order; `exclude`d ids left out."""
    rows = features.candidates(library, question)
    if exclude:
        rows = rows[~np.isin(rows, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))]
    if len(rows) == 0:
        return rows, np.empty((0, len(ranker.second.names)))
    cheap = features.index_features(library, question, rows)
    # The text of every candidate costs too much to read; the first pass picks which ones are read.
    order = np.lexsort((rows, -ranker.first.logits(cheap)))[: ranker.shortlist]
    rows, cheap = rows[order], cheap[order]
    covered = features.term_hits(library, question, rows)
    return rows, np.column_stack([cheap, features.text_features(library, question, rows, covered)])


def answer_features(x: np.ndarray, scores: np.ndarray, order: np.ndarray, n_terms: int) -> np.ndarray:
    """The abstention model's input (ANSWER_FEATURES) from the shortlist's features and full-model scores."""
    return np.concatenate([[scores[order[0]], np.log1p(n_terms)], x[order[0], _CANDIDATE_COLUMNS]])


def rank(library: Library, question: Question, ranker: Ranker, exclude: Collection[int] = frozenset()) -> Ranking:
    """Rank the question's candidate sentences and estimate whether the first one answers it.

    Sentences already shown (`exclude`, for "➕ More") make way for the next best, which face the same test.
    """
    rows, x = feature_rows(library, question, ranker, exclude)
    if len(rows) == 0:
        return Ranking(rows, np.empty(0), 0.0)
    scores = ranker.second.logits(x)
    order = np.lexsort((rows, -scores))
    probability = sigmoid(ranker.answers.logits(answer_features(x, scores, order, len(question.terms))[None])[0])
    return Ranking(rows[order], scores[order], probability)
