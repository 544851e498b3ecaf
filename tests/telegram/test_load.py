"""End to end under load: a locked feedback database, costly questions, stale 📄 presses."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.chat import feedback as fb
from bot.chat.messages import text
from bot.index.library import Library
from bot.ranking.answer import Answer, answer
from bot.telegram import questions
from bot.telegram.state import QUESTIONS_WAITING
from tests.botapi import BotApi, serve
from tests.telegram_setup import DOCUMENTS, OTHER, TOKEN, USER, make_settings, running, write_corpus

CAPITAL = "What is the capital of Freedonia?"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", DOCUMENTS)


@pytest.fixture
def api() -> Iterator[BotApi]:
    with serve(TOKEN) as api:
        yield api


async def test_a_locked_feedback_database_delays_no_answer_and_the_records_land_later(
    api: BotApi, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Waiting out a lock as long as it lasts: an answer that waited for its record would not come at all.
    monkeypatch.setattr(fb, "BUSY_TIMEOUT_MS", 60_000)
    path = corpus.parent / "feedback.sqlite3"
    users = range(3001, 3013)
    async with running(make_settings(api, corpus, feedback_db=str(path))):
        api.message(CAPITAL, user_id=1)
        [first] = await api.replies(1)
        await api.until(lambda: _count(path, "answers") == 1)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing, and taking its time
        try:
            for user in users:
                api.message(CAPITAL, user_id=user)
            replies = [(await api.replies(user, timeout=10))[0] for user in users]
            vote = [d for t, d in api.buttons(first) if t == "👍"][0]
            pressed = api.press(first.result, vote, user_id=1)
            [toast] = await api.until(lambda: api.toasts(pressed), timeout=10)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await api.until(lambda: _count(path, "answers") == 13 and _count(path, "votes") == 1, timeout=10)
    assert all("Fredville" in r.params["text"] for r in replies)
    # Every answer has its buttons, and they name the answer that was recorded for it.
    assert all([t for t, _ in api.buttons(r)] == ["📄 Source", "➕ More", "👍", "👎"] for r in replies)
    assert toast.params["text"] in {text("voted_up"), text("vote_pending")}


def _count(path: Path, table: str) -> int:
    """Rows in a table of the feedback database; 0 while the bot has not created it yet."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - our own table names
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


class Gate:
    """An `answer` whose costly questions (those with "costly" in them) wait in their thread until `open` is set."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.waiting = 0
        self._lock = threading.Lock()

    def __call__(self, library: Library, question: str, **options: Any) -> Answer:
        if "costly" in question:
            with self._lock:
                self.waiting += 1
            self.open.wait(30)
        return answer(library, question.replace("costly", ""), **options)


@pytest.fixture
async def threads() -> AsyncIterator[None]:
    """Threads enough for every costly question to wait in one, as CPU-bound answers would keep them all busy."""
    pool = ThreadPoolExecutor(max_workers=100)
    asyncio.get_running_loop().set_default_executor(pool)
    yield
    pool.shutdown(wait=False)


async def test_costly_questions_from_many_users_do_not_hold_up_another_user(
    api: BotApi, corpus: Path, monkeypatch: pytest.MonkeyPatch, threads: None
) -> None:
    gate = Gate()
    monkeypatch.setattr(questions, "answer", gate)
    flooders = range(5001, 5021)
    async with running(make_settings(api, corpus)):
        try:
            for _ in range(3):  # 60 costly questions from 20 users: more than the 32 updates handled at once
                for user in flooders:
                    api.message(f"costly {CAPITAL}", user_id=user)
            await api.until(lambda: gate.waiting == len(flooders), timeout=10)
            api.message("Who founded Fredville?", user_id=OTHER)
            [other] = await api.replies(OTHER, timeout=10)
            assert not api.sent(flooders[0]), "answered while the costly questions were still being worked on"
        finally:
            gate.open.set()
        for user in flooders:
            replies = await api.replies(user, 3, timeout=20)
            assert all("Fredville" in r.params["text"] for r in replies)
    assert "Rufus Firefly" in other.params["text"]
    assert gate.waiting == 3 * len(flooders)


async def test_questions_over_the_queue_get_one_note_to_ask_one_at_a_time(
    api: BotApi, corpus: Path, monkeypatch: pytest.MonkeyPatch, threads: None
) -> None:
    gate = Gate()
    monkeypatch.setattr(questions, "answer", gate)
    sent = 2 + QUESTIONS_WAITING + 3
    async with running(make_settings(api, corpus)):
        try:
            for _ in range(sent):
                api.message(f"costly {CAPITAL}")
            [note] = await api.replies(USER, timeout=10)
            await asyncio.sleep(0.2)  # room for a second note, which must not come
            assert len(api.sent(USER)) == 1
        finally:
            gate.open.set()
        replies = await api.replies(USER, 2 + QUESTIONS_WAITING, timeout=20)
        await asyncio.sleep(0.2)
    assert note.params["text"] == text("one_at_a_time")
    assert len(api.sent(USER)) == 2 + QUESTIONS_WAITING and gate.waiting == 1 + QUESTIONS_WAITING
    assert all("Fredville" in r.params["text"] for r in replies[1:])
