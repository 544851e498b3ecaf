"""The bot's latency under load, end to end against the Bot API stand-in on 127.0.0.1 (a measurement, not a test).

Twenty accounts each send ten costly questions (about 120 of the corpus's commonest words, under the
1000-character limit) at once; meanwhile another user asks ordinary questions one after another. Prints what
a costly and an ordinary question cost alone, the ordinary user's latencies under the load, and how long the
costly ones took to be answered. Run: `.venv/bin/python -m tests.load [--sentences 100000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bot.chat.messages import text
from bot.index.library import Library
from bot.index.loader import load_library
from bot.measure.bench import STOP_WORDS, generate_corpus
from bot.ranking.answer import answer
from bot.telegram.state import QUESTIONS_WAITING
from tests.botapi import serve
from tests.telegram_setup import TOKEN, make_settings, running

FLOODERS = range(7001, 7021)
COSTLY_EACH = 10
ORDINARY_USER = 9001
ORDINARY_QUESTIONS = 10
LIMIT = 1000


def costly_question(library: Library) -> str:
    """The corpus's commonest content words, as many as fit the length limit (about 120)."""
    counts = Counter(
        word
        for row in range(0, library.sentence_count, max(1, library.sentence_count // 5000))
        for word in re.findall(r"[a-z]+", library.sentence(row).text.lower())
        if word not in STOP_WORDS
    )
    question = ""
    for word, _ in counts.most_common():
        if len(question) + len(word) + 2 > LIMIT:
            break
        question += word + " "
    return question.strip() + "?"


def ordinary_questions(library: Library, count: int) -> list[str]:
    """Questions made of a few words of sentences picked across the corpus."""
    rows = np.linspace(0, library.sentence_count - 1, count).astype(int).tolist()
    return [" ".join(library.sentence(row).text.split()[:6]) + "?" for row in rows]


def alone(library: Library, question: str, times: int = 5) -> float:
    """Median seconds `answer` takes for a question with nothing else running."""
    took = []
    for _ in range(times):
        started = time.perf_counter()
        answer(library, question)
        took.append(time.perf_counter() - started)
    return statistics.median(took)


async def measure(corpus: Path) -> None:
    with serve(TOKEN) as api:
        settings = make_settings(api, corpus, user_rate_limit=COSTLY_EACH)
        async with running(settings) as state:
            library = state.library
            costly, ordinary = costly_question(library), ordinary_questions(library, ORDINARY_QUESTIONS)
            print(f"{library.sentence_count} sentences; a costly question of {len(costly.split())} words", flush=True)
            costly_ms, ordinary_ms = alone(library, costly) * 1000, alone(library, ordinary[0]) * 1000
            print(f"alone: a costly question {costly_ms:.0f} ms, an ordinary one {ordinary_ms:.0f} ms", flush=True)
            started = time.monotonic()
            for _ in range(COSTLY_EACH):
                for user in FLOODERS:
                    api.message(costly, user_id=user)
            latencies = []
            for question in ordinary:
                asked = time.monotonic()
                before = len(api.sent(ORDINARY_USER))
                api.message(question, user_id=ORDINARY_USER)
                await api.until(lambda n=before: len(api.sent(ORDINARY_USER)) > n, timeout=120)
                latencies.append(api.sent(ORDINARY_USER)[-1].at - asked)
            # Each flooder gets its answers, or a note to ask one at a time for what did not fit its queue.
            await api.until(lambda: all(len(api.sent(u)) >= 1 + QUESTIONS_WAITING + 1 for u in FLOODERS), timeout=600)
            await asyncio.sleep(1)
            flood = max(api.sent(u)[-1].at for u in FLOODERS) - started
            answered = sum(1 for u in FLOODERS for r in api.sent(u) if r.params["text"] != text("one_at_a_time"))
    print(
        f"ordinary user under load: median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s "
        f"({len(latencies)} questions); of {COSTLY_EACH * len(FLOODERS)} costly questions {answered} answered "
        f"(the rest told to ask one at a time) within {flood:.1f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus"
        generate_corpus(corpus, args.sentences)
        load_library(corpus, Path(folder) / "cache")  # built once here, so the bot starts from the snapshot
        asyncio.run(measure(corpus))


if __name__ == "__main__":
    main()
