"""Running the bot: `run` for `citebot run`, and `serve`, which starts, stops (SIGTERM, SIGINT) and reloads (SIGHUP)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot.config import Settings
from bot.chat.loading import load_for
from bot.ingest.corpus import CorpusError
from bot.ranking.ranker import ready_ranker
from bot.telegram.app import build_application
from bot.telegram.commands import register_commands
from bot.telegram.delivery import POLL_BACKOFF_MAX
from bot.telegram.logs import configure_logging
from bot.telegram.reloads import reload_library
from bot.telegram.state import STATE, BotState

log = logging.getLogger(__name__)

# New messages (an edited question would be answered twice), button presses, inline queries; and channel posts,
# their edits and the bot's own membership changes, for channels as a source.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
    Update.CHANNEL_POST,
    Update.EDITED_CHANNEL_POST,
    Update.MY_CHAT_MEMBER,
]
# How updates are taken, by long polling or by the webhook.
POLLING: dict[str, Any] = {"allowed_updates": ALLOWED_UPDATES, "drop_pending_updates": False}
# Seconds a getUpdates long poll stays open when there is nothing to fetch.
POLL_TIMEOUT = 10
# On SIGTERM the bot is gone within this many seconds; answers in hand get whatever time is left.
STOP_WITHIN = 6.0
# Confirming the updates already fetched, the first step of stopping, gets at most this long.
STOP_POLLING = 2.0


async def serve(application: Application, stop: asyncio.Event) -> None:
    """Answer updates until `stop` is set, then stop polling and finish the answers in hand, all within STOP_WITHIN s."""
    connecting = asyncio.create_task(_connect(application))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    try:
        if not connecting.done():
            connecting.cancel()
            log.info("Stopped before reaching Telegram")
            return
        connecting.result()  # a rejected token ends here
        await register_commands(application)
        settings: Settings = application.bot_data[STATE].settings
        # bootstrap_retries=-1: a network that is down at boot is waited out; a bad token still aborts.
        if settings.webhook_url:
            await application.updater.start_webhook(**webhook_options(settings), bootstrap_retries=-1)
            log.info(
                "Serving the webhook %s on %s:%d", settings.webhook_url, settings.webhook_listen, settings.webhook_port
            )
        else:
            await application.updater.start_polling(**POLLING, timeout=POLL_TIMEOUT, bootstrap_retries=-1)
            log.info("Polling Telegram for updates")
        await application.start()
        await stopping
        await _stop(application)
    finally:
        stopping.cancel()
        await application.shutdown()


def webhook_options(settings: Settings) -> dict[str, Any]:
    """How the webhook server starts: at the path of CITEBOT_WEBHOOK_URL, checking CITEBOT_WEBHOOK_SECRET."""
    url = settings.webhook_url or ""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": urlsplit(url).path,
        "webhook_url": url,
        "secret_token": secret,
        **POLLING,
    }


async def _connect(application: Application) -> None:
    """Initialize the application (getMe), waiting out a Telegram that cannot be reached; a bad token raises."""
    pause = 1.0
    while True:
        try:
            await application.initialize()
            return
        except InvalidToken:
            raise
        except TelegramError as exc:
            log.warning("Cannot reach Telegram (%s); retrying in %.0f s", exc, pause)
        await asyncio.sleep(pause)
        pause = min(POLL_BACKOFF_MAX, pause * 2)


async def _stop(application: Application) -> None:
    """Stop fetching updates at once, then give the answers in hand what is left of STOP_WITHIN."""
    deadline = asyncio.get_running_loop().time() + STOP_WITHIN
    state: BotState = application.bot_data[STATE]
    log.info("Stopping: no new updates; answers in hand get up to %.0f s", STOP_WITHIN)
    state.polling.stopping = True
    try:
        async with asyncio.timeout(STOP_POLLING):
            await application.updater.stop()
    except TimeoutError:
        log.warning("Could not confirm the last updates to Telegram in time; they may come again at the next start")
    try:
        async with asyncio.timeout_at(deadline):
            await application.stop()
    except TimeoutError:
        log.warning("Stopped with answers still unsent after %.0f s", STOP_WITHIN)


@contextlib.contextmanager
def handle_signals(application: Application, stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop`; SIGHUP reloads the corpus, as daemons do. Restores the old handlers on exit."""
    loop = asyncio.get_running_loop()
    state: BotState = application.bot_data[STATE]
    handlers: dict[int, Callable[[], object]] = {
        signal.SIGTERM: stop.set,
        signal.SIGINT: stop.set,
        signal.SIGHUP: lambda: _spawn(state, reload_on_signal(state)),
    }
    if threading.current_thread() is not threading.main_thread():
        handlers = {}  # only the main thread receives signals
    previous = {signum: signal.getsignal(signum) for signum in handlers}
    for signum, handler in handlers.items():
        loop.add_signal_handler(signum, handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, handler)


def _spawn(state: BotState, work: Coroutine[Any, Any, None]) -> None:
    # The loop keeps only weak references to tasks: hold this one until it is done.
    task = asyncio.get_running_loop().create_task(work)
    state.background.add(task)
    task.add_done_callback(state.background.discard)


async def reload_on_signal(state: BotState) -> None:
    """SIGHUP: reload like /reload (after any reload running), logging the outcome; the old library stays on failure."""
    log.info("SIGHUP: reloading the documents")
    try:
        library, _ = await reload_library(state)
    except CorpusError:
        return  # logged by reload_library
    except Exception:
        log.exception("Reload failed, keeping the previous library")
        return
    for problem in library.skipped:
        log.info("%s %s: %s", "Read with a warning" if problem.warning else "Skipped", problem.path, problem.reason)


async def _serve_until_signalled(application: Application) -> None:
    stop = asyncio.Event()
    with handle_signals(application, stop):
        await serve(application, stop)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _sighup_while_loading(signum: int, frame: FrameType | None) -> None:
    log.info("SIGHUP while loading the documents: the files are being read right now, nothing more to do")


def run(settings: Settings) -> int:
    """Load the library and serve Telegram (long polling, or a webhook) until SIGTERM or Ctrl-C; the exit code."""
    configure_logging(settings)
    if settings.telegram_bot_token is None:
        print(
            "citebot: TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and put its token "
            "in the environment or in .env (see README, 'Telegram').",
            file=sys.stderr,
        )
        return 2
    # Until the event loop takes over the signals, SIGTERM stops us as cleanly as Ctrl-C, and SIGHUP (whose
    # default is to kill) is harmless: the load under way reads the files as they are now anyway.
    while_loading = {signal.SIGTERM: _stop_on_sigterm, signal.SIGHUP: _sighup_while_loading}
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, handler) for signum, handler in while_loading.items()}
    try:
        library = load_for(settings)
        ready_ranker(settings.semantic)
        log.info("Loaded %d documents, %d sentences", len(library.documents), library.sentence_count)
        asyncio.run(_serve_until_signalled(build_application(settings, library)))
    except CorpusError as exc:
        print(f"citebot: cannot load the documents: {exc}", file=sys.stderr)
        return 1
    except InvalidToken:
        # PTB's message quotes the token, so say it in our own words.
        print("citebot: Telegram rejected TELEGRAM_BOT_TOKEN; check it with @BotFather.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        log.info("Stopped before polling started")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("Bot stopped")
    return 0
