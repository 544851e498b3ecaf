"""Measuring follow-up questions: two-turn chats, each answered with and without the follow-up rule."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.chat.followups import answer_in_turn
from bot.index.library import Library
from bot.measure.evaluation import Question, Report, score
from bot.ranking.answer import Answer, answer


@dataclass(frozen=True)
class Pair:
    """A followups.jsonl line: a question asked after `before` in the same chat, over one set's corpus."""

    id: str
    set: str
    before: str
    question: str
    reply: bool
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What one pair got: the answer alone, the answer with the rule, and whether the rule read it as a follow-up."""

    pair: Pair
    alone: Answer
    ruled: Answer
    follows: bool


def read_pairs(path: Path) -> list[Pair]:
    """Read a followups file (JSON lines); raise ValueError naming a bad line."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            expected = tuple(str(e) for e in row.get("expected") or ())
            pairs.append(
                Pair(
                    str(row["id"]), str(row["set"]), str(row["before"]), str(row["question"]), bool(row.get("reply")),
                    expected,
                )
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a follow-up line ({exc})") from None
    return pairs


def run_pair(library: Library, pair: Pair) -> Outcome:
    """Ask `before`, then the follow-up as a chat would (a minute later), and the follow-up alone."""
    _, _, turn = answer_in_turn(library, pair.before, None, 0.0)
    # A reply leans on the answer it replies to; here that is the answer to `before`, the last turn too.
    ruled, reading, _ = answer_in_turn(library, pair.question, turn, 60.0)
    return Outcome(pair, answer(library, pair.question), ruled, reading.follows)


def outcomes(pairs: Iterable[Pair], library_for: Callable[[str], Library]) -> list[Outcome]:
    """Every pair's outcome, each over the corpus of its set."""
    return [run_pair(library_for(pair.set), pair) for pair in pairs]


def reports(results: list[Outcome]) -> tuple[Report, Report]:
    """The figures without the rule and with it."""
    as_question = [Question(o.pair.id, o.pair.question, o.pair.expected) for o in results]
    alone = score(zip(as_question, (o.alone for o in results)))
    ruled = score(zip(as_question, (o.ruled for o in results)))
    return alone, ruled


def add_arguments(sub: argparse.ArgumentParser) -> None:
    """The options of `citebot eval-followups`."""
    sub.add_argument("pairs_file", type=Path, metavar="FOLLOWUPS.jsonl", help="its sets are folders beside it")
    sub.add_argument("--min-p1", type=float, default=0.0, help="exit 1 if P@1 with the rule falls below this")
    sub.add_argument("--min-abstention", type=float, default=0.0, help="exit 1 if off-topic ones declined fall below")
    sub.add_argument("--show-misses", action="store_true", help="list the pairs the rule gets wrong")


def run(args: argparse.Namespace, library_for: Callable[[Path], Library]) -> int:
    """`citebot eval-followups`: P@1 of the second questions without and with the follow-up rule."""
    pairs = read_pairs(args.pairs_file)
    libraries: dict[str, Library] = {}

    def library(name: str) -> Library:
        if name not in libraries:
            libraries[name] = library_for(args.pairs_file.parent / name / "corpus")
        return libraries[name]

    results = outcomes(pairs, library)
    alone, ruled = reports(results)
    print(f"pairs:        {len(pairs)} ({alone.answerable} answerable, {alone.unanswerable} off-topic)")
    print(f"read as follow-ups: {sum(o.follows for o in results)}")
    print(f"P@1:          {alone.p_at_1:.3f} alone, {ruled.p_at_1:.3f} with the follow-up rule")
    print(
        f"shown first:  {alone.shown_first:.3f} alone, {ruled.shown_first:.3f} with the follow-up rule"
        " (the right sentence as the answer or as the closest passage)"
    )
    print(
        f"ranked P@1:   {alone.ranked_p_at_1:.3f} alone, {ruled.ranked_p_at_1:.3f} with the follow-up rule"
        " (the first-ranked sentence, answered or not)"
    )
    if ruled.unanswerable:
        print(f"abstention:   {alone.abstention:.3f} alone, {ruled.abstention:.3f} with the follow-up rule")
    for language in sorted({p.id.split("-")[1] for p in pairs if p.id.count("-") >= 2}):
        part = [o for o in results if o.pair.id.split("-")[1:2] == [language]]
        a, r = reports(part)
        print(f"  {language}: P@1 {a.p_at_1:.3f} alone, {r.p_at_1:.3f} with the rule ({len(part)} pairs)")
    if args.show_misses and ruled.misses:
        print("misses:       " + " ".join(miss.id for miss in ruled.misses))
    floors = {"P@1": (ruled.p_at_1, args.min_p1), "abstention": (ruled.abstention, args.min_abstention)}
    failed = [f"{name} {value:.3f} < {floor}" for name, (value, floor) in floors.items() if value < floor]
    if failed:
        print("below the floor: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0
