"""The Telegram tests' shared world: ids, a small corpus, settings pointing at the stand-in, a running bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from bot.index.loader import load_library
from bot.telegram.app import build_application
from bot.telegram.delivery import Delivery
from bot.telegram.running import handle_signals
from bot.telegram.running import serve as serve_bot
from bot.telegram.state import STATE, BotState
from tests.botapi import BotApi, Call

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
        # The schedule and the folder watcher are off unless a test is about them: they would reload behind its back.
        "sync_minutes": 0,
        "watch": False,
    }
    return load_settings(**(values | overrides))


@asynccontextmanager
async def running(
    settings: Settings, delivery: Delivery | None = None, signals: bool = False
) -> AsyncIterator[BotState]:
    """Run the real Application with `serve`, as `citebot run` does; with `signals`, with its signal handlers too."""
    library = await asyncio.to_thread(load_library, settings.corpus_dir, settings.cache_dir)
    application = build_application(settings, library, delivery=delivery)
    stop = asyncio.Event()

    async def serve() -> None:
        if signals:
            with handle_signals(application, stop):
                await serve_bot(application, stop)
        else:
            await serve_bot(application, stop)

    serving = asyncio.create_task(serve())
    await wait_until(lambda: serving.done() or application.running)
    if serving.done():
        serving.result()  # start-up failed: show why
    try:
        yield application.bot_data[STATE]
    finally:
        stop.set()
        await serving


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def data(api: BotApi, reply: Call, label: str) -> str:
    """The callback data of the button whose text holds `label` under a reply."""
    [found] = [d for t, d in api.buttons(reply) if label in t]
    return found


async def press(api: BotApi, reply: Call, label: str, *, user_id: int = USER, **extra: Any) -> Call:
    """Press the button whose text holds `label` under a reply; return the toast."""
    update = api.press(reply.result, data(api, reply, label), user_id=user_id, **extra)
    [toast] = await api.until(lambda: api.toasts(update))
    return toast


async def inline(api: BotApi, query: str, **extra: Any) -> Call:
    """Send an inline query; return the bot's answerInlineQuery call for it."""
    update = api.inline(query, **extra)
    query_id = update["inline_query"]["id"]
    return await api.until(
        lambda: next((c for c in api.calls_to("answerInlineQuery") if c.params["inline_query_id"] == query_id), None)
    )
