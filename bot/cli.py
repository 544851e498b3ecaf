"""The `citebot` command: one subcommand per entry of COMMANDS, each with its own options."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import os
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot import __version__
from bot.chat import messages
from bot.chat.channels import per_channel
from bot.chat.feedback import Feedback, Summary, feedback_report, gaps_report, utc
from bot.chat.followups import Conversations, answer_in_turn
from bot.chat.loading import load_for
from bot.chat.render import as_json, escaped, for_terminal, plain
from bot.config import DeprecatedSetting, Settings, SettingsError, env_name, load_settings
from bot.index.library import Library
from bot.ingest.corpus import CorpusError, MissingCorpus, grouped
from bot.measure.evaluation import SPLIT_PARTS, read_questions, score, select_split, set_folders
from bot.ranking.answer import answer
from bot.text.languages import Languages

log = logging.getLogger("citebot")
HISTORY_FILE = ".citebot_history"
# The CSV columns, as `--help` names them and the rows are written.
FEEDBACK_CSV = ("voted_at_utc", "vote", "question", "answered", "first_source", "first_source_title")
GAPS_CSV = ("count", "question", "last_asked_utc")


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
    sub.add_argument(
        "qa_file",
        type=Path,
        metavar="QA.jsonl",
        help="a QA file, or a folder of sets (each sub-folder with corpus/ and questions.jsonl): a table per set",
    )
    for metric in ("p1", "hit3", "mrr"):
        sub.add_argument(f"--min-{metric}", type=float, default=0.0, help=f"exit 1 if {metric} falls below this")
    sub.add_argument("--min-abstention", type=float, default=0.0, help="exit 1 if abstention accuracy falls below")
    sub.add_argument("--min-answered", type=float, default=0.0, help="exit 1 if the answered share falls below")
    sub.add_argument(
        "--min-shown", type=float, default=0.0, help="exit 1 if the right sentence is shown first less often"
    )
    sub.add_argument(
        "--min-bare",
        type=float,
        default=0.0,
        help="exit 1 if fewer unanswerable questions are declined with no closest passage",
    )
    sub.add_argument("--show-misses", action="store_true", help="list the questions whose first quote is not right")
    sub.add_argument(
        "--split", choices=SPLIT_PARTS, help="only the questions about this part's articles (bot/data/splits.json)"
    )


def _feedback_arguments(sub: argparse.ArgumentParser) -> None:
    columns = ",".join(FEEDBACK_CSV)
    sub.add_argument("--csv", action="store_true", help=f"print every vote of the period as CSV: {columns}")
    sub.add_argument("--days", type=int, default=7, help="the period, in days (default 7)")


def _gaps_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--csv", action="store_true", help=f"print {','.join(GAPS_CSV)} as CSV")
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

    return _no_benchmarks(args, "bench-languages") or language_cost.run(args)


def _first_answer_arguments(sub: argparse.ArgumentParser) -> None:
    from bot.measure import first_answer

    first_answer.add_arguments(sub)


def _bench_first_answer(settings: Settings, args: argparse.Namespace) -> int:
    from bot.measure import first_answer

    return first_answer.run(args)


def _sync_bench_arguments(sub: argparse.ArgumentParser) -> None:
    from bot.measure import bench_sync

    bench_sync.add_arguments(sub)


def _bench_sync(settings: Settings, args: argparse.Namespace) -> int:
    from bot.measure import bench_sync

    return bench_sync.run(args)


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
    return _no_benchmarks(args, "fit") or fit.run(args, library_for=lambda corpus: load_library(corpus, cache_dir))


def _no_benchmarks(args: argparse.Namespace, command: str) -> int:
    """0 with `args.benchmarks` set (--benchmarks, else CITEBOT_BENCHMARKS_DIR); 1, said, without such a folder."""
    if args.benchmarks is None:
        args.benchmarks = load_settings().benchmarks_dir
    if args.benchmarks.is_dir():
        return 0
    print(
        f"citebot {command}: benchmarks folder not found: {args.benchmarks} "
        f"(give --benchmarks DIR or set {env_name('benchmarks_dir')})",
        file=sys.stderr,
    )
    return 1


def _followups_arguments(sub: argparse.ArgumentParser) -> None:
    from bot.measure import followups

    followups.add_arguments(sub)


def _eval_followups(settings: Settings, args: argparse.Namespace) -> int:
    from bot.index.loader import load_library
    from bot.measure import followups

    try:
        cache_dir = load_settings().cache_dir
    except SettingsError as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 2
    return followups.run(args, library_for=lambda corpus: load_library(corpus, cache_dir))


def _sync_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--sources", type=Path, help="the sources file (default: CITEBOT_SOURCES or sources.yml)")


def _sync(settings: Settings, args: argparse.Namespace) -> int:
    from bot.chat.syncing import sync_for
    from bot.ingest.sources.web.report import format_report

    report = sync_for(settings, args.sources)
    # A URL from a feed may hold escape sequences: each line escaped, the report stays what it says.
    print("\n".join(escaped(line) for line in format_report(report).split("\n")))
    return 1 if report.sites and all(site.refused for site in report.sites) else 0


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
        "eval-followups",
        "measure follow-up questions (two-turn chats) with and without the follow-up rule",
        _eval_followups,
        _followups_arguments,
        settings=False,
    ),
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
    Command("sync", "fetch the websites of the sources file into the corpus folder", _sync, _sync_arguments),
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
        "bench-sync",
        "time a sync of a website served on loopback, then its unchanged re-sync",
        _bench_sync,
        _sync_bench_arguments,
        settings=False,
    ),
    Command(
        "bench-first-answer",
        "time the first answer after a start against the next ones",
        _bench_first_answer,
        _first_answer_arguments,
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
    main.add_argument("--version", action="version", version=f"citebot {__version__}")
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
    library = load_for(settings)  # the ranker too, with a warning if embeddings were asked for and are absent
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
        readline = None  # type: ignore[assignment]  # no readline on this platform: the chat reads plain lines
    library = load(settings)
    # One user in one chat: a short question leaning on the last ("And in which years?") keeps its subject.
    conversation = Conversations(settings.followup_minutes * 60.0)
    print("Ask a question about the documents. Ctrl-D quits.")
    try:
        with _own_terminal():
            while True:
                try:
                    question = input("? ").strip()
                except KeyboardInterrupt:
                    print()
                    continue
                if question:
                    now = time.monotonic()
                    before = conversation.before(0, 0, now)
                    result, reading, turn = answer_in_turn(library, question, before, now, **settings.answer_options())
                    conversation.remember(0, 0, turn)
                    if reading.follows:
                        print(f"({for_terminal(reading.shown)})")
                    print(plain(result, messages.language_of_text(question)) + "\n")
    except EOFError:
        print()
    finally:
        if readline is not None:
            with contextlib.suppress(OSError):  # history is a convenience: never fail the chat for it
                readline.write_history_file(history)
    return 0


@contextlib.contextmanager
def _own_terminal() -> Iterator[None]:
    """While the chat runs, Ctrl-C at its prompt reaches it alone: the terminal's foreground is its own process group.

    Otherwise the `make run` it runs under gets the Ctrl-C too, waits for the chat, and exits 130 after a Ctrl-D.
    Nothing changes when stdin is no terminal or the chat leads its process group already (started by a shell).
    """
    try:
        terminal = sys.stdin.fileno()
        before = os.tcgetpgrp(terminal)
    except (OSError, ValueError, io.UnsupportedOperation):
        yield
        return
    if os.getpgrp() == os.getpid() or before != os.getpgrp():
        yield
        return
    blocked = {signal.SIGTTOU}  # set from a background group, the terminal would stop us with SIGTTOU
    try:
        os.setpgid(0, 0)
        old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            os.tcsetpgrp(terminal, os.getpgrp())
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(terminal, before)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


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
    for path, reason in grouped(skipped):
        print(f"  {escaped(path)}: {escaped(reason)}")
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
    """Score answers to a QA file, or to each set of a folder, and check them against optional floors."""
    if args.qa_file.is_dir():
        return evaluate_sets(settings, args)
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
    print(f"shown first: {report.shown_first:.3f} (an expected sentence as the first quote or as the closest passage)")
    print(f"answered:    {report.answered_rate:.3f} of answerable questions")
    print(f"precision:   {report.precision:.3f} of answered questions have an expected sentence first")
    if report.unanswerable:
        print(f"abstention:  {report.abstention:.3f} of unanswerable questions declined")
        print(f"bare:        {report.bare_declined:.3f} of unanswerable questions declined with no closest passage")
    print(f"Hit@3:       {report.hit_at_3:.3f} (ranking: the ten best sentences, answered or not)")
    print(f"MRR@10:      {report.mrr_at_10:.3f}")
    print("latency ms:  " + "  ".join(f"{k} {v:.2f}" for k, v in report.latency_ms.items()))
    if args.show_misses and report.misses:
        print(f"misses:      {len(report.misses)}")
        for miss in report.misses:
            print(f"  {escaped(miss.id)}: {escaped(miss.question)}")
            print(f"    quoted:   {escaped(miss.quoted) if miss.quoted is not None else '(not found)'}")
            print(f"    expected: {' | '.join(escaped(e) for e in miss.expected) or '(not found)'}")
    return _floors(
        args,
        {
            "P@1": report.p_at_1,
            "shown first": report.shown_first,
            "Hit@3": report.hit_at_3,
            "MRR@10": report.mrr_at_10,
            "abstention": report.abstention,
            "bare": report.bare_declined,
            "answered": report.answered_rate,
        },
    )


def evaluate_sets(settings: Settings, args: argparse.Namespace) -> int:
    """`citebot eval FOLDER`: each set of the folder on its own corpus, a row per set, then the totals."""
    folders = set_folders(args.qa_file)
    if not folders:
        print(f"citebot: {escaped(str(args.qa_file))} holds no set (a folder with corpus/ and questions.jsonl)")
        return 2
    print(f"{'set':<14} {'answerable':>10} {'P@1':>6} {'shown':>6} {'off-topic':>9} {'declined':>8} {'bare':>6}")
    reports = []
    for folder in folders:
        library = load(settings.model_copy(update={"corpus_dir": folder / "corpus"}), quiet=True)
        questions = read_questions(folder / "questions.jsonl")
        report = score((q, answer(library, q.question, **settings.answer_options())) for q in questions)
        reports.append(report)
        print(
            f"{escaped(folder.name):<14} {report.answerable:>10} {report.p_at_1:>6.3f} {report.shown_first:>6.3f} "
            f"{report.unanswerable:>9} {report.abstention:>8.3f} {report.bare_declined:>6.3f}"
        )
        if args.show_misses and report.misses:
            print("  misses: " + escaped(" ".join(miss.id for miss in report.misses)))
    answerable = sum(r.answerable for r in reports) or 1
    off_topic = sum(r.unanswerable for r in reports) or 1
    totals = {
        "P@1": sum(r.quoted_right for r in reports) / answerable,
        "shown first": sum(r.shown_right for r in reports) / answerable,
        "abstention": sum(r.declined for r in reports) / off_topic,
    }
    totals["bare"] = bare = sum(r.bare for r in reports) / off_topic
    print(
        f"{'all':<14} {sum(r.answerable for r in reports):>10} {totals['P@1']:>6.3f} {totals['shown first']:>6.3f} "
        f"{sum(r.unanswerable for r in reports):>9} {totals['abstention']:>8.3f} {bare:>6.3f}"
    )
    print("shown: the right sentence first as the answer or as the closest passage; bare: off-topic questions")
    print("declined with no closest passage either")
    return _floors(args, totals)


def _floors(args: argparse.Namespace, values: dict[str, float]) -> int:
    """Exit status 1, with a note on stderr, when a figure is under the floor the options set."""
    options = {
        "P@1": args.min_p1,
        "shown first": args.min_shown,
        "Hit@3": args.min_hit3,
        "MRR@10": args.min_mrr,
        "abstention": args.min_abstention,
        "bare": args.min_bare,
        "answered": args.min_answered,
    }
    floors = {name: (value, options[name]) for name, value in values.items()}
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
        out.writerow(FEEDBACK_CSV)
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
    if not db.path.exists() and not as_csv:
        # Without a database nothing was recorded: saying every question was found would be untrue.
        print(
            "No questions recorded yet: the Telegram bot records them; the terminal chat and `citebot ask` record "
            "nothing."
        )
        return 0
    gaps = db.gaps(days, limit) if db.path.exists() else []
    if as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(GAPS_CSV)
        for gap in gaps:
            out.writerow([gap.count, gap.question, utc(gap.last_asked)])
    else:
        print(gaps_report(gaps))
    return 0


def checked_settings(**overrides: object) -> Settings:
    """The settings, CITEBOT_LANGUAGES read as every load reads it: an unsupported language is a bad setting."""
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


def _corpus_hint(args: argparse.Namespace, settings: Settings | None) -> str:
    """What named the corpus folder (`--corpus`, CITEBOT_CORPUS_DIR or the default), and how to name another."""
    variable = env_name("corpus_dir")
    if getattr(args, "corpus", None):
        return "(given with --corpus); create it or give another folder"
    if settings is not None and "corpus_dir" in settings.model_fields_set:
        return f"(set by {variable}); create it or set {variable} to another folder"
    return f"(the default: neither --corpus nor {variable} is set); create it, or give --corpus DIR or set {variable}"


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
    except MissingCorpus as exc:
        print(f"citebot: {exc} {_corpus_hint(args, settings)}", file=sys.stderr)
        return 1
    except (CorpusError, SettingsError, OSError, ValueError) as exc:
        print(f"citebot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
