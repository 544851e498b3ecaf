"""End-to-end tests of the Telegram layer: the real Application against a local Bot API stand-in."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from botapi import BOT_ID, BOT_USERNAME, MAX_MESSAGE_LENGTH, BotApi, parse_html, serve

import bot.telegram as tg
from bot.answer import answer
from bot.config import Settings, load_settings
from bot.corpus import CorpusError
from bot.index import Library, load_library
from bot.render import html_messages, plain_messages

TOKEN = "123456:TEST-token-abc"
ADMIN = 4242
USER = 1001
OTHER = 2002
GROUP = -100500

DOCUMENTS = {
    "freedonia.md": (
        "# Freedonia\n\n"
        "Freedonia is a small mountain country famous for its cheese. "
        "The capital of Freedonia is Fredville, on the river Marx. "
        "Fredville was founded in 1802 by the explorer Rufus Firefly. "
        "The national animal of Freedonia is the golden goose.\n"
    ),
    "notes/markup.txt": (
        "Operators in the Zork language look like a < b && c > d and x <= y. "
        "The Zork tags <script> & <b> are printed literally, as is AT&T and R&D.\n"
    ),
    "astronomy.txt": (
        "The moon Kerbin orbits the gas giant Jool every forty days. "
        "Astronomers first observed Kerbin through a brass telescope.\n"
    ),
}


def write_corpus(root: Path, documents: dict[str, str]) -> Path:
    for name, text in documents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", DOCUMENTS)


@pytest.fixture
def api() -> Iterator[BotApi]:
    with serve(TOKEN) as api:
        yield api


def make_settings(api: BotApi, corpus: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "corpus_dir": corpus,
        "cache_dir": corpus.parent / "cache",
        "telegram_bot_token": TOKEN,
        "telegram_base_url": api.base_url,
        "telegram_base_file_url": api.base_url.replace("/bot", "/file/bot"),
        "admin_ids": frozenset({ADMIN}),
        "workers": 1,
    }
    return load_settings(**(values | overrides))


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tg.BotState]:
    """Run the real Application the way `run_polling` does, minus the signal handling."""
    library = await asyncio.to_thread(load_library, settings)
    application = tg.build_application(settings, library)
    await application.initialize()
    await application.post_init(application)
    await application.updater.start_polling(**tg.POLLING, poll_interval=0.0, timeout=5)
    await application.start()
    try:
        yield application.bot_data[tg.STATE]
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@pytest.fixture
async def state(api: BotApi, corpus: Path) -> AsyncIterator[tg.BotState]:
    async with running(make_settings(api, corpus)) as state:
        yield state


def expected_answer(settings: Settings, library: Library, question: str, plain: bool = False) -> list[str]:
    """What the core renders for a question, to compare with what the bot sent."""
    result = answer(library, question, settings)
    return (plain_messages if plain else html_messages)(result, MAX_MESSAGE_LENGTH)


# ---- start, help, command menu ---------------------------------------------------------------


async def test_start_registers_command_menu(api: BotApi, state: tg.BotState) -> None:
    public = [{"command": c, "description": d} for c, d in tg.COMMANDS if c not in tg.ADMIN_COMMANDS]
    everything = [{"command": c, "description": d} for c, d in tg.COMMANDS]
    assert api.commands['{"type": "default"}'] == public
    assert api.commands[f'{{"chat_id": {ADMIN}, "type": "chat"}}'] == everything
    assert {"reload", "stats"} <= {c for c, _ in tg.COMMANDS}


async def test_start_greets_with_corpus_size(api: BotApi, state: tg.BotState) -> None:
    api.message("/start")
    [reply] = await api.replies(USER)
    text = reply.params["text"]
    assert f"{len(DOCUMENTS)} documents" in text
    assert f"({state.library.sentence_count} sentences)" in text
    assert "/ask" in text and f"@{BOT_USERNAME}" in text


@pytest.mark.parametrize(("user_id", "shows_admin"), [(USER, False), (ADMIN, True)])
async def test_help_lists_commands(api: BotApi, state: tg.BotState, user_id: int, shows_admin: bool) -> None:
    api.message("/help", user_id=user_id)
    [reply] = await api.replies(user_id)
    text = reply.params["text"]
    for command, _ in tg.COMMANDS:
        assert (f"/{command} " in text) is (shows_admin or command not in tg.ADMIN_COMMANDS)
