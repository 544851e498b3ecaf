"""The `citebot` command: one subcommand per entry of COMMANDS, each with its own options."""

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.chat import messages
from bot.chat.channels import per_channel
from bot.chat.feedback import Feedback, Summary, feedback_report, gaps_report, utc
from bot.chat.render import as_json, escaped, for_terminal, plain
from bot.config import DeprecatedSetting, Settings, SettingsError, env_name, load_settings
from bot.index.library import Library
from bot.chat.loading import load_for
from bot.ingest.corpus import CorpusError
from bot.measure.evaluation import SPLIT_PARTS, read_questions, score, select_split
from bot.ranking.answer import answer
from bot.ranking.ranker import ready_ranker
from bot.text.languages import Languages

log = logging.getLogger("citebot")
HISTORY_FILE = ".citebot_history"


@dataclass(frozen=True)
class Command:
    """A subcommand: its name and help, the options it adds, and what it runs."""

    name: str
    help: str
    run: Callable[[Settings, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    # A measurement reads its own folders and none of the bot's settings: no --corpus, no settings loaded.
    settings: bool = True


def _ask_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("question", nargs="*", help="the question (omit to read questions from stdin)")
    sub.add_argument("--json", action="store_true", help="print one JSON object per question")


def _eval_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("qa_file", type=Path, metavar="QA.jsonl")
    for metric in ("p1", "hit3", "mrr"):
        sub.add_argument(f"--min-{metric}", type=float, default=0.0, help=f"exit 1 if {metric} falls below this")
    sub.add_argument("--min-abstention", type=float, default=0.0, help="exit 1 if abstention accuracy falls below")
    sub.add_argument("--min-answered", type=float, default=0.0, help="exit 1 if the answered share falls below")
    sub.add_argument("--show-misses", action="store_true", help="list the questions whose first quote is not right")
    sub.add_argument(
        "--split", choices=SPLIT_PARTS, help="only the questions about this part's articles (bot/data/splits.json)"
    )


def _feedback_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--csv", action="store_true", help="print every vote of the period as CSV")
    sub.add_argument("--days", type=int, default=7, help="the period, in days (default 7)")


def _gaps_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--csv", action="store_true", help="print count,question,last_asked_utc as CSV")
    sub.add_argument("--days", type=int, default=30, help="the period, in days (default 30)")
    sub.add_argument("--limit", type=int, default=50, help="at most this many questions (default 50)")


def _bench_arguments(sub: argparse.ArgumentParser) -> None:
    from bot.measure import bench  # measurements are imported only by the command line

    bench.add_arguments(sub)


def _bench(settings: Settings, args: argparse.Namespace) -> int:
    from bot.measure import bench

    return bench.run(args)


def _languages_arguments(sub: argparse.ArgumentParser) -> None:
    from bot.measure import language_cost

    language_cost.add_arguments(sub)


def _bench_languages(settings: Settings, args: argparse.Namespace) -> int:
    from bot.measure import language_cost

    return language_cost.run(args)


def _posts_arguments(sub: argparse.ArgumentParser) -> None:
    from bot.measure import posts

    posts.add_arguments(sub)


def _bench_posts(settings: Settings, args: argparse.Namespace) -> int:
    from bot.measure import posts

    return posts.run(args)


def _fit_arguments(sub: argparse.ArgumentParser) -> None:
    from bot.measure import fit

    fit.add_arguments(sub)


def _fit(settings: Settings, args: argparse.Namespace) -> int:
    from bot.index.loader import load_library
    from bot.measure import fit

    try:
        cache_dir = load_settings().cache_dir
    except SettingsError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 2
    return fit.run(args, library_for=lambda corpus: load_library(corpus, cache_dir))


def _import_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("export", type=Path, help="Telegram Desktop's export of the channel: result.json or its folder")
    sub.add_argument("--channel", metavar="USERNAME", help="the channel's @username, for its posts' t.me links")


def _import_telegram(settings: Settings, args: argparse.Namespace) -> int:
    from bot.chat.channels import run_import

    return run_import(settings.corpus_dir, settings.languages, args.export, args.channel)


def _start(settings: Settings, args: argparse.Namespace) -> int:
    return run_bot(settings) if settings.telegram_bot_token else chat(settings)


COMMANDS = (
    Command("ask", "answer one question, or one per line from stdin", lambda s, a: ask_command(s, a), _ask_arguments),
    Command("chat", "ask questions in the terminal (Ctrl-D quits)", lambda s, a: chat(s)),
    Command("check", "load the corpus and report what was read and skipped", lambda s, a: check(s)),
    Command("eval", "measure answers against a QA file of JSON lines", lambda s, a: evaluate(s, a), _eval_arguments),
    Command(
        "feedback",
        "👍/👎 of the last days and the latest 👎 (from CITEBOT_FEEDBACK_DB)",
        lambda s, a: show_feedback(s, a.csv, a.days),
        _feedback_arguments,
    ),
    Command(
        "gaps",
        "the questions most often not found in the documents, with counts",
        lambda s, a: show_gaps(s, a.csv, a.days, a.limit),
        _gaps_arguments,
    ),
    Command(
        "import-telegram",
        "add a channel's history from Telegram Desktop's JSON export",
        _import_telegram,
        _import_arguments,
    ),
    Command("run", "start the Telegram bot (needs TELEGRAM_BOT_TOKEN)", lambda s, a: run_bot(s)),
    Command("start", "the Telegram bot when a token is configured, else the terminal chat", _start),
    Command("bench", "time build, reload and queries on synthetic corpora", _bench, _bench_arguments, settings=False),
    Command(
        "bench-languages",
        "time loads with and without language detection",
        _bench_languages,
        _languages_arguments,
        settings=False,
    ),
    Command(
        "bench-posts",
        "time a channel post from update to searchable, and memory over many posts",
        _bench_posts,
        _posts_arguments,
        settings=False,
    ),
    Command("fit", "fit the ranker on the benchmarks' train parts", _fit, _fit_arguments, settings=False),
)


def parser() -> argparse.ArgumentParser:
    """The command line's grammar: one subparser per entry of COMMANDS."""
    main = argparse.ArgumentParser(prog="citebot", description="Answers questions from your documents, with citations.")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        if command.settings:
            sub.add_argument("--corpus", type=Path, help="folder of documents (default: CITEBOT_CORPUS_DIR or corpus/)")
        command.arguments(sub)
        sub.set_defaults(command_entry=command)
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


def ask_command(settings: Settings, args: argparse.Namespace) -> int:
    """`citebot ask`: the question given, or one per line of stdin."""
    if args.question and not " ".join(args.question).strip():
        print("citebot: ask needs a question: give it as arguments, or one per line on stdin", file=sys.stderr)
        return 2
    return ask(settings, [" ".join(args.question)] if args.question else sys.stdin, args.json)


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
            print(f"Q: {for_terminal(question)}\n{plain(result, messages.language_of_text(question))}\n", flush=True)
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
                print(plain(result, messages.language_of_text(question)) + "\n")
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
    channels = per_channel(d.path for d in library.documents)
    if channels:
        print(f"channels:  {escaped(channels)}")
    print(f"time:      {library.build_seconds:.2f} s")
    skipped = [s for s in library.skipped if not s.warning]
    warned = [s for s in library.skipped if s.warning]
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
    print(
        f"questions:   {report.answerable} answerable, {report.unanswerable} unanswerable"
        + (f" (split {args.split})" if args.split else "")
    )
    print(f'P@1:         {report.p_at_1:.3f} (the first quote is an expected sentence; "not found" is a miss)')
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
            out.writerow(
                [
                    utc(row.voted_at),
                    "up" if row.up else "down",
                    row.question,
                    int(row.answered),
                    row.document or "",
                    row.title or "",
                ]
            )
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


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings a command runs with (`--corpus` over CITEBOT_CORPUS_DIR), deprecations said on stderr."""
    overrides = {"corpus_dir": args.corpus} if getattr(args, "corpus", None) else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecatedSetting)
        settings = checked_settings(**overrides)
    for warning in caught:
        print(f"citebot: warning: {warning.message}", file=sys.stderr)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `citebot` command."""
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    command: Command = args.command_entry
    _replace_bad_bytes(sys.stdin)
    try:
        settings = settings_for(args) if command.settings else None
    except SettingsError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 2
    try:
        return command.run(settings, args)  # type: ignore[arg-type]  # measurements take no settings
    except (CorpusError, SettingsError, OSError, ValueError) as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
