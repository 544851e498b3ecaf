"""A stacked index (main + appended delta) answers as one index over all its rows, up to the average length."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bot.index.bm25 import BM25, _weights
from bot.index.stacked import Stacked, average_length, drift

TERMS = [f"t{i}" for i in range(40)]
K = 5


def corpus(rng: random.Random, rows: int, terms: list[str]) -> list[list[str]]:
    # A few common terms and many rare ones: IDFs stay positive, and ranks have gaps and ties both.
    return [[rng.choice(terms[: rng.choice([6, len(terms)])]) for _ in range(rng.randint(1, 9))] for _ in range(rows)]


def triples(rows: list[list[str]], vocabulary: dict[str, int]) -> tuple[np.ndarray, ...]:
    """(row, term, count) triples and row lengths, term ids added to `vocabulary` as they come."""
    out: list[tuple[int, int, int]] = []
    for row, tokens in enumerate(rows):
        counts: dict[int, int] = {}
        for token in tokens:
            term = vocabulary.setdefault(token, len(vocabulary))
            counts[term] = counts.get(term, 0) + 1
        out += [(row, term, count) for term, count in counts.items()]
    r, c, n = (np.array(column, dtype=np.int64) for column in zip(*out))
    return r, c, n, np.array([len(tokens) for tokens in rows], dtype=np.int32)


def fresh(rows: list[list[str]], vocabulary: dict[str, int], avgdl: float | None = None) -> BM25:
    """A build over all rows at once; with `avgdl`, its postings weighed with that average length instead."""
    r, c, n, lengths = triples(rows, dict(vocabulary))
    index = BM25.from_pairs(r, c, n, lengths, len(vocabulary))
    if avgdl is None:
        return index
    k1, b, _ = index.params
    weights = _weights(index.postings, index.counts, index.lengths, k1, b, avgdl=avgdl)
    return BM25(index.postings, index.counts, index.indptr, index.lengths, index.idf, weights, index.params)


def stacked(main_rows: list[list[str]], bursts: list[list[list[str]]]) -> tuple[Stacked, dict[str, int], BM25]:
    """A main index with each burst appended in turn; the vocabulary of all, and the main index."""
    vocabulary: dict[str, int] = {}
    r, c, n, lengths = triples(main_rows, vocabulary)
    main = BM25.from_pairs(r, c, n, lengths, len(vocabulary))
    index: BM25 | Stacked = main
    for burst in bursts:
        r, c, n, lengths = triples(burst, vocabulary)
        index = Stacked.appended(index, r, c, n, lengths, len(vocabulary))
    assert isinstance(index, Stacked)
    return index, vocabulary, main


def queries(rng: random.Random, vocabulary: dict[str, int]) -> list[list[int]]:
    ids = list(vocabulary.values())
    return [[rng.choice(ids) for _ in range(rng.randint(1, 4))] + [-1, len(vocabulary) + 3] for _ in range(30)]


def split(rng: random.Random, bursts: int) -> tuple[list[list[str]], list[list[list[str]]]]:
    # The delta brings terms the main index never had, too.
    main = corpus(rng, 40, TERMS[:30])
    return main, [corpus(rng, rng.randint(1, 4), TERMS) for _ in range(bursts)]


@pytest.mark.parametrize("seed", range(6))
def test_a_stacked_index_is_one_index_weighed_with_the_main_average_length(seed: int) -> None:
    # The parts share the IDF of all rows and the main index's average length: nothing else differs.
    rng = random.Random(seed)
    main_rows, bursts = split(rng, 1)
    index, vocabulary, main = stacked(main_rows, bursts)
    every = main_rows + bursts[0]
    reference = fresh(every, vocabulary, avgdl=average_length(main))
    assert index.n_rows == reference.n_rows == len(every)
    assert index.n_terms == reference.n_terms
    np.testing.assert_array_equal(index.idf, reference.idf)
    np.testing.assert_array_equal(index.lengths, reference.lengths)
    all_rows = np.arange(len(every))
    for query in queries(rng, vocabulary):
        rows, scores = index.top(query, K)
        want_rows, want_scores = reference.top(query, K)
        np.testing.assert_array_equal(rows, want_rows)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-12)
        got, hits = index.lookup(query, all_rows[::-1])
        want, want_hits = reference.lookup(query, all_rows[::-1])
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_array_equal(hits, want_hits)
        np.testing.assert_array_equal(index.contains(query, all_rows), reference.contains(query, all_rows))
        np.testing.assert_array_equal(index.matches(query, all_rows), reference.matches(query, all_rows))


@pytest.mark.parametrize("seed", range(6))
def test_a_stacked_index_is_within_its_drift_of_a_fresh_build(seed: int) -> None:
    # Each weight moves by at most the relative change of the average length (stacked.drift), and so does
    # each score (positive IDFs here): ranks may swap only between rows closer than that.
    rng = random.Random(50 + seed)
    main_rows, bursts = split(rng, 3)
    index, vocabulary, _ = stacked(main_rows, bursts)
    exact = fresh(main_rows + [row for burst in bursts for row in burst], vocabulary)
    tolerance = drift(index) + 1e-12
    assert 0 < drift(index) < 0.2  # the bursts did move the average: the bound is tested, not vacuous
    for query in queries(rng, vocabulary):
        rows, scores = index.top(query, K)
        _, want_scores = exact.top(query, K)
        np.testing.assert_allclose(exact.scores(query, rows), scores, rtol=tolerance)
        # The rows found score, in the fresh build, what its own top k score: the same ranking up to near-ties.
        np.testing.assert_allclose(np.sort(exact.scores(query, rows))[::-1], want_scores, rtol=2 * tolerance)


@pytest.mark.parametrize("seed", range(4))
def test_appending_in_bursts_equals_appending_all_at_once(seed: int) -> None:
    rng = random.Random(100 + seed)
    main_rows, bursts = split(rng, 4)
    in_bursts, vocabulary, _ = stacked(main_rows, bursts)
    at_once, _, _ = stacked(main_rows, [[row for burst in bursts for row in burst]])
    all_rows = np.arange(in_bursts.n_rows)
    np.testing.assert_array_equal(in_bursts.idf, at_once.idf)
    for query in queries(rng, vocabulary):
        np.testing.assert_array_equal(in_bursts.top(query, K)[0], at_once.top(query, K)[0])
        np.testing.assert_allclose(in_bursts.scores(query, all_rows), at_once.scores(query, all_rows), rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_updating_a_stacked_index_gives_the_exact_index(seed: int) -> None:
    # What a merge does: the delta's rows join the main index's, and every weight is a fresh build's again.
    rng = random.Random(200 + seed)
    main_rows, bursts = split(rng, 2)
    index, vocabulary, _ = stacked(main_rows, bursts)
    every = main_rows + [row for burst in bursts for row in burst]
    # The delta's rows move to the front, the main rows after them, in their order: as a sorted merge moves them.
    n_delta = index.n_rows - index.n_main
    row_map = np.concatenate([np.arange(n_delta, index.n_rows), np.arange(n_delta)])
    merged = index.updated(row_map, *(np.zeros(0, np.int64),) * 3, index.lengths[np.argsort(row_map)], len(vocabulary))
    exact = fresh(every[index.n_main :] + every[: index.n_main], vocabulary)
    for name in ("postings", "counts", "indptr", "lengths", "idf", "weights"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(exact, name), err_msg=name)


def test_a_view_under_a_longer_idf_shares_the_postings_and_knows_no_new_term() -> None:
    index, _ = BM25.from_tokens([["a", "b"], ["b", "c"], ["c"]])
    idf = np.concatenate([index.idf * 2, [5.0]])
    view = index.with_idf(idf)
    assert view.postings is index.postings and view.weights is index.weights
    assert view.n_terms == 4 and view.top([3], 3)[0].size == 0
    np.testing.assert_allclose(view.scores([0, 1, 2], np.arange(3)), 2 * index.scores([0, 1, 2], np.arange(3)))
    with pytest.raises(ValueError):
        index.with_idf(idf[:2])
