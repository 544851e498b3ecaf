"""`citebot bench-first-answer`: the first answer after a start against the median of the next ones.

Each run is a fresh process that loads the corpus as the bot and the terminal chat do (`load_for`), then
answers every question of a QA file in turn. The first run builds the cache and snapshot; the ones after it
start as a restarted bot does, from the snapshot. Run from the repository:

    .venv/bin/citebot bench-first-answer [--corpus corpus] [--questions tests/seed_qa.jsonl] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.chat.loading import load_for
from bot.config import Settings
from bot.measure.evaluation import read_questions
from bot.ranking.answer import answer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `citebot bench-first-answer`."""
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="the corpus folder (default: corpus)")
    parser.add_argument("--questions", type=Path, default=Path("tests/seed_qa.jsonl"), help="a QA file of JSON lines")
    parser.add_argument("--runs", type=int, default=5, help="restarts timed after the first, cold, run")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # the cache folder of one timed process


def timed_start(corpus: Path, cache: Path, questions: Path) -> dict[str, float]:
    """Load as a front end does and answer each question: the load's seconds and each answer's milliseconds."""
    started = time.perf_counter()
    library = load_for(Settings(corpus_dir=corpus, cache_dir=cache))
    loaded = time.perf_counter() - started
    answers = []
    for question in read_questions(questions):
        started = time.perf_counter()
        answer(library, question.question)
        answers.append(1000 * (time.perf_counter() - started))
    return {"load_s": loaded, "first_ms": answers[0], "next_median_ms": statistics.median(answers[1:])}


def run(args: argparse.Namespace) -> int:
    """Time a cold start and `--runs` restarts, each in a fresh process; print a Markdown table."""
    if args.worker is not None:
        print(json.dumps(timed_start(args.corpus, args.worker, args.questions)))
        return 0
    print("| start | load (s) | first answer (ms) | median of the next (ms) | ratio |")
    print("|---|---|---|---|---|")
    ratios = []
    with tempfile.TemporaryDirectory(prefix="citebot-first-answer-") as cache:
        for number in range(args.runs + 1):
            command = [sys.executable, "-m", "bot.measure.first_answer", "--worker", cache]
            command += ["--corpus", str(args.corpus), "--questions", str(args.questions)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.splitlines()[-1])
            ratio = row["first_ms"] / row["next_median_ms"]
            if number:
                ratios.append(ratio)
            label = "cold (builds the cache)" if number == 0 else f"restart {number}"
            cells = f"{row['load_s']:.2f} | {row['first_ms']:.2f} | {row['next_median_ms']:.2f} | {ratio:.1f}×"
            print(f"| {label} | {cells} |", flush=True)
    if ratios:
        print(f"\nmedian ratio over {len(ratios)} restarts: {statistics.median(ratios):.1f}×")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.measure.first_answer`, as `citebot bench-first-answer`."""
    parser = argparse.ArgumentParser(prog="citebot bench-first-answer", description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
