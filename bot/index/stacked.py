"""A large index and a small one of the rows appended since, searched as one: how a new post is found at once.

Adding rows to a BM25 index in place changes every weight (the average length moves) and, when the rows land
mid-order, every row number after them. Instead the rows appended since the last full build go into a delta
of their own, numbered after the main index's rows, until a merge (`Library.compacted`) builds the exact form.

Both parts score with the IDF of all their rows together (the document frequencies of both, over the rows of
both), and both weigh their postings with the main index's average length. Scores of the two parts are then
scores of one index whose average length is the main part's: exactly what a fresh build over all the rows
gives, except that the fresh build's average length takes the appended rows in too. Each weight, and so each
score, differs from the fresh build's by at most the relative change of the average length (see `drift`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bot.index.bm25 import BM25, _idf, _weights


class Stacked:
    """BM25's query interface (`top`, `lookup`, `idf`…) over a main index and a delta of rows appended after it."""

    def __init__(self, main: BM25, delta: BM25) -> None:
        """Two parts under the same IDF: rows 0…n_main-1 are the main index's, the delta's follow."""
        if main.n_terms != delta.n_terms or main.idf is not delta.idf:
            raise ValueError("a stacked index's parts must share one IDF")
        self.main, self.delta = main, delta
        self.n_main = main.n_rows
        self.n_rows = main.n_rows + delta.n_rows
        self.n_terms = delta.n_terms
        self.idf = delta.idf
        self.params = main.params
        self.lengths = np.concatenate([main.lengths, delta.lengths])

    @classmethod
    def appended(
        cls,
        index: BM25 | Stacked,
        rows: np.ndarray,
        columns: np.ndarray,
        counts: np.ndarray,
        lengths: np.ndarray,
        n_terms: int,
    ) -> Stacked:
        """`index` with rows added after its own: (row, term, count) triples, rows numbered from 0 at the first.

        The main index's postings are shared, not copied; the delta (small) is indexed again with the new rows.
        """
        main = index.main if isinstance(index, Stacked) else index
        if isinstance(index, Stacked):
            old_rows, old_columns, old_counts = index.delta.pairs()
            shift = np.int32(index.delta.n_rows)
            rows = np.concatenate([old_rows, np.asarray(rows, dtype=np.int32) + shift])
            columns = np.concatenate([old_columns, np.asarray(columns, dtype=np.int32)])
            counts = np.concatenate([old_counts, np.asarray(counts, dtype=np.int32)])
            lengths = np.concatenate([index.delta.lengths, np.asarray(lengths, dtype=np.int32)])
        return cls._build(main, rows, columns, counts, np.asarray(lengths, dtype=np.int32), n_terms)

    @classmethod
    def _build(
        cls, main: BM25, rows: np.ndarray, columns: np.ndarray, counts: np.ndarray, lengths: np.ndarray, n_terms: int
    ) -> Stacked:
        """The main index under the IDF of both parts, and the delta weighed with the main index's average length."""
        order = np.lexsort((rows, columns))  # by term, then row: the order a term's postings are searched in
        postings = np.ascontiguousarray(rows[order], dtype=np.int32)
        tf = np.ascontiguousarray(counts[order], dtype=np.int32)
        delta_df = np.bincount(columns, minlength=n_terms)
        df = delta_df.copy()
        df[: main.n_terms] += np.diff(main.indptr)
        k1, b, epsilon = main.params
        idf = _idf(df, main.n_rows + len(lengths), epsilon)
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(delta_df, out=indptr[1:])
        weights = _weights(postings, tf, lengths, k1, b, avgdl=average_length(main))
        delta = BM25(postings, tf, indptr, lengths, idf, weights, main.params)
        return cls(main.with_idf(idf), delta)

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The delta's (row, term, count) triples in the stacked numbering (rows from n_main)."""
        rows, columns, counts = self.delta.pairs()
        return rows.astype(np.int64) + self.n_main, columns, counts

    def updated(
        self,
        row_map: np.ndarray,
        rows: np.ndarray,
        columns: np.ndarray,
        counts: np.ndarray,
        lengths: np.ndarray,
        n_terms: int,
    ) -> BM25:
        """One exact index, as `BM25.updated` makes it: the delta's rows count among the new postings."""
        delta_rows, delta_columns, delta_counts = self.pairs()
        moved = row_map[delta_rows]
        keep = moved >= 0
        return self.main.updated(
            row_map[: self.n_main],
            np.concatenate([np.asarray(rows, dtype=np.int64), moved[keep]]),
            np.concatenate([np.asarray(columns, dtype=np.int64), delta_columns[keep]]),
            np.concatenate([np.asarray(counts, dtype=np.int64), delta_counts[keep]]),
            lengths,
            n_terms,
        )

    def top(self, query: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows of both parts, best first; ties go to the lower row, as in one index."""
        main_rows, main_scores = self.main.top(query, k)
        delta_rows, delta_scores = self.delta.top(query, k)
        rows = np.concatenate([main_rows.astype(np.int64), delta_rows.astype(np.int64) + self.n_main])
        scores = np.concatenate([main_scores, delta_scores])
        best = np.lexsort((rows, -scores))[:k]
        return rows[best], scores[best]

    def lookup(self, query: Sequence[int], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`scores` and `contains` of the same rows, each part asked about its own."""
        rows = np.asarray(rows, dtype=np.int64)
        scores = np.zeros(len(rows))
        hits = np.zeros((len(rows), len(query)), dtype=bool)
        low = rows < self.n_main
        for part, where, local in (
            (self.main, low, rows[low]),
            (self.delta, ~low, rows[~low] - self.n_main),
        ):
            if len(local):
                scores[where], hits[where] = part.lookup(query, local)
        return scores, hits

    def scores(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """Scores of the given rows (zero where they share no term with the query)."""
        return self.lookup(query, rows)[0]

    def contains(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """A (rows × query terms) matrix: whether each of the given rows holds each query term."""
        return self.lookup(query, rows)[1]

    def matches(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """How many distinct query terms each of the given rows contains."""
        distinct = list(dict.fromkeys(t for t in query if 0 <= t < self.n_terms))
        return self.contains(distinct, rows).sum(axis=1, dtype=np.int32)

    def submit(self, method: str, *args: object) -> Callable[[], Any]:
        """Run a query method; the function returned gives its result (as `BM25.submit`)."""
        result = getattr(self, method)(*args)
        return lambda: result


def average_length(index: BM25) -> float:
    """The average row length an index weighs its postings with (rank-bm25's avgdl)."""
    return float(index.lengths.sum(dtype=np.int64)) / index.n_rows


def drift(index: Stacked) -> float:
    """How far a score may be from a fresh build's, relatively: the change in average length the delta makes.

    A weight is tf·(k1+1) / (tf + k1·(1−b) + k1·b·dl/avgdl); scaling avgdl by (1+ε) scales it by a factor
    between 1 and 1+ε, and a score is a sum of such weights times non-negative IDFs.
    """
    return abs(average_length(index.main) / (float(index.lengths.sum(dtype=np.int64)) / index.n_rows) - 1)
