"""BM25.top and BM25.scores give rank-bm25's BM25Okapi scores exactly, on any corpus and query."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

import bot.index.bm25
from bot.index.bm25 import BM25

TERMS = [f"t{i}" for i in range(12)]
# Few distinct terms and short rows, so terms in more than half the rows (the IDF floor) are common.
rows_strategy = st.lists(st.lists(st.sampled_from(TERMS), max_size=8), min_size=1, max_size=30)
query_strategy = st.lists(st.sampled_from(TERMS + ["unknown", "other"]), max_size=6)
PARAMS = st.fixed_dictionaries(
    {
        "k1": st.sampled_from([1.5, 1.2, 0.9]),
        "b": st.sampled_from([0.75, 0.0, 1.0]),
        "epsilon": st.sampled_from([0.25, 0.5]),
    }
)


def reference(corpus: list[list[str]], query: list[str], params: dict[str, float]) -> np.ndarray:
    if sum(len(row) for row in corpus) == 0:
        # rank-bm25 divides by an average length of zero there; no row can match anything anyway.
        return np.zeros(len(corpus))
    with np.errstate(invalid="ignore"):
        scores = BM25Okapi(corpus, **params).get_scores(query)
    empty = np.array([len(row) == 0 for row in corpus])
    # With b = 1 rank-bm25 computes 0/0 = NaN for an empty row; it shares no term, so its score is 0.
    assert not np.isnan(scores[~empty]).any()
    return np.where(empty, 0.0, scores)


@settings(max_examples=300, deadline=None)
@given(corpus=rows_strategy, query=query_strategy, k=st.integers(1, 12), params=PARAMS)
def test_top_and_scores_match_rank_bm25(
    corpus: list[list[str]], query: list[str], k: int, params: dict[str, float]
) -> None:
    expected = reference(corpus, query, params)
    index, vocabulary = BM25.from_tokens(corpus, **params)
    ids = [vocabulary.get(term, -1) for term in query]

    every_row = np.arange(len(corpus))
    assert np.allclose(index.scores(ids, every_row), expected, rtol=0, atol=1e-9)

    rows, scores = index.top(ids, k)
    assert np.allclose(scores, expected[rows], rtol=0, atol=1e-9)
    assert len(set(rows.tolist())) == len(rows)
    assert list(scores) == sorted(scores, reverse=True)
    # top returns rows that share a term with the query; among those it must pick the k best.
    matching = [r for r, row in enumerate(corpus) if set(row) & set(query)]
    assert set(rows.tolist()) <= set(matching)
    assert len(rows) == min(k, len(matching))
    if len(rows):
        left_out = np.setdiff1d(matching, rows)
        if len(left_out):
            # Ties aside: nothing left out scores better than the worst row returned.
            assert expected[left_out].max() <= scores.min() + 1e-9


def test_idf_floor_in_a_tiny_corpus() -> None:
    corpus = [["a", "b"], ["a"], ["a", "c"]]
    index, vocabulary = BM25.from_tokens(corpus)
    expected = BM25Okapi(corpus).get_scores(["a", "c"])
    rows, scores = index.top([vocabulary["a"], vocabulary["c"]], 3)
    assert np.allclose(scores, expected[rows], rtol=0, atol=1e-12)


def test_negative_average_idf() -> None:
    # Every term in more than half the rows: all raw IDFs are negative, so is their mean and the floor.
    corpus = [["a", "b"], ["a", "b"], ["a"], ["b"]]
    index, vocabulary = BM25.from_tokens(corpus)
    expected = BM25Okapi(corpus).get_scores(["a", "b"])
    assert (expected < 0).all()
    assert np.allclose(index.scores([vocabulary["a"], vocabulary["b"]], np.arange(4)), expected, rtol=0, atol=1e-12)


def test_repeated_and_unknown_query_terms() -> None:
    corpus = [["x", "y"], ["y", "z", "z"], [], ["w"]]
    index, vocabulary = BM25.from_tokens(corpus)
    query = ["z", "z", "nothing", "y"]
    expected = BM25Okapi(corpus).get_scores(query)
    rows, scores = index.top([vocabulary.get(t, -1) for t in query] + [10_000], 10)
    assert sorted(rows.tolist()) == [0, 1]
    assert np.allclose(scores, expected[rows], rtol=0, atol=1e-12)


def test_empty_query_and_zero_k() -> None:
    index, vocabulary = BM25.from_tokens([["a"], ["b"]])
    assert len(index.top([], 5)[0]) == 0
    assert len(index.top([vocabulary["a"]], 0)[0]) == 0
    assert len(index.top([-1, 99], 5)[0]) == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pruned_top_k_equals_scoring_every_row(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # top stops adding terms once the rows found can no longer be overtaken; it must give what scoring every
    # row gives, bit for bit, ties broken by row.
    settled_early = []
    real = BM25._settled

    def recording(*args: object) -> tuple[np.ndarray | None, float | None]:
        found = real(*args)  # type: ignore[arg-type]
        settled_early.append(found[0] is not None and args[-1] is not None)
        return found

    monkeypatch.setattr(BM25, "_settled", staticmethod(recording))
    # On corpora this small, lookups never pay off against adding postings: make them free, so pruning is tried.
    monkeypatch.setattr(bot.index.bm25, "LOOKUP_COST", 1e-9)
    rng = random.Random(seed)
    vocabulary_size = 40
    for _ in range(400):
        # Zipf-like: a few common terms and many rare ones, as in prose.
        corpus = [
            [f"t{min(int(rng.paretovariate(1.0)) - 1, vocabulary_size)}" for _ in range(rng.randint(1, 8))]
            for _ in range(rng.randint(5, 60))
        ]
        index, vocabulary = BM25.from_tokens(corpus)
        words = [rng.choice(list(vocabulary)) for _ in range(rng.randint(2, 5))]
        query = [vocabulary[word] for word in words]
        k = rng.randint(1, 5)
        every = np.arange(len(corpus))
        full = index.scores(query, every)
        matching = every[index.matches(query, every) > 0]
        order = np.lexsort((matching, -full[matching]))[:k]
        rows, scores = index.top(query, k)
        assert rows.tolist() == matching[order].tolist()
        assert scores.tolist() == full[matching][order].tolist()
        expected = BM25Okapi(corpus).get_scores(words)
        assert np.allclose(scores, expected[rows], rtol=0, atol=1e-9)
    assert sum(settled_early) >= 20, "the pruning was hardly exercised"
