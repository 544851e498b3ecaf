"""Sharded search on Dask distributed: the indexes split by document, each shard kept on a worker.

A document belongs to shard `hash(path) mod N`, so an edit changes one shard's membership and no other's.
Each shard's postings are one Dask task's result, held by the worker that computed it; a query is one
call per shard to a small server (a Dask actor) on the worker holding it, and the client merges the
shards' best k.

BM25 needs corpus-wide figures: each shard reports its row count, total length and document frequencies,
one task reduces them to rank-bm25's IDF (with its floor, epsilon × the mean IDF over every present term)
and the average length, and every shard weighs its postings with those. A shard's scores are then the
single index's scores, bit for bit. The postings are task arguments, not scattered data, so a worker that
dies takes nothing with it: the scheduler recomputes its shards elsewhere from their lineage.

Requires the `cluster` extra (`pip install 'citebot[cluster]'`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import numpy as np
from dask.sizeof import sizeof
from distributed import Client, Future, LocalCluster, wait
from distributed.security import Security

from bot.index.bm25 import BM25, _idf, _weights
from bot.index.library import Library
from bot.index.loader import load_library

log = logging.getLogger(__name__)

LOCAL = "local"
# A LocalCluster's shape, when CITEBOT_DASK_SCHEDULER=local: two single-threaded worker processes.
LOCAL_WORKERS = 2
# A query whose calls fail (a worker died under them) is sent again this many times before giving up.
RETRIES = 3
# Before restarting shard servers, time for the scheduler to notice a dead worker and not pick it again.
RESTART_PAUSE = 0.2
# What a worker's environment must not hold: the token, the webhook secret, anything else of the bot's.
SECRETS = ("TELEGRAM_", "CITEBOT_")
PLAIN = (
    "a plain tcp:// scheduler lets anyone who can reach it run code as citebot; use tls:// with "
    "CITEBOT_DASK_TLS_CA, CITEBOT_DASK_TLS_CERT and CITEBOT_DASK_TLS_KEY, or set CITEBOT_DASK_ALLOW_PLAIN=true "
    "on a network only citebot can reach"
)


@dataclass(frozen=True, eq=False)
class Structure:
    """A shard's postings before weighting: local rows (ascending per term), counts, per-term df, row lengths."""

    postings: np.ndarray
    counts: np.ndarray
    df: np.ndarray
    lengths: np.ndarray


@dataclass(frozen=True, eq=False)
class Totals:
    """What a shard reports for the global statistics."""

    n_rows: int
    length: int
    df: np.ndarray


@dataclass(frozen=True, eq=False)
class Statistics:
    """The whole index's figures that every shard's weights depend on, with the version they belong to."""

    version: int
    n_rows: int
    avgdl: float
    idf: np.ndarray
    params: tuple[float, float, float]


class Shard:
    """A weighted shard: a BM25 over the shard's rows with the whole index's IDF and average length."""

    def __init__(self, version: int, index: BM25) -> None:
        self.version = version
        self.index = index

    def __reduce__(self) -> tuple[Any, ...]:
        # BM25 keeps per-thread buffers, which do not pickle; its arrays are all a copy needs.
        return _unpickle_shard, (self.version, self.index.arrays(), self.index.params)


def _unpickle_shard(version: int, arrays: dict[str, np.ndarray], params: tuple[float, float, float]) -> Shard:
    return Shard(version, BM25(**arrays, params=params))


# The scheduler keeps a task's result where it is when the result is large: it must know a shard's true size.
@sizeof.register(Shard)
def _sizeof_shard(shard: Shard) -> int:
    return sum(array.nbytes for array in shard.index.arrays().values())


@sizeof.register(Structure)
def _sizeof_structure(structure: Structure) -> int:
    return structure.postings.nbytes + structure.counts.nbytes + structure.df.nbytes + structure.lengths.nbytes


# Tasks: each runs on a worker.


def _totals(structure: Structure) -> Totals:
    return Totals(len(structure.lengths), int(structure.lengths.sum(dtype=np.int64)), structure.df)


def _reduce(version: int, n_terms: int, params: tuple[float, float, float], *totals: Totals) -> Statistics:
    """rank-bm25's IDF and average length over all shards, exactly as one index over all rows computes them."""
    df = np.zeros(n_terms, dtype=np.int64)
    for part in totals:
        df[: len(part.df)] += part.df
    n_rows = sum(part.n_rows for part in totals)
    avgdl = float(sum(part.length for part in totals)) / n_rows
    return Statistics(version, n_rows, avgdl, _idf(df, n_rows, params[2]), params)


def _weigh(structure: Structure, statistics: Statistics) -> Shard:
    """The shard's BM25 with the global statistics."""
    n_terms = len(statistics.idf)
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(structure.df, out=indptr[1 : len(structure.df) + 1])
    indptr[len(structure.df) + 1 :] = indptr[len(structure.df)]  # terms new since the shard was built: none here
    k1, b, _ = statistics.params
    weights = _weights(structure.postings, structure.counts, structure.lengths, k1, b, statistics.avgdl)
    index = BM25(
        structure.postings, structure.counts, indptr, structure.lengths, statistics.idf, weights, statistics.params
    )
    return Shard(statistics.version, index)


class ShardServer:
    """A Dask actor serving one shard's queries from the worker that holds it.

    Calls to an actor go straight from the client to its worker; a task per shard per call would pass
    through the scheduler and its batching, several milliseconds each.
    """

    def __init__(self, shard: Shard) -> None:
        self.shard = shard

    def _index(self, version: int) -> BM25:
        if self.shard.version != version:
            raise RuntimeError(f"shard of version {self.shard.version} asked for version {version}")
        return self.shard.index

    def top(self, version: int, query: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The shard's k best local rows."""
        return self._index(version).top(query, k)

    def scores(self, version: int, query: list[int], rows: np.ndarray) -> np.ndarray:
        """Scores of local rows."""
        return self._index(version).scores(query, rows)

    def matches(self, version: int, query: list[int], rows: np.ndarray) -> np.ndarray:
        """Distinct query terms in local rows."""
        return self._index(version).matches(query, rows)

    def contains(self, version: int, query: list[int], rows: np.ndarray) -> np.ndarray:
        """Which query terms local rows hold."""
        return self._index(version).contains(query, rows)

    def lookup(self, version: int, query: list[int], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores of local rows and which query terms they hold, in one call."""
        return self._index(version).lookup(query, rows)


# The client's side.


class ShardedIndex:
    """BM25's query interface (`top`, `scores`, `matches`, `contains`, `idf`…) over shards held by Dask workers."""

    def __init__(
        self,
        client: Client,
        shards: Sequence[Future],
        members: Sequence[np.ndarray],
        statistics: Statistics,
        lengths: np.ndarray,
    ) -> None:
        self.client = client
        self.shards = list(shards)  # futures of the weighted shards: the scheduler can recompute them when lost
        self.members = [np.asarray(m, dtype=np.int64) for m in members]  # each shard's global row ids, ascending
        self.version = statistics.version
        self.params = statistics.params
        self.idf = statistics.idf
        self.n_rows = statistics.n_rows
        self.n_terms = len(statistics.idf)
        self.lengths = lengths
        self._shard_of = np.empty(self.n_rows, dtype=np.int32)
        self._local = np.empty(self.n_rows, dtype=np.int32)
        for number, rows in enumerate(self.members):
            self._shard_of[rows] = number
            self._local[rows] = np.arange(len(rows), dtype=np.int32)
        self._lock = threading.Lock()
        self._servers: tuple[list[Future], list[Any]] | None = self._start_servers()

    def _start_servers(self) -> tuple[list[Future], list[Any]]:
        # Each server runs where its shard is: the shard is not copied, and queries go where the data lives.
        # A shard that was lost is recomputed from its lineage first, wherever the scheduler puts it.
        holders = self.client.who_has(self.shards)
        futures = [
            self.client.submit(ShardServer, shard, actor=True, pure=False, **_near(holders.get(shard.key, ())))
            for shard in self.shards
        ]
        return futures, [future.result() for future in futures]

    def top(self, query: Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows over all shards, best first; ties go to the lower global row, as in one index."""
        return self._submit_top(query, k)()

    def scores(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """Exact scores of the given global rows."""
        return self._submit_lookup(query, rows)()[0]

    def matches(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """How many distinct query terms each of the given global rows contains."""
        return self._per_row("matches", query, rows, (np.zeros(len(rows), dtype=np.int32),))()[0]

    def contains(self, query: Sequence[int], rows: np.ndarray) -> np.ndarray:
        """A (rows × query terms) matrix: whether each of the given global rows holds each query term."""
        return self._submit_lookup(query, rows)()[1]

    def lookup(self, query: Sequence[int], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`scores` and `contains` of the same global rows, in one call per shard."""
        scores, contains = self._submit_lookup(query, rows)()
        return scores, contains

    def submit(self, method: str, *args: Any) -> Callable[[], Any]:
        """Send a query method (`top` or `lookup`) to the shards now; the function returned waits for its result.

        The calls one stage of an answer needs from both indexes go out together, so their round trips overlap.
        """
        if method == "top":
            return self._submit_top(*args)
        if method == "lookup":
            return self._submit_lookup(*args)
        result = getattr(self, method)(*args)
        return lambda: result

    def _submit_top(self, query: Sequence[int], k: int) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        query = [int(t) for t in query]
        if k <= 0 or not any(0 <= t < self.n_terms for t in query):
            return lambda: (np.empty(0, dtype=np.int64), np.empty(0))
        waiting = self._start("top", [(shard, (query, k)) for shard in range(len(self.shards))])

        def merged() -> tuple[np.ndarray, np.ndarray]:
            found = waiting()
            rows = np.concatenate([self.members[shard][local] for shard, (local, _) in enumerate(found)])
            scores = np.concatenate([scores for _, scores in found])
            order = np.lexsort((rows, -scores))[:k]
            return rows[order], scores[order]

        return merged

    def _submit_lookup(self, query: Sequence[int], rows: np.ndarray) -> Callable[[], tuple[np.ndarray, ...]]:
        empty = (np.zeros(len(rows)), np.zeros((len(rows), len(query)), dtype=bool))
        return self._per_row("lookup", query, rows, empty)

    def _per_row(
        self, method: str, query: Sequence[int], rows: np.ndarray, out: tuple[np.ndarray, ...]
    ) -> Callable[[], tuple[np.ndarray, ...]]:
        """Send a per-row method to the shards holding the rows; the function returned fills `out` with the answers."""
        query = [int(t) for t in query]
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return lambda: out
        owners = self._shard_of[rows]
        wanted = np.unique(owners).tolist()
        picks = [owners == shard for shard in wanted]
        waiting = self._start(method, [(shard, (query, self._local[rows[pick]])) for shard, pick in zip(wanted, picks)])

        def filled() -> tuple[np.ndarray, ...]:
            for pick, values in zip(picks, waiting()):
                for array, part in zip(out, values if isinstance(values, (tuple, list)) else (values,)):
                    array[pick] = part
            return out

        return filled

    def _start(self, method: str, calls: list[tuple[int, tuple[Any, ...]]]) -> Callable[[], list[Any]]:
        """Call `method` on each listed shard's server now; the function returned waits for the answers and,
        if a worker died under them, restarts the servers and asks again."""
        servers: tuple[list[Future], list[Any]] | None = None
        pending: list[Any] | None = None
        try:
            servers = self._current_servers()
            pending = [getattr(servers[1][shard], method)(self.version, *args) for shard, args in calls]
        except Exception as exc:  # a lost worker surfaces as a closed comm, a refused connection or a lost actor
            self._failed(exc, servers, 0)

        def wait() -> list[Any]:
            if pending is not None:
                try:
                    return [call.result() for call in pending]
                except Exception as exc:
                    self._failed(exc, servers, 0)
            return self._run(method, calls, first=1)

        return wait

    def _run(self, method: str, calls: list[tuple[int, tuple[Any, ...]]], first: int = 0) -> list[Any]:
        """Call `method` on each listed shard's server at once; if a worker died under them, restart and ask again."""
        for attempt in range(first, RETRIES + 1):
            servers = None
            try:
                servers = self._current_servers()
                pending = [getattr(servers[1][shard], method)(self.version, *args) for shard, args in calls]
                return [call.result() for call in pending]
            except Exception as exc:
                if attempt == RETRIES:
                    raise
                self._failed(exc, servers, attempt)
        raise AssertionError("unreachable")

    def _failed(self, exc: Exception, servers: tuple[list[Future], list[Any]] | None, attempt: int) -> None:
        log.warning("shard servers failed (%s: %s); restarting them", type(exc).__name__, exc)
        self._drop(servers)
        time.sleep(RESTART_PAUSE * (attempt + 1))

    def _current_servers(self) -> tuple[list[Future], list[Any]]:
        with self._lock:
            if self._servers is None:
                self._servers = self._start_servers()
            return self._servers

    def _drop(self, failed: tuple[list[Future], list[Any]] | None) -> None:
        """Forget failed servers; the next call starts new ones, after the scheduler recomputed any lost shard."""
        with self._lock:
            if failed is None or self._servers is failed:  # another thread may have replaced them already
                self._servers = None


def _near(workers: Sequence[str]) -> dict[str, Any]:
    """Placement on these workers if they are still there, anywhere if not."""
    return {"workers": list(workers), "allow_other_workers": True} if workers else {}


def shard_number(path: str, n_shards: int) -> int:
    """The shard a document belongs to: stable across reloads, whatever else the corpus gains or loses."""
    return (
        int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")
        % n_shards
    )


@dataclass(frozen=True, eq=False)
class Layout:
    """Which documents each shard holds, and the futures of its unweighted postings, for the next reload."""

    n_shards: int
    slots: tuple[int, ...]  # the shard numbers that hold at least one document
    signatures: tuple[tuple[tuple[str, str], ...], ...]  # (path, digest) of each slot's documents, in order
    sentence_structures: tuple[Future, ...]
    passage_structures: tuple[Future, ...]
    vocabulary_size: int


class ShardedLibrary(Library):
    """A Library whose `sentence_index` and `document_index` are ShardedIndexes; `base`: the library they came from."""

    def __init__(self, base: Library, sentences: ShardedIndex, passages: ShardedIndex, layout: Layout) -> None:
        # Everything the base library holds (documents, offsets, vocabulary…), computed once, with its indexes swapped.
        self.__dict__.update(base.__dict__)
        # A ShardedIndex answers the BM25 calls the library makes (submit, lookup, top): it stands in for one.
        self.sentence_index = sentences  # type: ignore[assignment]
        self.document_index = passages  # type: ignore[assignment]
        self.base = base
        self.layout = layout


def shard_library(
    base: Library, client: Client, n_shards: int, previous: ShardedLibrary | None = None
) -> ShardedLibrary:
    """The library's indexes split into shards on the cluster; shards whose documents did not change are reused."""
    numbers = np.array([shard_number(e.document.path, n_shards) for e in base.entries], dtype=np.int64)
    slots = tuple(int(s) for s in np.unique(numbers))
    documents = [np.flatnonzero(numbers == slot) for slot in slots]
    rows = [np.concatenate([np.arange(base.offsets[d], base.offsets[d + 1]) for d in docs]) for docs in documents]
    signatures = tuple(
        tuple((base.entries[d].document.path, base.entries[d].digest) for d in docs) for docs in documents
    )
    reusable = _reusable(previous, base, n_shards)
    sentence_structures, passage_structures = [], []
    sentence_index, document_index = base.exact_indexes()  # a sharded load never appends: it has no delta
    sentence_source, passage_source = _Source(sentence_index), _Source(document_index)
    rebuilt = 0
    for slot, signature, members, docs in zip(slots, signatures, rows, documents):
        old = reusable.get(slot)
        if old is not None and old[0] == signature:
            sentence_structures.append(old[1])
            passage_structures.append(old[2])
            continue
        # The postings are the task's arguments: the scheduler can run it again wherever it needs to.
        sentence_structures.append(client.submit(Structure, *sentence_source.extract(members), pure=False))
        passage_structures.append(client.submit(Structure, *passage_source.extract(docs), pure=False))
        rebuilt += 1
    log.info("%d shard%s, %d of them built anew", len(slots), "s" * (len(slots) != 1), rebuilt)
    # Unique to this sharding, so a shard server never answers for another load's shards; nothing counts them.
    version = secrets.randbits(62)
    n_terms = len(base.vocabulary)
    sentences = _weighed(client, sentence_structures, rows, version, n_terms, sentence_index)
    passages = _weighed(client, passage_structures, documents, version, n_terms, document_index)
    layout = Layout(
        n_shards, slots, signatures, tuple(sentence_structures), tuple(passage_structures), len(base.vocabulary)
    )
    return ShardedLibrary(base, sentences, passages, layout)


def _reusable(previous: ShardedLibrary | None, base: Library, n_shards: int) -> dict[int, tuple[Any, Future, Future]]:
    """The previous shards that can be kept as they are: same shard count, and term ids that still mean the same."""
    if previous is None or previous.layout.n_shards != n_shards or previous.languages != base.languages:
        return {}
    # A reload only adds terms; a cold build numbers them afresh, and then no old shard means the same.
    if len(base.vocabulary) < previous.layout.vocabulary_size or any(
        base.vocabulary.get(term) != number for term, number in previous.vocabulary.items()
    ):
        return {}
    layout = previous.layout
    return {
        slot: (signature, sentences, passages)
        for slot, signature, sentences, passages in zip(
            layout.slots, layout.signatures, layout.sentence_structures, layout.passage_structures
        )
    }


class _Source:
    """A whole index, cut into shards' postings one shard at a time."""

    def __init__(self, index: BM25) -> None:
        self.index = index
        self.terms = np.repeat(np.arange(index.n_terms, dtype=np.int32), np.diff(index.indptr))

    def extract(self, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The postings, counts, df and lengths of the given rows, renumbered 0… in their order."""
        local = np.full(self.index.n_rows, -1, dtype=np.int32)
        local[members] = np.arange(len(members), dtype=np.int32)
        mapped = local[self.index.postings]
        keep = mapped >= 0
        # The index is sorted by (term, row) and the renumbering keeps row order, so this stays sorted too.
        df = np.bincount(self.terms[keep], minlength=self.index.n_terms).astype(np.int64)
        lengths = np.ascontiguousarray(self.index.lengths[members], dtype=np.int32)
        return np.ascontiguousarray(mapped[keep]), np.ascontiguousarray(self.index.counts[keep]), df, lengths


def _weighed(
    client: Client, structures: list[Future], members: list[np.ndarray], version: int, n_terms: int, whole: BM25
) -> ShardedIndex:
    """Reduce the shards' totals to global statistics, weigh every shard with them, and wait until all are ready."""
    totals = [client.submit(_totals, structure, pure=False) for structure in structures]
    statistics = client.submit(_reduce, version, n_terms, whole.params, *totals, pure=False)
    shards = [client.submit(_weigh, structure, statistics, pure=False) for structure in structures]
    wait(shards)
    return ShardedIndex(client, shards, members, statistics.result(), np.asarray(whole.lengths))


def dask_setup(worker: object) -> None:
    """Run in each local worker process before it serves (it is the workers' preload): drop the bot's secrets
    from its environment, so no code that reaches a worker finds them there."""
    for name in [name for name in os.environ if name.startswith(SECRETS)]:
        del os.environ[name]


def _local_cluster() -> tuple[Client, LocalCluster]:
    """Two workers on 127.0.0.1 speaking TLS with a certificate only this process holds, and no HTTP routes."""
    security = Security.temporary()
    # No dashboard, no health or metrics routes; the HTTP server Dask starts anyway gets a random port.
    with dask.config.set({"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}):
        cluster = LocalCluster(
            n_workers=LOCAL_WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            protocol="tls://",
            security=security,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            preload=[__name__],  # a keyword LocalCluster passes on to each worker
        )
    return Client(cluster, security=security), cluster


def connect(
    address: str, *, tls: tuple[Path, Path, Path] | None = None, allow_plain: bool = False
) -> tuple[Client, LocalCluster | None]:
    """A client of the scheduler at `address` (tls://host:8786, with `tls` = CA, certificate and key files), or of
    a new LocalCluster on 127.0.0.1 for `local`, and that cluster. A plain tcp:// address raises ValueError unless
    `allow_plain`. The caller closes both (see Clusters)."""
    if address != LOCAL and not address.startswith("tls://") and not allow_plain:
        raise ValueError(f"{address}: {PLAIN}")
    # Dask narrates every connection at INFO; citebot's own INFO lines should not drown in it.
    logging.getLogger("distributed").setLevel(max(logging.WARNING, logging.getLogger().level))
    if address == LOCAL:
        return _local_cluster()
    security = None
    if tls is not None:
        ca, cert, key = (str(path) for path in tls)
        security = Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    return Client(address, security=security), None


class Clusters:
    """The clients of the schedulers a process has reached, one per address, kept for its later reloads.

    Whoever loads sharded libraries owns one (the bot's state, a test) and closes it when done.
    """

    def __init__(self) -> None:
        self._open: dict[str, tuple[Client, LocalCluster | None]] = {}
        self._lock = threading.Lock()

    def client(self, address: str, *, tls: tuple[Path, Path, Path] | None = None, allow_plain: bool = False) -> Client:
        """The client of the scheduler at `address`, connected on first use (see connect)."""
        with self._lock:
            if address not in self._open:
                self._open[address] = connect(address, tls=tls, allow_plain=allow_plain)
            return self._open[address][0]

    def close(self) -> None:
        """Close every client, and the LocalCluster started for `local`."""
        with self._lock:
            for client, cluster in self._open.values():
                client.close()
                if cluster is not None:
                    cluster.close()
            self._open.clear()


def load_sharded(
    corpus_dir: Path,
    cache_dir: Path,
    client: Client,
    n_shards: int,
    *,
    previous: Library | None = None,
    **options: Any,
) -> ShardedLibrary:
    """Load (or reload) the corpus as `load_library` does, then serve its indexes from shards on the cluster."""
    earlier = previous if isinstance(previous, ShardedLibrary) else None
    base = load_library(corpus_dir, cache_dir, previous=earlier.base if earlier else previous, **options)
    return shard_library(base, client, n_shards, earlier)
