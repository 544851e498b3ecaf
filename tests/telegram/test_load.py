"""End to end under load: a locked feedback database, costly questions, stale 📄 presses."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.chat import feedback as fb
from bot.chat.messages import text
from tests.botapi import BotApi, serve
from tests.telegram_setup import DOCUMENTS, TOKEN, make_settings, running, write_corpus

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
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - our own table names
