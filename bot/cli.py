"""The `citebot` command: ask, chat, check, eval, feedback, gaps, run, start, bench and bench-languages."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from bot import messages
from bot.answer import answer
from bot.config import DeprecatedSetting, Settings, SettingsError, env_name, load_settings
from bot.corpus import CorpusError
from bot.evaluation import SPLIT_PARTS, read_questions, score, select_split
from bot.feedback import Feedback, Summary, feedback_report, gaps_report, utc
from bot.languages import Languages
from bot.library import Library
from bot.ranker import ready_ranker
from bot.render import as_json, escaped, for_terminal, plain
from bot.serving import load_for

log = logging.getLogger("citebot")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# Letters Kazakh writes and Russian does not.
KAZAKH_LETTERS = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
HISTORY_FILE = ".citebot_history"


def parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    main = argparse.ArgumentParser(prog="citebot", description="Answers questions from your documents, with citations.")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--corpus", type=Path, help="folder of documents (default: CITEBOT_CORPUS_DIR or corpus/)")
        return sub

    ask = command("ask", "answer one question, or one per line from stdin")
    ask.add_argument("question", nargs="*", help="the question (omit to read questions from stdin)")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")
    command("chat", "ask questions in the terminal (Ctrl-D quits)")
    command("check", "load the corpus and report what was read and skipped")
    evaluate = command("eval", "measure answers against a QA file of JSON lines")
    evaluate.add_argument("qa_file", type=Path, metavar="QA.jsonl")
    for metric in ("p1", "hit3", "mrr"):
        evaluate.add_argument(f"--min-{metric}", type=float, default=0.0, help=f"exit 1 if {metric} falls below this")
    evaluate.add_argument("--min-abstention", type=float, default=0.0, help="exit 1 if abstention accuracy falls below")
    evaluate.add_argument("--min-answered", type=float, default=0.0, help="exit 1 if the answered share falls below")
    evaluate.add_argument("--show-misses", action="store_true", help="list the questions whose first quote is not right")
    evaluate.add_argument(
        "--split", choices=SPLIT_PARTS, help="only the questions about this part's articles (bot/data/splits.json)"
    )
    feedback = command("feedback", "👍/👎 of the last days and the latest 👎 (from CITEBOT_FEEDBACK_DB)")
    feedback.add_argument("--csv", action="store_true", help="print every vote of the period as CSV")
    feedback.add_argument("--days", type=int, default=7, help="the period, in days (default 7)")
    gaps = command("gaps", "the questions most often not found in the documents, with counts")
    gaps.add_argument("--csv", action="store_true", help="print count,question as CSV")
    gaps.add_argument("--days", type=int, default=30, help="the period, in days (default 30)")
    gaps.add_argument("--limit", type=int, default=50, help="at most this many questions (default 50)")
    command("run", "start the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    command("start", "the Telegram bot when a token is configured, else the terminal chat")
    commands.add_parser("bench", help="time build, reload and queries on synthetic corpora (see `citebot bench -h`)")
    commands.add_parser("bench-languages", help="time loads with and without language detection (see -h)")
    commands.add_parser("fit", help="fit the ranker on the benchmarks' train parts (see `citebot fit -h`)")
    return main


def load(settings: Settings, quiet: bool = False) -> Library:
    """Load the library, telling the user on stderr how long it took."""
    started = time.perf_counter()
    library = load_for(settings)
    ready_ranker(settings.semantic)
    if not quiet:
        documents, sentences = len(library.documents), library.sentence_count
        print(
            f"Loaded {documents} document{'s' * (documents != 1)}, {sentences} sentence{'s' * (sentences != 1)} "
            f"in {time.perf_counter() - started:.1f} s.",
            file=sys.stderr,
        )
    return library


def interface_language(question: str) -> str:
    """The language of citebot's own words ("not found", "Sources") for a question: English, Russian or Kazakh.

    Told by the letters, not the classifier: loading its model costs a process most of a second, and the
    script (and Kazakh's own letters) settles these three.
    """
    if not CYRILLIC.search(question):
        return "en"
    return "kk" if KAZAKH_LETTERS.search(question) else "ru"


def ask(settings: Settings, questions: Iterable[str], as_json_lines: bool) -> int:
    """Answer questions, printing plain text or JSON lines."""
    library = load(settings, quiet=as_json_lines)
    for question in questions:
        question = question.strip()
        if not question:
            continue
        result = answer(library, question, **settings.answer_options())
        if as_json_lines:
            print(json.dumps(as_json(result), ensure_ascii=False), flush=True)
        else:
            print(f"Q: {for_terminal(question)}\n{plain(result, interface_language(question))}\n", flush=True)
    return 0


def chat(settings: Settings) -> int:
    """A terminal chat on the same pipeline as the bot."""
    try:
        import readline  # noqa: F401  (imported for its side effect: line editing and history in input())

        history = Path.home() / HISTORY_FILE
        readline.set_history_length(1000)
        if history.exists():
            readline.read_history_file(history)
    except (ImportError, OSError):
        readline = None  # type: ignore[assignment]
    library = load(settings)
    print("Ask a question about the documents. Ctrl-D quits.")
    try:
        while True:
            try:
                question = input("? ").strip()
            except KeyboardInterrupt:
                print()
                continue
            if question:
                result = answer(library, question, **settings.answer_options())
                print(plain(result, interface_language(question)) + "\n")
    except EOFError:
        print()
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):  # history is a convenience: never fail the chat for it
                readline.write_history_file(history)
    return 0


def check(settings: Settings) -> int:
    """Load the corpus and report documents, sentences, skipped files and time taken."""
    library = load_for(settings)
    print(f"corpus:    {escaped(str(settings.corpus_dir))}")
    print(f"documents: {len(library.documents)}")
    print(f"formats:   {format_counts(library)}")
    print(f"sentences: {library.sentence_count}")
    print("languages: " + ", ".join(f"{code} {count}" for code, count in library.document_languages().items()))
    print(f"time:      {library.build_seconds:.2f} s")
    skipped = [s for s in library.skipped if not s.kept]
    warned = [s for s in library.skipped if s.kept]
    print(f"skipped:   {len(skipped)}")
    # A file name may hold a newline or an escape sequence: escaped, each entry stays one line of the report.
    for item in skipped:
        print(f"  {escaped(item.path)}: {escaped(item.reason)}")
    if warned:
        print(f"warnings:  {len(warned)}")
        for item in warned:
            print(f"  {escaped(item.path)}: {escaped(item.reason)}")
    return 0


def format_counts(library: Library) -> str:
    """How many documents of each format were read: `html 3, pdf 2, txt 1`."""
    counts = Counter(PurePosixPath(d.path).suffix.lower().lstrip(".") or "(none)" for d in library.documents)
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))


def evaluate(settings: Settings, args: argparse.Namespace) -> int:
    """Score answers to a QA file and check them against optional floors."""
    questions = read_questions(args.qa_file)
    library = load(settings)
    if args.split:
        questions = select_split(questions, library, args.split)
    report = score((q, answer(library, q.question, **settings.answer_options())) for q in questions)
    print(f"questions:   {report.answerable} answerable, {report.unanswerable} unanswerable"
          + (f" (split {args.split})" if args.split else ""))
    print(f"P@1:         {report.p_at_1:.3f} (the first quote is an expected sentence; \"not found\" is a miss)")
    print(f"answered:    {report.answered_rate:.3f} of answerable questions")
    print(f"precision:   {report.precision:.3f} of answered questions have an expected sentence first")
    if report.unanswerable:
        print(f"abstention:  {report.abstention:.3f} of unanswerable questions declined")
    print(f"Hit@3:       {report.hit_at_3:.3f} (ranking: the ten best sentences, answered or not)")
    print(f"MRR@10:      {report.mrr_at_10:.3f}")
    print("latency ms:  " + "  ".join(f"{k} {v:.2f}" for k, v in report.latency_ms.items()))
    if args.show_misses and report.misses:
        print("misses:      " + escaped(" ".join(report.misses)))
    floors = {
        "P@1": (report.p_at_1, args.min_p1),
        "Hit@3": (report.hit_at_3, args.min_hit3),
        "MRR@10": (report.mrr_at_10, args.min_mrr),
        "abstention": (report.abstention, args.min_abstention),
        "answered": (report.answered_rate, args.min_answered),
    }
    failed = [f"{name} {value:.3f} < {floor}" for name, (value, floor) in floors.items() if value < floor]
    if failed:
        print("below the floor: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


def _feedback_db(settings: Settings) -> Feedback | None:
    path = settings.feedback_path()
    if path is None:
        print(f"citebot: {messages.text('feedback_disabled')}", file=sys.stderr)
        return None
    if not path.exists():
        print(f"citebot: no feedback recorded yet ({path} does not exist)", file=sys.stderr)
    return Feedback(path)


def show_feedback(settings: Settings, as_csv: bool, days: int) -> int:
    """Print the votes of the last `days` days: a summary, or every vote as CSV."""
    db = _feedback_db(settings)
    if db is None:
        return 1
    if not db.path.exists():
        rows, summary = [], Summary(days, 0, 0, ())
    else:
        rows, summary = db.votes(days), db.summary(days)
    if as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["voted_at_utc", "vote", "question", "answered", "first_source", "first_source_title"])
        for row in rows:
            out.writerow([utc(row.voted_at), "up" if row.up else "down", row.question, int(row.answered),
                          row.document or "", row.title or ""])
    else:
        print(feedback_report(summary))
    return 0


def show_gaps(settings: Settings, as_csv: bool, days: int, limit: int) -> int:
    """Print the questions most often not found: a list, or count,question as CSV."""
    db = _feedback_db(settings)
    if db is None:
        return 1
    gaps = db.gaps(days, limit) if db.path.exists() else []
    if as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(["count", "question", "last_asked_utc"])
        for gap in gaps:
            out.writerow([gap.count, gap.question, utc(gap.last_asked)])
    else:
        print(gaps_report(gaps))
    return 0


def checked_settings(**overrides: object) -> Settings:
    """The settings, with CITEBOT_LANGUAGES read as every load will read it: an unsupported language is a bad setting."""
    settings = load_settings(**overrides)
    try:
        Languages.parse(settings.languages)
    except ValueError as exc:
        raise SettingsError(f"bad setting: {env_name('languages')}: {exc} (got {settings.languages!r})") from None
    return settings


def run_bot(settings: Settings) -> int:
    """Start the Telegram bot."""
    from bot.telegram.running import run  # imported here so the core commands never load python-telegram-bot

    return run(settings)


def _replace_bad_bytes(stream: object) -> None:
    # Under a strict UTF-8 locale one undecodable byte would end the run: read it as U+FFFD, answer every line.
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `citebot` command."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench-languages"]:
        from bot import language_cost  # a measurement, imported only when asked for

        return language_cost.main(argv[1:])
    if argv[:1] == ["bench"]:
        # The benchmark has its own options; it is imported only when asked for.
        from bot import bench

        return bench.main(argv[1:])
    if argv[:1] == ["fit"]:
        from bot import fit  # imported only when asked for, like the benchmark
        from bot.loader import load_library

        try:
            cache_dir = load_settings().cache_dir
        except SettingsError as exc:
            print(f"citebot: {exc}", file=sys.stderr)
            return 2
        return fit.main(argv[1:], library_for=lambda corpus: load_library(corpus, cache_dir))
    args = parser().parse_args(argv)
    if args.command == "ask" and args.question and not " ".join(args.question).strip():
        print("citebot: ask needs a question: give it as arguments, or one per line on stdin", file=sys.stderr)
        return 2
    _replace_bad_bytes(sys.stdin)
    try:
        overrides = {"corpus_dir": args.corpus} if getattr(args, "corpus", None) else {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DeprecatedSetting)
            settings = checked_settings(**overrides)
    except SettingsError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 2
    for warning in caught:
        print(f"citebot: warning: {warning.message}", file=sys.stderr)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "ask":
            questions = [" ".join(args.question)] if args.question else sys.stdin
            return ask(settings, questions, args.json)
        if args.command == "chat":
            return chat(settings)
        if args.command == "check":
            return check(settings)
        if args.command == "eval":
            return evaluate(settings, args)
        if args.command == "feedback":
            return show_feedback(settings, args.csv, args.days)
        if args.command == "gaps":
            return show_gaps(settings, args.csv, args.days, args.limit)
        if args.command == "run":
            return run_bot(settings)
        if args.command == "start":
            return run_bot(settings) if settings.telegram_bot_token else chat(settings)
    except (CorpusError, SettingsError) as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
