"""End to end under load: a locked feedback database, costly questions, stale 📄 presses."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.chat import feedback as fb
from bot.chat import refs
from bot.chat.followups import answer_in_turn
from bot.chat.messages import text
from bot.index.library import Library
from bot.telegram import questions
from bot.telegram.state import QUESTIONS_WAITING
from tests.botapi import BotApi, Call
from tests.telegram_setup import ADMIN, DOCUMENTS, OTHER, USER, make_settings, running, write_corpus

CAPITAL = "What is the capital of Freedonia?"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", DOCUMENTS)


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
    """An `answer_in_turn` whose costly questions (those with "costly" in them) wait in their thread until `open`."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.waiting = 0
        self._lock = threading.Lock()

    def __call__(self, library: Library, question: str, before: Any, now: float, **options: Any) -> Any:
        if "costly" in question:
            with self._lock:
                self.waiting += 1
            self.open.wait(30)
        return answer_in_turn(library, question.replace("costly", ""), before, now, **options)


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
    monkeypatch.setattr(questions, "answer_in_turn", gate)
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
    monkeypatch.setattr(questions, "answer_in_turn", gate)
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


class SlowDigest:
    """refs.text_digest, but hashing `text` waits (in whatever thread it runs) until `release` is set."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.release = threading.Event()
        self.reached = threading.Event()
        self.waited_out = False  # nobody released it: whatever was waiting for the release was blocked
        self._digest = refs.text_digest

    def __call__(self, text: str) -> str:
        if text == self.text:
            self.reached.set()
            self.waited_out = not self.release.wait(5)
        return self._digest(text)


async def _moved_source_button(api: BotApi, corpus: Path) -> tuple[Call, str]:
    """Ask, then move the quoted sentence down its document with a reload; the reply and its stale 📄 data."""
    api.message(CAPITAL)
    [reply] = await api.replies(USER)
    freedonia = corpus / "freedonia.md"
    freedonia.write_text(freedonia.read_text().replace("Freedonia is a small", "Welcome. Freedonia is a small"))
    api.message("/reload", user_id=ADMIN)
    await api.replies(ADMIN)
    [source] = [d for t, d in api.buttons(reply) if "Source" in t]
    return reply, source


async def test_finding_a_moved_sentence_does_not_stall_other_users(
    api: BotApi, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(make_settings(api, corpus)):
        reply, source = await _moved_source_button(api, corpus)
        slow = SlowDigest("Welcome.")  # only a search through the whole document hashes this sentence
        monkeypatch.setattr(refs, "text_digest", slow)
        pressed = api.press(reply.result, source)
        await api.until(slow.reached.is_set)
        try:
            api.message("What does the moon Kerbin orbit?", user_id=OTHER)
            [other] = await api.replies(OTHER, timeout=5)
        finally:
            slow.release.set()
        [toast] = await api.until(lambda: api.toasts(pressed))
    assert not slow.waited_out, "the event loop stood still while the document was searched"
    assert "Jool" in other.params["text"] and toast.params["text"] == text("source_sent")


async def test_source_presses_share_the_question_allowance(api: BotApi, corpus: Path) -> None:
    async with running(make_settings(api, corpus, user_rate_limit=3, user_rate_period=60)):
        reply, source = await _moved_source_button(api, corpus)
        toasts = []
        for _ in range(3):
            pressed = api.press(reply.result, source)
            toasts.append((await api.until(lambda p=pressed: api.toasts(p)))[0].params["text"])
    assert toasts == [text("source_sent"), text("source_sent"), text("slow_down")]
