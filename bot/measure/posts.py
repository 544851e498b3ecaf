"""`citebot bench-posts`: how soon a channel post can be asked about, and whether memory stays flat post after post.

A post is written as the bot writes it (`write_post`), the library reloaded with the files it names (as
`reloads.refresh` does, after its short wait for a burst: the post is appended to the delta index), and a
question about the post's one unique word asked until the post answers it. The posts are then merged into the
exact library, as the bot does after a quiet spell, and asked about again. The memory run adds posts one by one,
reloading after each and merging whenever the delta passes MERGE_SENTENCES, and samples the resident set size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.index.library import Library
from bot.index.loader import compact, load_library
from bot.index.snapshot import SnapshotWriter
from bot.ingest.sources.telegram_posts import ExportReading, Post, folder_of, read_export, write_post
from bot.measure.bench import generate_corpus, machine
from bot.ranking.answer import answer

CHANNEL = -1001234567890
# bot.telegram.reloads.REFRESH_DELAY: the wait for a burst's other posts, added to every figure's total.
REFRESH_DELAY = 0.2
# bot.telegram.reloads.MERGE_SENTENCES and MERGE_DRIFT: the memory run merges the appended posts when their
# delta is this large, or their scores this far from the merged ones, as the bot does (in the background;
# here between two posts, timed apart).
MERGE_SENTENCES = 5_000
MERGE_DRIFT = 0.001
# bot.telegram.reloads.SNAPSHOT_EVERY: a merge writes the snapshot at most this often (seconds), as the bot's do.
SNAPSHOT_EVERY = 300.0

Samples = list[tuple[int, int, float]]  # (posts added, sentences, RSS in MiB)


def _post(number: int) -> Post:
    word = f"zorbakferry{number}"
    text = f"The {word} timetable changes on Monday. The {word} sails to Kerbin island every hour."
    return Post(CHANNEL, "press_bench", "Press Office", number, dt.datetime.now(dt.UTC), text)


def _rss_mb() -> float:
    """The resident set size now (not the peak), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def add_post(
    library: Library, corpus: Path, cache: Path, number: int, writer: SnapshotWriter, snapshot: bool = False
) -> tuple[Library, float, float]:
    """Write one post, reload with its files, ask about it: the new library, write and reload-and-find seconds.

    No snapshot is written by default, as a refresh writes one at most every few minutes.
    """
    started = time.perf_counter()
    written = write_post(corpus, _post(number), lambda text: "en")
    wrote = time.perf_counter()
    library = load_library(corpus, cache, previous=library, writer=writer, snapshot=snapshot, changed=written.changed)
    found(library, number, written.paths[0])
    return library, wrote - started, time.perf_counter() - wrote


def found(library: Library, number: int, path: str) -> None:
    """Ask about post `number`; AssertionError unless the answer quotes it."""
    said = answer(library, f"When does the zorbakferry{number} sail?")
    if not any(quote.document.path == path for quote in said.quotes):
        raise AssertionError(f"post {number} was not found in {path}")


def merged(library: Library, corpus: Path, cache: Path, writer: SnapshotWriter | None) -> tuple[Library, float]:
    """The library with its appended posts merged in (and its snapshot written soon), and the seconds it took."""
    started = time.perf_counter()
    library = compact(library, cache, corpus, writer=writer)
    return library, time.perf_counter() - started


def latency(corpus: Path, cache: Path, posts: int, first: int) -> dict[str, float]:
    """Seconds from a post to its answer, over `posts` posts added to the loaded corpus."""
    writer = SnapshotWriter()  # snapshots are written in threads, as the bot's are
    library = load_library(corpus, cache)
    sentences = library.sentence_count
    writes, reloads = [], []
    for number in range(first, first + posts):
        library, wrote, reloaded = add_post(library, corpus, cache, number, writer)
        writes.append(wrote)
        reloads.append(reloaded)
    appended = library.delta_documents
    library, merge = merged(library, corpus, cache, writer)
    for number in range(first, first + posts):
        found(library, number, f"{folder_of(CHANNEL, 'press_bench')}/{number}.md")
    writer.flush()
    totals = sorted(w + r + REFRESH_DELAY for w, r in zip(writes, reloads))
    return {
        "sentences": sentences,
        "write_ms": statistics.median(writes) * 1000,
        "reload_s": statistics.median(reloads),
        "total_p50_s": statistics.median(totals),
        "total_max_s": totals[-1],
        "merged": appended,
        "merge_s": merge,
    }


def memory(corpus: Path, cache: Path, posts: int, every: int, first: int) -> tuple[Samples, list[float]]:
    """The sentences and RSS after every `every` of `posts` posts added one by one, and each merge's seconds."""
    writer = SnapshotWriter()  # waited for before memory is read
    library = load_library(corpus, cache)
    samples = [(0, library.sentence_count, _rss_mb())]
    merges: list[float] = []
    written = time.monotonic()  # the load wrote the snapshot
    for count, number in enumerate(range(first, first + posts), 1):
        library, _, _ = add_post(library, corpus, cache, number, writer)
        if library.delta_sentences >= MERGE_SENTENCES or library.drift() > MERGE_DRIFT:
            due = time.monotonic() - written >= SNAPSHOT_EVERY
            library, took = merged(library, corpus, cache, writer if due else None)
            written = time.monotonic() if due else written
            merges.append(took)
        if count % every == 0:
            writer.flush()
            gc.collect()
            samples.append((count, library.sentence_count, _rss_mb()))
            print(
                f"{count:,} posts: {samples[-1][1]:,} sentences, {samples[-1][2]:.0f} MiB", file=sys.stderr, flush=True
            )
    return samples, merges


def write_export(path: Path, messages: int, chars: int = 300) -> int:
    """A Telegram Desktop-like `result.json` of this many messages, written piece by piece; its size in bytes."""
    with open(path, "w", encoding="utf-8") as out:
        out.write('{"name": "Press Office", "type": "public_channel", "id": 1234567890, "messages": [\n')
        for number in range(1, messages + 1):
            text = [
                f"Bulletin {number}: the ",
                {"type": "bold", "text": "Zorbak ferry"},
                " sails at noon." * max(1, chars // 15),
            ]
            message = {
                "id": number,
                "type": "message",
                "date": "2026-03-02T10:00:00",
                "date_unixtime": "1772445600",
                "from": "Press Office",
                "text": text,
                "text_entities": text[1:2],
            }
            out.write(("," if number > 1 else "") + json.dumps(message, ensure_ascii=False) + "\n")
        out.write("]}\n")
    return path.stat().st_size


def read_speed(path: Path) -> dict[str, float]:
    """Read an export through without writing: seconds, posts, and the peak RSS it added."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reading = ExportReading()
    started = time.perf_counter()
    with open(path, "rb") as stream:
        count = sum(1 for _ in read_export(stream, reading, "press_bench"))
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"posts": count, "seconds": took, "peak_added_mb": after - before}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--sentences", type=int, default=1_000_000, help="size of the corpus the posts join")
    parser.add_argument("--posts", type=int, default=20, help="posts timed one after another")
    parser.add_argument("--rss-sentences", type=int, default=10_000, help="size of the corpus of the memory run")
    parser.add_argument("--rss-posts", type=int, default=10_000, help="posts added one by one in the memory run")
    parser.add_argument("--export-messages", type=int, default=0, help="also read an export of this many messages")
    parser.add_argument("--export-chars", type=int, default=300, help="characters of text in each exported message")
    parser.add_argument("--only-export", action="store_true", help="measure only the export read")
    parser.add_argument("--corpus", type=Path, help="time posts joining this corpus (and --cache) instead of one made")
    parser.add_argument("--cache", type=Path, help="the cache folder of --corpus")
    parser.add_argument("--workdir", type=Path, default=None, help="where corpora go (default: a temp folder)")


def run(args: argparse.Namespace) -> int:
    """Run both measurements and print them as Markdown."""
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="citebot-posts-", dir=args.workdir) as folder:
        work = Path(folder)
        if args.export_messages:
            size = write_export(work / "result.json", args.export_messages, args.export_chars)
            read = read_speed(work / "result.json")
            print(
                f"| export of {args.export_messages:,} messages, {size / 2**20:,.0f} MiB | read in "
                f"{read['seconds']:.1f} s ({read['posts'] / read['seconds']:,.0f} posts/s), peak RSS "
                f"+{read['peak_added_mb']:.0f} MiB |"
            )
            if args.only_export:
                return 0
        if args.corpus is not None:
            # Numbers above any a run before used, so every run adds new posts.
            timed = latency(args.corpus, args.cache or work / "cache", args.posts, first=time.time_ns() % 10**9)
        else:
            print(f"generating {args.sentences:,} sentences…", file=sys.stderr, flush=True)
            generate_corpus(work / "corpus", args.sentences)
            load_library(work / "corpus", work / "cache")  # the cold build a running bot has behind it
            timed = latency(work / "corpus", work / "cache", args.posts, first=1)
        print(f"generating {args.rss_sentences:,} sentences for the memory run…", file=sys.stderr, flush=True)
        generate_corpus(work / "small", args.rss_sentences)
        samples, merges = memory(
            work / "small", work / "small-cache", args.rss_posts, max(1, args.rss_posts // 10), first=1
        )
    _print(timed, args.posts, samples, merges)
    return 0


def _print(timed: dict[str, float], posts: int, samples: Samples, merges: list[float]) -> None:
    """The figures of both measurements, as Markdown."""
    print(machine())
    print()
    print(f"| measure ({timed['sentences']:,} sentences, {posts} posts) | value |")
    print("|---|---|")
    print(f"| write the post's file, ms (median) | {timed['write_ms']:.1f} |")
    print(f"| reload with the named file and find the post, s (median) | {timed['reload_s']:.2f} |")
    print(
        f"| update to searchable, with the {REFRESH_DELAY} s burst wait, s (median / max) | "
        f"{timed['total_p50_s']:.2f} / {timed['total_max_s']:.2f} |"
    )
    print(
        f"| merge of the {timed['merged']:.0f} appended posts (in the bot: in the background), s | "
        f"{timed['merge_s']:.2f} |"
    )
    print()
    print("| posts added one by one | sentences | RSS, MiB |")
    print("|---|---|---|")
    for count, sentences, rss in samples:
        print(f"| {count:,} | {sentences:,} | {rss:.0f} |")
    if merges:
        print()
        print(
            f"{len(merges):,} merges in the memory run (at {MERGE_SENTENCES:,} delta sentences or a {MERGE_DRIFT:.1%} "
            "drift): "
            f"{statistics.median(merges):.2f} s median, {max(merges):.2f} s max"
        )
