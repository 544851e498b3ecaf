"""Exact BM25 over an inverted index: rank-bm25's BM25Okapi scores without scanning every row."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# rank-bm25's BM25Okapi defaults, kept so that scores match it exactly.
K1, B, EPSILON = 1.5, 0.75, 0.25
# Postings are weighted this many at a time, to keep temporaries small.
SLICE = 1 << 20
# Relative rounding a score can carry when its terms are summed in another order (see BM25.top).
TOLERANCE = 1e-9
# Looking a row up in every term's postings costs about as much as adding this many postings per term into the
# scores (np.add.at adds one in about a nanosecond; a binary search takes tens). Tuned on the 1M benchmark: 8, 16,
# 32, 64 gave query p99 2.2–2.7, 2.0–2.3, 1.3–1.8, 1.4–2.0 ms.
LOOKUP_COST = 32
# What an index is made of, and what a snapshot stores of it.
ARRAYS = ("postings", "counts", "indptr", "lengths", "idf", "weights")


@dataclass(frozen=True)
class _Plan:
    """How `BM25.top` goes through a query's terms: their order and the bounds its checks compare."""

    order: list[int]
    times: Counter[int]
    bounds: list[float]
    prunable: bool
    ceilings: list[float]
    remaining: list[int]
    slack: float


class BM25:
    """rank-bm25's BM25Okapi scores, computed from an inverted index instead of a scan of every row."""

    def __init__(
        self,
        postings: np.ndarray,
        counts: np.ndarray,
        indptr: np.ndarray,
        lengths: np.ndarray,
        idf: np.ndarray,
        weights: np.ndarray,
        params: tuple[float, float, float] = (K1, B, EPSILON),
        max_weight: np.ndarray | None = None,
    ) -> None:
        """An index from its arrays, as `from_postings` computes them or a snapshot maps them from disk.

        `max_weight` (each term's largest weight) is given by a view that shares another index's weights.
        """
        self.params = params
        self.n_rows = len(lengths)
        self.n_terms = len(indptr) - 1
        if self.n_rows == 0:
            raise ValueError("BM25 needs at least one row")
        if len(idf) != self.n_terms or not len(postings) == len(counts) == len(weights) == int(indptr[-1]):
            raise ValueError("BM25 arrays disagree in length")
        self.postings, self.counts, self.indptr, self.lengths = postings, counts, indptr, lengths
        self.idf, self.weights = idf, weights
        # Queries slice plain views of the same (possibly mapped) pages: slicing a np.memmap builds a memmap
        # object each time, which costs more than the slice itself when a term has a few postings.
        self._postings, self._weights, self._indptr, self._idf = map(np.asarray, (postings, weights, indptr, idf))
        # The most one posting of each term can add, for skipping rows that cannot reach the top (see `top`).
        self.max_weight = _max_weights(weights, indptr) if max_weight is None else max_weight
        if len(self.max_weight) != self.n_terms:
            raise ValueError("BM25 arrays disagree in length")
        self._local = threading.local()

    @classmethod
    def from_postings(
        cls,
        postings: np.ndarray,
        counts: np.ndarray,
        df: np.ndarray,
        lengths: np.ndarray,
        k1: float = K1,
        b: float = B,
        epsilon: float = EPSILON,
    ) -> BM25:
        """An index over CSR postings: each term's rows (ascending) and counts, term by term, `df` rows per term."""
        lengths = np.asarray(lengths, dtype=np.int32)
        if len(lengths) == 0:
            raise ValueError("BM25 needs at least one row")
        indptr = np.zeros(len(df) + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        idf = _idf(np.asarray(df), len(lengths), epsilon)
        weights = _weights(postings, counts, lengths, k1, b)
        return cls(postings, counts, indptr, lengths, idf, weights, (k1, b, epsilon))

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that make up the index, by the names `__init__` takes them."""
        return {name: getattr(self, name) for name in ARRAYS}

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The index's (row, term, count) triples, term by term: what `from_pairs` would index again."""
        terms = np.repeat(np.arange(self.n_terms, dtype=np.int32), np.diff(self.indptr))
        return np.asarray(self.postings), terms, np.asarray(self.counts)

    def with_idf(self, idf: np.ndarray) -> BM25:
        """The same postings and weights under another IDF, over as many terms as it has (terms past ours: none).

        A view: no array of postings is copied, and each term's largest weight is kept rather than found again.
        """
        extra = len(idf) - self.n_terms
        if extra < 0:
            raise ValueError("an IDF over fewer terms than the index has")
        indptr = np.concatenate([self.indptr, np.full(extra, self.indptr[-1], dtype=np.int64)])
        max_weight = np.concatenate([self.max_weight, np.zeros(extra)])
        arrays = self.arrays() | {"indptr": indptr, "idf": idf}
        return BM25(**arrays, params=self.params, max_weight=max_weight)

    @classmethod
    def from_pairs(
        cls,
        rows: np.ndarray,
        columns: np.ndarray,
        counts: np.ndarray,
        lengths: np.ndarray,
        n_terms: int,
        k1: float = K1,
        b: float = B,
        epsilon: float = EPSILON,
    ) -> BM25:
        """Index (row, term, count) triples in any order, over rows of the given lengths."""
        # A stable sort by term keeps each term's rows ascending, which `scores` and `updated` rely on.
        order = np.argsort(columns, kind="stable")
        postings = np.ascontiguousarray(rows[order], dtype=np.int32)
        tf = np.ascontiguousarray(counts[order], dtype=np.int32)
        del order
        return cls.from_postings(postings, tf, np.bincount(columns, minlength=n_terms), lengths, k1, b, epsilon)

    def updated(
        self,
        row_map: np.ndarray,
        rows: np.ndarray,
        columns: np.ndarray,
        counts: np.ndarray,
        lengths: np.ndarray,
        n_terms: int,
    ) -> BM25:
        """This index with its rows renumbered by `row_map` (-1 drops one) and new (row, column, count) postings.

        The result equals a fresh build over the same rows, and costs a few passes over the postings
        instead of a sort of them all: what makes a reload after a small change quick.
        """
        terms = np.repeat(np.arange(self.n_terms, dtype=np.int32), np.diff(self.indptr))
        moved = row_map[self.postings]
        keep = moved >= 0
        terms, moved, tf = terms[keep], moved[keep].astype(np.int32), self.counts[keep]
        del keep
        order = np.lexsort((rows, columns))
        new_terms, new_rows, new_counts = columns[order], rows[order], counts[order]
        width = np.int64(len(lengths))
        # Renumbering keeps rows in order, so the kept postings stay sorted by (term, row).
        at = np.searchsorted(terms.astype(np.int64) * width + moved, new_terms.astype(np.int64) * width + new_rows)
        postings = np.insert(moved, at, new_rows.astype(np.int32))
        del moved
        tf = np.insert(tf, at, new_counts.astype(np.int32))
        df = np.bincount(np.insert(terms, at, new_terms.astype(np.int32)), minlength=n_terms)
        del terms
        return BM25.from_postings(postings, tf, df, lengths, *self.params)

    @classmethod
    def from_tokens(cls, corpus: Sequence[Sequence[str]], **params: float) -> tuple[BM25, dict[str, int]]:
        """Index token lists as rank-bm25 would; return the index and its term ids."""
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        for row, tokens in enumerate(corpus):
            tf: dict[int, int] = {}
            for token in tokens:
                term = vocabulary.setdefault(token, len(vocabulary))
                tf[term] = tf.get(term, 0) + 1
            rows.extend([row] * len(tf))
            columns.extend(tf)
            counts.extend(tf.values())
        lengths = np.array([len(tokens) for tokens in corpus], dtype=np.int64)
        index = cls.from_pairs(
            np.array(rows, dtype=np.int32),
            np.array(columns, dtype=np.int64),
            np.array(counts, dtype=np.int64),
            lengths,
            len(vocabulary),
            **params,
        )
        return index, vocabulary

    def _buffer(self) -> np.ndarray:
        # One score accumulator per thread: concurrent queries never share one, and none is reallocated.
        buffer = getattr(self._local, "scores", None)
        if buffer is None:
            buffer = self._local.scores = np.zeros(self.n_rows)
        return buffer

    def _known(self, query: Iterable[int]) -> list[int]:
        return [t for t in query if 0 <= t < self.n_terms and self._indptr[t] < self._indptr[t + 1]]

    def top(self, query: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows that share a term with the query, best first, with their exact scores.

        MaxScore's idea: the query's terms are added rarest first, and after each one the rows found so
        far are checked against the most the terms still to come could add to a row (the sum of their
        largest postings). Once k rows already beat that, no row outside them can enter the top k, and
        a question with "said" in it need not touch a third of the corpus. The few rows that can still
        make it are then scored exactly, term by term in the query's order, as rank-bm25 adds them.
        """
        terms = self._known(query)
        if not terms or k <= 0:
            return np.empty(0, dtype=np.int32), np.empty(0)
        rows = self._survivors(self._plan(terms), k)
        exact = self.scores(terms, rows)
        best = np.lexsort((rows, -exact))[:k]
        return rows[best], exact[best]

    def _plan(self, terms: list[int]) -> _Plan:
        """The order in which `top` adds the query's terms (rarest first) and what each can add at most."""
        times = Counter(terms)
        order = sorted(times, key=lambda t: (int(self._indptr[t + 1] - self._indptr[t]), t))
        bounds = [times[t] * float(self._idf[t] * self.max_weight[t]) for t in order]
        sizes = [int(self._indptr[t + 1] - self._indptr[t]) for t in order]
        return _Plan(
            order=order,
            times=times,
            bounds=bounds,
            # What the terms after each one can add at most; a negative IDF (the floor can be one) bounds nothing.
            prunable=all(self._idf[t] > 0 for t in order),
            ceilings=np.cumsum(bounds[::-1])[::-1].tolist()[1:] + [0.0],
            remaining=np.cumsum(sizes[::-1])[::-1].tolist()[1:] + [0],
            # Sums in another order differ in the last bits: rows this close to the k-th best are scored exactly.
            slack=TOLERANCE * sum(abs(b) for b in bounds),
        )

    def _survivors(self, plan: _Plan, k: int) -> np.ndarray:
        """Add the terms in the plan's order until a check settles which rows can still be in the top k."""
        scores = self._buffer()
        touched: list[np.ndarray] = []
        rows: np.ndarray | None = None
        kth_bound = 0.0  # the most the k-th best row touched so far can score
        kth_floor = 0.0  # the least the k-th best row in the end will score, known from an earlier check
        order, ceilings, slack = plan.order, plan.ceilings, plan.slack
        try:
            for i, term in enumerate(order):
                touched.append(self._add(scores, term, plan.times[term]))
                kth_bound += plan.bounds[i]
                last = i == len(order) - 1
                if not last and (not plan.prunable or kth_bound <= ceilings[i] + 2 * slack):
                    continue  # the rows found so far cannot outscore the terms still to come: no check
                # Rows first met in a term from `essential` on score at most what that term and the ones after
                # add, and when that falls short of the k-th best already found they need no look.
                essential = i + 1
                while plan.prunable and essential > 1 and ceilings[essential - 2] < kth_floor - 2 * slack:
                    essential -= 1
                # Early, the rows left are scored by lookups in every term's postings: worth it only while
                # they are few beside the postings still to add.
                budget = None if last else plan.remaining[i] / LOOKUP_COST / len(order)
                rows, kth = self._settled(scores, touched[:essential], k, ceilings[i], slack, budget)
                if rows is not None:
                    break
                if kth is not None:
                    kth_bound = kth  # each term still to come raises it by its bound at most
                    kth_floor = max(kth_floor, kth)
        finally:
            self._clear(scores, touched)
        assert rows is not None  # the last term's check always settles
        return rows

    def _add(self, scores: np.ndarray, term: int, times: int) -> np.ndarray:
        """Add a term's contributions into the score buffer; return the rows it touched."""
        lo, hi = self._indptr[term], self._indptr[term + 1]
        rows = self._postings[lo:hi]
        # A term's rows are distinct, so this adds what `scores[rows] += …` adds, in one pass instead of three.
        np.add.at(scores, rows, times * self._idf[term] * self._weights[lo:hi])
        return rows

    def _clear(self, scores: np.ndarray, touched: list[np.ndarray]) -> None:
        if sum(len(rows) for rows in touched) > self.n_rows // 8:
            scores.fill(0.0)  # one pass over the buffer beats scattered writes to a large part of it
        else:
            for rows in touched:
                scores[rows] = 0.0

    @staticmethod
    def _settled(
        scores: np.ndarray, touched: list[np.ndarray], k: int, ceiling: float, slack: float, budget: float | None
    ) -> tuple[np.ndarray | None, float | None]:
        """The touched rows that can still make the top k, and the k-th best score so far (None: fewer rows).

        The rows are None while untouched rows could still enter, or while more than `budget` rows could
        (budget None: every term is in).
        """
        last = budget is None
        candidates = touched[0] if len(touched) == 1 else np.concatenate(touched)
        values = np.take(scores, candidates)
        # A row occurs at most once per term, so the best this many entries hold k distinct rows (or all there are).
        wanted = min(len(candidates), k * len(touched))
        best, least = candidates, -np.inf
        if wanted < len(candidates):
            least = np.partition(values, len(values) - wanted)[len(values) - wanted]
            best = candidates[values >= least]
        best = np.unique(best)
        if len(best) < k:
            return (best if last else None), None
        best_values = np.take(scores, best)
        kth = float(np.partition(best_values, len(best) - k)[len(best) - k])
        if not last and kth - slack <= ceiling + slack:
            return None, kth
        # A row outside these cannot reach the k-th best even with the largest the other terms could add.
        floor = kth - ceiling - 2 * slack
        if floor >= least:
            survivors = best[best_values >= floor]  # every row above the floor is among the best already
        else:
            keep = values >= floor
            if budget is not None and np.count_nonzero(keep) > budget:
                return None, kth
            survivors = np.unique(candidates[keep])
        if budget is not None and len(survivors) > budget:
            return None, kth
        return survivors, kth

    def scores(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """Exact scores of the given rows (zero where they share no term with the query)."""
        return self.lookup(query, rows)[0]

    def matches(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """How many distinct query terms each of the given rows contains."""
        distinct = list(dict.fromkeys(self._known(query)))
        return self.contains(distinct, rows).sum(axis=1, dtype=np.int32)

    def contains(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """A (rows × query terms) matrix: whether each of the given rows holds each query term."""
        return self.lookup(query, rows)[1]

    def lookup(self, query: Sequence[int], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`scores` and `contains` of the same rows at once: one search of each term's postings serves both."""
        rows = np.asarray(rows, dtype=np.int32)
        scores = np.zeros(len(rows))
        hits = np.zeros((len(rows), len(query)), dtype=bool)
        for j, term in enumerate(query):
            if 0 <= term < self.n_terms and self._indptr[term] < self._indptr[term + 1]:
                at, hit = self._find(term, rows)
                hits[:, j] = hit
                # Terms are added in the query's order, repeats included, as rank-bm25 adds them.
                scores[hit] += self._idf[term] * self._weights[self._indptr[term] : self._indptr[term + 1]][at[hit]]
        return scores, hits

    def submit(self, method: str, *args: object) -> Callable[[], Any]:
        """Run a query method; the function returned gives its result (a sharded index answers it meanwhile)."""
        result = getattr(self, method)(*args)
        return lambda: result

    def _find(self, term: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each row would stand in a term's postings (ascending rows), and whether it is there."""
        postings = self._postings[self._indptr[term] : self._indptr[term + 1]]
        at = np.minimum(np.searchsorted(postings, rows), len(postings) - 1)
        return at, postings[at] == rows


def _max_weights(weights: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """The largest weight of each term's postings (0 for a term with none)."""
    largest = np.zeros(len(indptr) - 1)
    nonempty = np.flatnonzero(np.diff(indptr) > 0)
    if len(nonempty):
        largest[nonempty] = np.maximum.reduceat(weights, indptr[nonempty])
    return largest


def _idf(df: np.ndarray, n_rows: int, epsilon: float) -> np.ndarray:
    """rank-bm25's IDF: terms in more than half the rows get a floor of epsilon × the mean IDF."""
    idf = np.log(n_rows - df + 0.5) - np.log(df + 0.5)
    present = df > 0
    average_idf = float(idf[present].sum() / present.sum()) if present.any() else 0.0
    idf[present & (idf < 0)] = epsilon * average_idf
    idf[~present] = 0.0
    return idf


def _weights(
    postings: np.ndarray, counts: np.ndarray, lengths: np.ndarray, k1: float, b: float, avgdl: float | None = None
) -> np.ndarray:
    """Each posting's tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)), rank-bm25's term weight before the IDF.

    `avgdl` defaults to these rows' own; a shard of a larger index passes the whole index's (bot/cluster.py).
    """
    # The same operations in the same order as rank-bm25, so the bits agree, but the length part once per
    # row and the rest in place, a slice at a time: at a million rows every temporary the size of the
    # postings costs a hundred megabytes.
    if avgdl is None:
        avgdl = float(lengths.sum(dtype=np.int64)) / len(lengths)
    weights = np.empty(len(postings))
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = k1 * (1 - b + b * lengths.astype(np.float64) / avgdl)
        for start in range(0, len(postings), SLICE):
            part = slice(start, start + SLICE)
            tf = counts[part].astype(np.float64)
            out = weights[part]
            np.take(norm, postings[part], out=out)
            out += tf
            tf *= k1 + 1
            np.divide(tf, out, out=out)
    return weights
