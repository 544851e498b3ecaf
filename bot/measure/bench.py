"""`citebot bench`: build, load, reload and query synthetic corpora of growing size, against rank-bm25 and bm25s."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from bot.index import snapshot as snapshots
from bot.index.library import Library
from bot.index.loader import RACY_NS, load_library
from bot.ranking.answer import answer

# What _time_queries times: term ids for the indexes, text for whole answers.
Query = TypeVar("Query")

SIZES = (10_000, 100_000, 1_000_000)
K = 10
QUERIES = 200
# rank-bm25 scores every row in Python for every query: ~1 s a query at a million rows.
RANK_BM25_ROWS_PER_SECOND = 1_000_000
# Function words with their approximate share of English news text (per mille), the rest is content.
STOP_WORDS = {
    "the": 60,
    "of": 30,
    "and": 27,
    "to": 26,
    "a": 23,
    "in": 21,
    "that": 10,
    "is": 9,
    "for": 9,
    "on": 7,
    "was": 7,
    "with": 7,
    "he": 6,
    "it": 6,
    "as": 6,
    "at": 5,
    "by": 5,
    "said": 5,
    "his": 5,
    "from": 4,
    "be": 4,
    "have": 4,
    "has": 4,
    "but": 4,
    "are": 4,
    "an": 3,
    "they": 3,
    "not": 3,
    "this": 3,
    "were": 3,
    "which": 3,
    "will": 3,
    "their": 3,
    "had": 3,
    "been": 2,
    "would": 2,
    "who": 2,
    "its": 2,
    "we": 2,
    "after": 2,
    "more": 2,
    "she": 2,
    "her": 2,
    "about": 2,
    "there": 1,
    "or": 1,
    "also": 1,
    "than": 1,
}
SYLLABLES = (
    "ka",
    "lo",
    "min",
    "ter",
    "pre",
    "sa",
    "vin",
    "dor",
    "al",
    "ble",
    "con",
    "ri",
    "tu",
    "mar",
    "nes",
    "pol",
    "ek",
    "sto",
    "ran",
    "gi",
    "bur",
    "ta",
    "ven",
    "ox",
    "qui",
    "del",
    "fa",
    "mo",
    "shi",
    "ard",
    "lu",
    "per",
)
SENTENCES_PER_PARAGRAPH = (1, 4)
PARAGRAPHS_PER_DOCUMENT = (4, 12)


@dataclass(frozen=True)
class Measure:
    """What one worker process measured on one corpus."""

    sentences: int
    documents: int
    load_seconds: float
    peak_rss_mb: float
    reload_seconds: float = 0.0
    reload_peak_rss_mb: float = 0.0
    citebot_p50_ms: float = 0.0
    citebot_p99_ms: float = 0.0
    bm25s_p50_ms: float = 0.0
    bm25s_p99_ms: float = 0.0
    rank_bm25_p50_ms: float = 0.0
    rank_bm25_p99_ms: float = 0.0
    rank_bm25_queries: int = 0
    private_rss_mb: float = 0.0
    answer_p50_ms: float = 0.0
    answer_p99_ms: float = 0.0
    max_score_error: float = 0.0
    top_k_agrees: bool = True
    shards: int = 0
    shard_seconds: float = 0.0
    sharded_p50_ms: float = 0.0
    sharded_p99_ms: float = 0.0
    sharded_answer_p50_ms: float = 0.0
    sharded_answer_p99_ms: float = 0.0
    sharded_agrees: bool = True


def _vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < size:
        parts = rng.integers(0, len(SYLLABLES), size=rng.integers(2, 5))
        word = "".join(SYLLABLES[p] for p in parts)
        if word not in STOP_WORDS:
            words[word] = None
    return list(words)


def generate_corpus(folder: Path, sentences: int, seed: int = 7) -> int:
    """Write a news-like corpus of about this many sentences into `folder`; return the number of files."""
    rng = np.random.default_rng(seed)
    content = _vocabulary(rng, max(2_000, min(200_000, sentences // 5)))
    # Zipf-Mandelbrot ranks: a few words everywhere, a long tail of rare ones, as in real text.
    ranks = np.arange(1, len(content) + 1, dtype=np.float64)
    content_cdf = np.cumsum(1.0 / (ranks + 2.7) ** 1.07)
    content_cdf /= content_cdf[-1]
    stop = list(STOP_WORDS)
    stop_weights = np.array(list(STOP_WORDS.values()), dtype=np.float64)
    stop_share = stop_weights.sum() / 1000
    stop_cdf = np.cumsum(stop_weights) / stop_weights.sum()
    folder.mkdir(parents=True, exist_ok=True)
    written = files = 0
    while written < sentences:
        paragraphs = []
        written += 1  # the headline is a sentence too
        for _ in range(rng.integers(*PARAGRAPHS_PER_DOCUMENT, endpoint=True)):
            count = int(rng.integers(*SENTENCES_PER_PARAGRAPH, endpoint=True))
            # News sentences: about 22 words on average, a long right tail.
            lengths = np.clip(rng.lognormal(3.0, 0.45, size=count).astype(int), 4, 70)
            total = int(lengths.sum())
            is_stop = rng.random(total) < stop_share
            content_ids = np.searchsorted(content_cdf, rng.random(total))
            stop_ids = np.searchsorted(stop_cdf, rng.random(total))
            words = [stop[s] if st else content[c] for st, s, c in zip(is_stop, stop_ids, content_ids)]
            paragraphs.append(_paragraph(rng, words, lengths))
            written += count
            if written >= sentences:
                break
        title = " ".join(content[int(i)] for i in np.searchsorted(content_cdf, rng.random(6))).capitalize()
        shard = folder / f"{files // 1000:04d}"
        shard.mkdir(exist_ok=True)
        (shard / f"article-{files:06d}.md").write_text(f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n", "utf-8")
        files += 1
    return files


def _paragraph(rng: np.random.Generator, words: list[str], lengths: np.ndarray) -> str:
    """The words cut into sentences of these lengths, with news text's commas, sums, honorifics and questions."""
    out, at = [], 0
    for length in lengths:
        sentence = words[at : at + length]
        at += length
        if length > 8 and rng.random() < 0.4:
            sentence[int(rng.integers(3, length - 3))] += ","
        if rng.random() < 0.1:
            sentence.insert(int(rng.integers(1, length)), f"${rng.integers(1, 99)}.{rng.integers(1, 9)} billion")
        if rng.random() < 0.05:
            sentence.insert(0, "Mr.")
        sentence[0] = sentence[0][0].upper() + sentence[0][1:]
        out.append(" ".join(sentence) + ("?" if rng.random() < 0.03 else "."))
    return " ".join(out)


def _peak_rss_mb() -> float:
    # Linux reports kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    if not seconds:
        return 0.0, 0.0
    values = np.array(seconds) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def _queries(library: Library, count: int, seed: int) -> list[list[int]]:
    # Questions are built from terms of real sentences, so they hit the corpus as users' questions do.
    rng = np.random.default_rng(seed)
    index = library.sentence_index
    queries: list[list[int]] = []
    while len(queries) < count:
        row = int(rng.integers(0, index.n_rows))
        terms = [int(t) for t in _row_terms(library, row)]
        if len(terms) < 2:
            continue
        picked = rng.choice(terms, size=min(len(terms), int(rng.integers(2, 6))), replace=False)
        queries.append([int(t) for t in picked])
    return queries


def _row_terms(library: Library, row: int) -> list[int]:
    number, _ = library.locate(row)
    terms = library.term_ids(library.document_analyzer(number).terms(library.sentence(row).text))
    return list(dict.fromkeys(terms))


def _token_lists(library: Library) -> list[list[int]]:
    # Term ids repeated by their counts: BM25 sees term frequencies and lengths, never token order.
    index = library.exact_indexes()[0]
    terms = np.repeat(np.arange(index.n_terms), np.diff(index.indptr))
    order = np.argsort(index.postings, kind="stable")
    tokens: list[list[int]] = [[] for _ in range(library.sentence_count)]
    for row, term, count in zip(index.postings[order].tolist(), terms[order].tolist(), index.counts[order].tolist()):
        tokens[row].extend([term] * count)
    return tokens


def _time_queries(run: Callable[[Query], object], queries: Sequence[Query]) -> list[float]:
    timings = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        timings.append(time.perf_counter() - started)
    return timings


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    best = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
    return best[np.argsort(-scores[best], kind="stable")]


def _compare(library: Library, queries: list[list[int]], rank_sample: int) -> dict[str, float | int | bool]:
    import bm25s
    from rank_bm25 import BM25Okapi

    index = library.sentence_index
    for query in queries[:5]:
        index.top(query, K)  # warm the per-thread buffer, as a running bot has
    citebot = _time_queries(lambda q: index.top(q, K), queries)
    tokens = _token_lists(library)
    as_text = [[str(t) for t in row] for row in tokens]
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="robertson")
    retriever.index(as_text, show_progress=False)
    text_queries = [[str(t) for t in q] for q in queries]
    del as_text

    def bm25s_top(query: list[str], engine: Any = retriever) -> object:
        return _top_k(engine.get_scores(query), K)

    fast = _time_queries(bm25s_top, text_queries)
    del retriever, bm25s_top
    okapi = BM25Okapi(tokens)
    sample = queries[:rank_sample]
    error, agrees = 0.0, True
    slow = []
    for query in sample:
        started = time.perf_counter()
        scores = okapi.get_scores(query)
        best = _top_k(scores, K)
        slow.append(time.perf_counter() - started)
        rows, ours = index.top(query, K)
        error = max(error, float(np.max(np.abs(scores[rows] - ours), initial=0.0)))
        kth = np.sort(scores)[-min(K, len(scores))]
        agrees &= bool(np.all(scores[rows] >= kth - 1e-9)) and len(rows) == min(K, int(np.count_nonzero(scores[best])))
    c50, c99 = _percentiles(citebot)
    b50, b99 = _percentiles(fast)
    r50, r99 = _percentiles(slow)
    return {
        "citebot_p50_ms": c50,
        "citebot_p99_ms": c99,
        "bm25s_p50_ms": b50,
        "bm25s_p99_ms": b99,
        "rank_bm25_p50_ms": r50,
        "rank_bm25_p99_ms": r99,
        "rank_bm25_queries": len(sample),
        "max_score_error": error,
        "top_k_agrees": agrees,
    }


def _answers(library: Library, count: int) -> dict[str, float]:
    """Time whole answers (analysis, BM25, re-ranking, abstention, quotes) to questions made of corpus words."""
    rng = np.random.default_rng(13)
    questions: list[str] = []
    while len(questions) < count:
        row = int(rng.integers(0, library.sentence_count))
        words = library.document_analyzer(library.locate(row)[0]).words(library.sentence(row).text)
        if len(words) >= 4:
            start = int(rng.integers(0, len(words) - 3))
            questions.append("what " + " ".join(words[start : start + int(rng.integers(2, 6))]))
    for question in questions[:5]:
        answer(library, question)
    p50, p99 = _percentiles(_time_queries(lambda q: answer(library, q), questions))
    return {"answer_p50_ms": p50, "answer_p99_ms": p99}


def _sharded(library: Library, queries: list[list[int]], count: int, shards: int) -> dict[str, float | int | bool]:
    """Shard the library over a two-worker LocalCluster on 127.0.0.1; time queries and whole answers there."""
    from bot.index.cluster import Clusters, ShardedIndex, shard_library

    clusters = Clusters()
    try:
        client = clusters.client("local")
        started = time.perf_counter()
        sharded = shard_library(library, client, shards)
        seconds = time.perf_counter() - started
        index = sharded.sentence_index
        # ShardedLibrary keeps Library's BM25 type for its index; the shard count is the ShardedIndex's.
        if not isinstance(index, ShardedIndex):
            raise TypeError("shard_library made a library without a sharded index")
        for query in queries[:5]:
            index.top(query, K)
        p50, p99 = _percentiles(_time_queries(lambda q: index.top(q, K), queries))
        agrees = True
        for query in queries[:50]:
            (rows, scores), (want_rows, want_scores) = index.top(query, K), library.sentence_index.top(query, K)
            agrees &= rows.tolist() == want_rows.tolist() and scores.tolist() == want_scores.tolist()
        answers = _answers(sharded, count)
    finally:
        clusters.close()
    return {
        "shards": len(index.shards),
        "shard_seconds": seconds,
        "sharded_p50_ms": p50,
        "sharded_p99_ms": p99,
        "sharded_answer_p50_ms": answers["answer_p50_ms"],
        "sharded_answer_p99_ms": answers["answer_p99_ms"],
        "sharded_agrees": agrees,
    }


def _private_rss_mb() -> float:
    """Memory only this process can hold: its anonymous pages. Pages mapped from a snapshot file are shared by
    every process that maps it (even when, in a lone process, the kernel files them as private)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:])
        return int(fields["Anonymous"].split()[0]) / 1024
    except (OSError, ValueError, KeyError):
        return 0.0


def run_worker(
    corpus: Path, cache: Path, queries: int, rank_sample: int, reload: bool, snapshot: bool = True, shards: int = 0
) -> Measure:
    """Load a corpus once (cold, from the cache or the snapshot, as the folders have it); reload, query; measure."""
    started = time.perf_counter()
    library = load_library(corpus, cache, snapshot=snapshot)
    load_seconds = time.perf_counter() - started
    rss = _peak_rss_mb()
    extra: dict[str, float | int | bool] = {"private_rss_mb": _private_rss_mb()}
    if reload:
        changed = min(corpus.rglob("*.md"))
        original = changed.read_bytes()
        changed.write_bytes(original + b"\nOne more sentence about the reload benchmark.\n")
        try:
            started = time.perf_counter()
            writer = snapshots.SnapshotWriter()
            library = load_library(corpus, cache, previous=library, snapshot=snapshot, writer=writer)
            extra["reload_seconds"] = time.perf_counter() - started
            writer.flush()
        finally:
            changed.write_bytes(original)
        # Old and new library coexist during a reload, so it has its own, higher peak.
        extra["reload_peak_rss_mb"] = _peak_rss_mb()
    if queries:
        extra.update(_compare(library, _queries(library, queries, seed=11), rank_sample))
        extra.update(_answers(library, queries))
        if shards:
            extra.update(_sharded(library, _queries(library, queries, seed=11), queries, shards))
    # `extra` holds Measure's optional fields by name, each a float, int or bool as the field is.
    return Measure(library.sentence_count, len(library.documents), load_seconds, rss, **extra)  # type: ignore[arg-type]


def _spawn(
    corpus: Path, cache: Path, queries: int, rank_sample: int, reload: bool, snapshot: bool = True, shards: int = 0
) -> Measure:
    command = (
        [
            sys.executable,
            "-m",
            "bot.measure.bench",
            "--worker",
            "--corpus",
            str(corpus),
            "--cache",
            str(cache),
            "--queries",
            str(queries),
            "--rank-sample",
            str(rank_sample),
            "--shards",
            str(shards),
        ]
        + (["--reload"] if reload else [])
        + ([] if snapshot else ["--no-snapshot"])
    )
    # A fresh process each time: peak memory and start-up are those of a bot starting, not of this one.
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return Measure(**json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class Row:
    """One corpus size's results."""

    target: int
    cold: Measure
    cached: Measure
    warm: Measure


def bench_size(workdir: Path, sentences: int, queries: int, rank_sample: int | None, shards: int = 0) -> Row:
    """Generate a corpus of this size, then build it cold, start it warm, reload it and query it."""
    corpus, cache = workdir / f"corpus-{sentences}", workdir / f"cache-{sentences}"
    generate_corpus(corpus, sentences)
    # Files changed under RACY_NS ago are hashed again by the next start (loader.stamp_of); a corpus a bot
    # restarts on is older than that, and so is this one before it is first loaded.
    time.sleep(RACY_NS / 1e9)
    if rank_sample is None:
        rank_sample = max(5, min(queries, RANK_BM25_ROWS_PER_SECOND * 20 // sentences))
    cold = _spawn(corpus, cache, 0, 0, reload=False)
    cached = _spawn(corpus, cache, 0, 0, reload=False, snapshot=False)
    warm = _spawn(corpus, cache, queries, rank_sample, reload=True, shards=shards)
    return Row(sentences, cold, cached, warm)


def _ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:,.0f}×" if fast > 0 else "–"


def _sharding(measure: Measure) -> str:
    return f"{measure.shards} ({measure.shard_seconds:.1f})" if measure.shards else "–"


def _shard_cell(measure: Measure, p50: float, p99: float) -> str:
    return f"{p50:.2f} / {p99:.2f}" if measure.shards else "–"


def _shard_agrees(measure: Measure) -> str:
    if not measure.shards:
        return "–"
    return "yes" if measure.sharded_agrees else "NO"


def table(rows: list[Row]) -> str:
    """The results as a Markdown table, one column per corpus size."""
    header = ["measure"] + [f"{row.cold.sentences:,} sentences ({row.cold.documents:,} docs)" for row in rows]
    lines = [
        ("cold build (split, analyze, index), s", lambda r: f"{r.cold.load_seconds:.1f}"),
        ("cold build peak RSS, MiB", lambda r: f"{r.cold.peak_rss_mb:,.0f}"),
        ("warm start from the analysis cache, s", lambda r: f"{r.cached.load_seconds:.1f}"),
        ("loaded library peak RSS (from the cache), MiB", lambda r: f"{r.cached.peak_rss_mb:,.0f}"),
        ("start from the mapped snapshot, s", lambda r: f"{r.warm.load_seconds:.2f}"),
        ("private (anonymous) RSS after mapping the snapshot, MiB", lambda r: f"{r.warm.private_rss_mb:,.0f}"),
        ("one-document reload, s", lambda r: f"{r.warm.reload_seconds:.2f}"),
        ("peak RSS through a reload, MiB", lambda r: f"{r.warm.reload_peak_rss_mb:,.0f}"),
        ("citebot query p50 / p99, ms", lambda r: f"{r.warm.citebot_p50_ms:.2f} / {r.warm.citebot_p99_ms:.2f}"),
        ("citebot whole answer p50 / p99, ms", lambda r: f"{r.warm.answer_p50_ms:.2f} / {r.warm.answer_p99_ms:.2f}"),
        ("bm25s query p50 / p99, ms", lambda r: f"{r.warm.bm25s_p50_ms:.2f} / {r.warm.bm25s_p99_ms:.2f}"),
        (
            "rank-bm25 query p50 / p99, ms (queries)",
            lambda r: f"{r.warm.rank_bm25_p50_ms:.0f} / {r.warm.rank_bm25_p99_ms:.0f} ({r.warm.rank_bm25_queries})",
        ),
        ("rank-bm25 ÷ citebot (p50)", lambda r: _ratio(r.warm.rank_bm25_p50_ms, r.warm.citebot_p50_ms)),
        ("bm25s ÷ citebot (p50)", lambda r: f"{r.warm.bm25s_p50_ms / max(r.warm.citebot_p50_ms, 1e-9):.1f}×"),
        ("max score difference vs rank-bm25", lambda r: f"{r.warm.max_score_error:.1e}"),
        ("top-10 same as rank-bm25", lambda r: "yes" if r.warm.top_k_agrees else "NO"),
        ("shards on a 2-worker Dask LocalCluster (time to shard, s)", lambda r: _sharding(r.warm)),
        ("sharded query p50 / p99, ms", lambda r: _shard_cell(r.warm, r.warm.sharded_p50_ms, r.warm.sharded_p99_ms)),
        (
            "sharded whole answer p50 / p99, ms",
            lambda r: _shard_cell(r.warm, r.warm.sharded_answer_p50_ms, r.warm.sharded_answer_p99_ms),
        ),
        ("sharded top-10 same as one index, bit for bit", lambda r: _shard_agrees(r.warm)),
    ]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join([name] + [cell(row) for row in rows]) + " |" for name, cell in lines]
    return "\n".join(out)


def machine() -> str:
    """The machine the figures come from."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {model}, {memory:.0f} GiB RAM, Python {platform.python_version()}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, on `citebot bench` or on this module run as a worker."""
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="sentence counts, comma-separated")
    parser.add_argument("--queries", type=int, default=QUERIES, help="queries timed per engine")
    parser.add_argument("--rank-sample", type=int, default=None, help="queries timed on rank-bm25 (default: by size)")
    parser.add_argument("--workdir", type=Path, default=None, help="where corpora go (default: a temp folder)")
    parser.add_argument(
        "--shards", type=int, default=0, help="also time sharded search with this many shards (needs citebot[cluster])"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reload", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-snapshot", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print a Markdown table; `citebot bench --help` lists the knobs."""
    if args.worker:
        measure = run_worker(
            args.corpus,
            args.cache,
            args.queries,
            args.rank_sample or 0,
            args.reload,
            snapshot=not args.no_snapshot,
            shards=args.shards,
        )
        print(json.dumps(asdict(measure)))
        return 0
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="citebot-bench-", dir=args.workdir) as folder:
        rows = []
        for size in sizes:
            print(f"benchmarking {size:,} sentences…", file=sys.stderr, flush=True)
            rows.append(bench_size(Path(folder), size, args.queries, args.rank_sample, args.shards))
    print(machine())
    print()
    print(table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.measure.bench`: how the benchmark starts its measuring worker processes."""
    parser = argparse.ArgumentParser(prog="citebot bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
