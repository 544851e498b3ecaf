"""`citebot bench-languages`: what language detection costs, load time with `CITEBOT_LANGUAGES=en` against `auto`.

Run from the repository (the benchmarks in ../shared/benchmarks give the texts, corpus/ is the seed):

    .venv/bin/citebot bench-languages [--runs 5] [--benchmarks DIR]

Corpora, written to a temporary folder without a `language:` line, so every document is detected:
the seed `corpus/`, and 20 and 1,000 documents of about 1,500 characters each, English, Russian and
Kazakh in turn (paragraphs of XQuAD en/ru, WikiQA and KazQAD articles). Each figure is the median of
`--runs` fresh processes, `en` and `auto` run alternately so drift on a shared machine hits both,
in CPU seconds (what the process itself spent: steadier than wall time on a shared machine) and wall seconds:
`load_library` inside the process, and the whole `citebot check` process; with an empty cache folder
(a first run), with the analyses gone but the unpacked language model kept (a new corpus, a new
analyzer version), and warm (the analyses and snapshot a previous load left). Then question detection
per question (p50 and p99 over the XQuAD questions, in one warm process).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.config import BENCHMARKS_DIR, BENCHMARKS_HELP

BIN = Path(sys.executable).parent
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
DOCUMENT_CHARS = 1_500
SIZES = (20, 1_000)
CHILD = """
import sys, time
from pathlib import Path
from bot.index.loader import load_library
started, cpu = time.perf_counter(), time.process_time()
load_library(Path(sys.argv[1]), Path(sys.argv[2]), languages=sys.argv[3])
print(time.process_time() - cpu, time.perf_counter() - started)
"""


def _paragraphs(folder: Path) -> list[str]:
    out: list[str] = []
    for file in sorted(folder.glob("*.txt")) + sorted(folder.glob("*.md")):
        text = FRONT_MATTER.sub("", file.read_text("utf-8"))
        out.extend(p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 80)
    return out


def _documents(paragraphs: list[str]) -> list[str]:
    """Consecutive paragraphs joined into documents of about DOCUMENT_CHARS characters."""
    documents, current = [], ""
    for paragraph in paragraphs:
        current = f"{current}\n\n{paragraph}" if current else paragraph
        if len(current) >= DOCUMENT_CHARS:
            documents.append(current)
            current = ""
    return documents


def write_corpora(benchmarks: Path, seed: Path, out: Path) -> dict[str, Path]:
    """The corpora to measure: name → folder."""
    sources = {
        "en": _documents(_paragraphs(benchmarks / "xquad/corpus/en") + _paragraphs(benchmarks / "wikiqa/corpus")),
        "ru": _documents(_paragraphs(benchmarks / "xquad/corpus/ru")),
        "kk": _documents(_paragraphs(benchmarks / "kazqad/corpus")),
    }
    # English, Russian, Kazakh in turn, as long as each lasts; the rest from those that remain.
    mixed: list[str] = []
    while any(sources.values()) and len(mixed) < max(SIZES):
        for texts in sources.values():
            if texts and len(mixed) < max(SIZES):
                mixed.append(texts.pop(0))
    corpora = {"seed": seed.resolve()}
    for size in SIZES:
        folder = out / f"docs{size}"
        folder.mkdir(parents=True)
        for number, text in enumerate(mixed[:size]):
            title = text.split("\n", 1)[0][:60]
            (folder / f"{number:04d}.md").write_text(f"# {title}\n\n{text}\n", "utf-8")
        corpora[f"{size} documents"] = folder
    return corpora


def _env(cache: Path, corpus: Path, languages: str) -> dict[str, str]:
    # Only what the process needs: nothing of the caller's settings leaks in.
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cache.parent),
        "CITEBOT_CORPUS_DIR": str(corpus),
        "CITEBOT_CACHE_DIR": str(cache),
        "CITEBOT_LANGUAGES": languages,
        "CITEBOT_FEEDBACK_DB": "",
    }


def _in_process(corpus: Path, cache: Path, languages: str) -> tuple[float, float]:
    """CPU and wall seconds of load_library in a fresh process."""
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(corpus), str(cache), languages],
        env=_env(cache, corpus, languages),
        capture_output=True,
        text=True,
        check=True,
        cwd=cache.parent,
    )
    cpu, wall = run.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def _whole_check(corpus: Path, cache: Path, languages: str) -> tuple[float, float]:
    """CPU (user + system) and wall seconds of a whole `citebot check` process."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(
        [str(BIN / "citebot"), "check"],
        env=_env(cache, corpus, languages),
        capture_output=True,
        check=True,
        cwd=cache.parent,
    )
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def measure(corpus: Path, work: Path, runs: int) -> dict[str, dict[str, tuple[float, float]]]:
    """Median CPU and wall seconds per (measure, cache state), for `en` and for `auto`."""
    times: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for run in range(runs):
        for languages in ("en", "auto"):
            for name, timed in (("load_library", _in_process), ("citebot check", _whole_check)):
                cache = work / f"cache-{languages}-{name.replace(' ', '_')}-{run}"
                shutil.rmtree(cache, ignore_errors=True)
                cold = timed(corpus, cache, languages)
                warm = timed(corpus, cache, languages)
                for analyses in cache.glob("corpus-*"):
                    shutil.rmtree(analyses)  # what a new corpus finds: no analysis, the model of an earlier one
                fresh = timed(corpus, cache, languages)
                for state, seconds in (("first run", cold), ("no analyses, model kept", fresh), ("warm", warm)):
                    times.setdefault(f"{name}, {state}", {}).setdefault(languages, []).append(seconds)
                shutil.rmtree(cache, ignore_errors=True)
    return {
        row: {
            lang: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
            for lang, values in cells.items()
        }
        for row, cells in times.items()
    }


def question_detection(benchmarks: Path) -> dict[str, float]:
    """p50 and p99 milliseconds of one question's language guess, the model already loaded."""
    from bot.text.languages import question_language

    questions = []
    for name in ("questions_en.jsonl", "questions_ru.jsonl"):
        with open(benchmarks / "xquad" / name, encoding="utf-8") as lines:
            questions += [json.loads(line)["question"] for line in lines if line.strip()]
    out = {}
    for label, prior in (("en+ru", {"en": 0.5, "ru": 0.5}), ("en+ru+kk", {"en": 0.4, "ru": 0.4, "kk": 0.2})):
        question_language(questions[0], prior)  # the model loads once per process: not a question's cost
        seconds = []
        for question in questions * 3:
            started = time.perf_counter()
            question_language(question, prior)
            seconds.append(time.perf_counter() - started)
        seconds.sort()
        out[f"{label} p50 ms"] = 1000 * seconds[len(seconds) // 2]
        out[f"{label} p99 ms"] = 1000 * seconds[int(len(seconds) * 0.99)]
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `citebot bench-languages`."""
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--benchmarks", type=Path, help=BENCHMARKS_HELP)
    parser.add_argument("--seed", type=Path, default=Path("corpus"), help="the seed corpus folder (default: corpus)")
    parser.add_argument("--only", help="measure only the corpus with this name (seed, 20, 1000)")


def run(args: argparse.Namespace) -> int:
    """Measure and print a Markdown table."""
    with tempfile.TemporaryDirectory(prefix="citebot-langcost-") as temporary:
        work = Path(temporary)
        corpora = write_corpora(args.benchmarks.resolve(), args.seed, work / "corpora")
        print("| corpus | measure | CPU en (s) | CPU auto (s) | growth | wall en (s) | wall auto (s) | growth |")
        print("|---|---|---|---|---|---|---|---|")
        for corpus_name, folder in corpora.items():
            if args.only and not corpus_name.startswith(args.only):
                continue
            for row, cells in measure(folder, work, args.runs).items():
                cpu = " | ".join(
                    f"{cells['en'][i]:.3f} | {cells['auto'][i]:.3f} | "
                    f"{100 * (cells['auto'][i] / cells['en'][i] - 1):+.0f}%"
                    for i in (0, 1)
                )
                print(f"| {corpus_name} | {row} | {cpu} |", flush=True)
    for name, value in question_detection(args.benchmarks).items():
        print(f"question detection {name}: {value:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.measure.language_cost`, as `citebot bench-languages`."""
    parser = argparse.ArgumentParser(prog="citebot bench-languages", description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.benchmarks = args.benchmarks or BENCHMARKS_DIR
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
