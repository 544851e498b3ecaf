"""Measuring answers against a QA file: P@1, Hit@3, MRR@10, abstention and latency."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.index.library import Library
from bot.ranking.answer import Answer, Quote
from bot.text.analyzers import folded

SPLITS_FILE = Path(__file__).parent.parent / "data" / "splits.json"
SPLIT_PARTS = ("train", "dev", "test")


@dataclass(frozen=True)
class Question:
    """A QA-file line: a question and the sentences that answer it (none: it has no answer)."""

    id: str
    question: str
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Miss:
    """A question whose first quote is not right: what was asked, what was quoted first (None: not found), and what
    was expected (empty: that nothing be found)."""

    id: str
    question: str
    quoted: str | None
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """The figures of one evaluation run."""

    answerable: int
    unanswerable: int
    p_at_1: float  # share of answerable questions whose first quote is an expected sentence ("not found" = miss)
    hit_at_3: float  # ranking figures: the ten best sentences, whether or not the bot answered
    mrr_at_10: float
    ranked_p_at_1: float
    answered_rate: float  # share of answerable questions the bot did answer
    precision: float  # share of answered answerable questions whose first quote is an expected sentence
    abstention: float  # share of unanswerable questions it rightly declined
    latency_ms: dict[str, float]
    misses: tuple[Miss, ...] = ()
    shown_first: float = 0.0  # share of answerable questions whose right sentence is shown first: answer or closest
    bare_declined: float = 0.0  # share of unanswerable questions declined with no closest passage either
    shown_right: int = 0  # answerable questions with the right sentence shown first (for totals over sets)
    quoted_right: int = 0  # answerable questions with the right first quote
    declined: int = 0  # unanswerable questions declined
    bare: int = 0  # unanswerable questions declined with no closest passage


def normalize(text: str) -> str:
    """Case-fold and collapse white space, as the matching rule asks."""
    return folded(text)


def matches(returned: str, expected: str) -> bool:
    """A returned sentence matches when it contains the expected one, or is a large enough part of it."""
    got, want = normalize(returned), normalize(expected)
    return want in got or (got in want and len(got) * 2 >= len(want))


def set_folders(group: Path) -> list[Path]:
    """The evaluation sets in a group folder: each sub-folder holding corpus/ and questions.jsonl, by name."""
    return sorted(p for p in group.iterdir() if (p / "corpus").is_dir() and (p / "questions.jsonl").is_file())


def read_questions(path: Path) -> list[Question]:
    """Read a QA file (JSON lines with id, question, expected); raise ValueError naming a bad line."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            expected = row.get("expected") or ()
            # One string where a list belongs would otherwise be read as a list of single characters.
            expected = (expected,) if isinstance(expected, str) else tuple(str(e) for e in expected)
            questions.append(Question(str(row["id"]), str(row["question"]), expected))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a QA line ({exc})") from None
    return questions


def first_match(answer: Answer, expected: Sequence[str], depth: int = 10) -> int | None:
    """The 1-based rank of the first returned sentence that matches an expected one."""
    for rank, hit in enumerate(answer.results[:depth], 1):
        if any(matches(hit.sentence.text, want) for want in expected):
            return rank
    return None


def score(pairs: Iterable[tuple[Question, Answer]]) -> Report:
    """Compute the report from questions and the answers given to them."""
    ranks: list[int | None] = []
    answered: list[bool] = []
    quoted: list[bool] = []
    declined: list[bool] = []
    latencies: list[float] = []
    misses: list[Miss] = []
    shown: list[bool] = []
    bare: list[bool] = []
    for question, answer in pairs:
        latencies.append(answer.took_ms)
        if question.expected:
            rank = first_match(answer, question.expected)
            ranks.append(rank)
            answered.append(answer.answered)
            quoted.append(bool(answer.quotes) and _shows(answer.quotes[0], question.expected))
            closest = answer.closest if not answer.answered else None
            shown.append(quoted[-1] or (closest is not None and _shows(closest, question.expected)))
            if not quoted[-1]:
                misses.append(_miss(question, answer))
        else:
            declined.append(not answer.answered)
            bare.append(not answer.answered and answer.closest is None)
            if answer.answered:
                misses.append(_miss(question, answer))
    n = len(ranks)
    percentiles = np.percentile(latencies, [50, 90, 99]) if latencies else [0.0, 0.0, 0.0]
    return Report(
        answerable=n,
        unanswerable=len(declined),
        p_at_1=sum(quoted) / n if n else 0.0,
        hit_at_3=sum(r is not None and r <= 3 for r in ranks) / n if n else 0.0,
        mrr_at_10=sum(1 / r for r in ranks if r) / n if n else 0.0,
        ranked_p_at_1=sum(r == 1 for r in ranks) / n if n else 0.0,
        answered_rate=sum(answered) / n if n else 0.0,
        precision=sum(quoted) / sum(answered) if any(answered) else 0.0,
        abstention=sum(declined) / len(declined) if declined else 0.0,
        latency_ms=dict(zip(("p50", "p90", "p99"), map(float, percentiles))),
        misses=tuple(misses),
        shown_first=sum(shown) / n if n else 0.0,
        bare_declined=sum(bare) / len(bare) if bare else 0.0,
        shown_right=sum(shown),
        quoted_right=sum(quoted),
        declined=sum(declined),
        bare=sum(bare),
    )


def _shows(quote: Quote, expected: Sequence[str]) -> bool:
    """Whether a quote shows an expected sentence: as its sentence, or as one of the rest of its short section."""
    return any(matches(text, want) for text in quote.sentences for want in expected)


def _miss(question: Question, answer: Answer) -> Miss:
    quoted = " ".join(answer.quotes[0].sentences) if answer.quotes else None
    return Miss(question.id, question.question, quoted, question.expected)


@functools.cache
def split_articles() -> dict[str, str]:
    """The split part ("train", "dev", "test") of each benchmark article title listed in bot/data/splits.json."""
    data = json.loads(SPLITS_FILE.read_text(encoding="utf-8"))
    return {title: part for part, titles in data["articles"].items() for title in titles}


def question_documents(questions: Sequence[Question], library: Library) -> list[int | None]:
    """The number of the library document each question is about: the one holding an expected sentence.

    A question without an expected sentence belongs to the document of the question before it: QA
    files list their questions article by article, unanswerable ones beside the answerable ones.
    """
    texts = [normalize(" ".join(entry.sentences)) for entry in library.entries]
    out: list[int | None] = []
    previous = None
    for question in questions:
        number = _holder(question.expected, texts, library) if question.expected else previous
        out.append(number)
        previous = number
    return out


def _holder(expected: Sequence[str], texts: list[str], library: Library) -> int | None:
    """The document whose text holds an expected sentence, or else one with a sentence that matches it.

    The second is for a sentence the benchmark's splitter cut, or kept a list marker of, unlike citebot:
    it is scored by `matches`, so it belongs where `matches` finds it.
    """
    for want in map(normalize, expected):
        for number, text in enumerate(texts):
            if want in text:
                return number
    for number, entry in enumerate(library.entries):
        if any(matches(sentence, want) for sentence in entry.sentences for want in expected):
            return number
    return None


def select_split(questions: Sequence[Question], library: Library, part: str) -> list[Question]:
    """The questions about articles of one split part; raise ValueError when the file has none."""
    if part not in SPLIT_PARTS:
        raise ValueError(f"unknown split {part!r}: choose one of {', '.join(SPLIT_PARTS)}")
    parts = split_articles()
    titles = [library.documents[n].title if n is not None else None for n in question_documents(questions, library)]
    if not any(title in parts for title in titles):
        raise ValueError(f"no question is about an article listed in {SPLITS_FILE.name}: this QA file has no split")
    return [q for q, title in zip(questions, titles) if parts.get(title or "") == part]
