"""Running the bot: `run` for `citebot run`, and `serve`, which starts, stops (SIGTERM, SIGINT) and reloads (SIGHUP)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
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

from bot.chat.loading import load_for
from bot.config import Settings
from bot.ingest.corpus import CorpusError, MissingCorpus, grouped
from bot.telegram import webhook
from bot.telegram.app import build_application
from bot.telegram.commands import register_commands
from bot.telegram.delivery import POLL_BACKOFF_MAX
from bot.telegram.logs import configure_logging
from bot.telegram.reloads import reload_library
from bot.telegram.state import STATE, BotState
from bot.telegram.sync import start_watching

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
# Feedback still queued for a locked database gets this long to be written once the bot has stopped.
RECORDS_WITHIN = 2.0


async def serve(application: Application, stop: asyncio.Event) -> None:
    """Answer updates until `stop` is set, then stop polling and finish the answers in hand, within STOP_WITHIN s."""
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
            server = await _serve_webhook(application, settings)
            stop_receiving: Callable[[], Coroutine[Any, Any, None]] = server.close
        else:
            updater = application.updater
            if updater is None:  # build_application() keeps PTB's updater; an Application without one cannot poll
                raise RuntimeError("The application has no updater to poll Telegram with")
            await updater.start_polling(**POLLING, timeout=POLL_TIMEOUT, bootstrap_retries=-1)
            log.info("Polling Telegram for updates")
            stop_receiving = updater.stop
        await application.start()
        watcher = start_watching(application)
        await stopping
        await watcher.stop()
        await _stop(application, stop_receiving)
    finally:
        stopping.cancel()
        await application.shutdown()
        await _close_recorder(application)


async def _close_recorder(application: Application) -> None:
    """Write the feedback still queued, for at most RECORDS_WITHIN s (a locked database is not waited out)."""
    recorder = application.bot_data[STATE].recorder
    if recorder is not None:
        await asyncio.to_thread(recorder.close, RECORDS_WITHIN)


async def _serve_webhook(application: Application, settings: Settings) -> webhook.Server:
    """Listen at the path of CITEBOT_WEBHOOK_URL, then tell Telegram to send updates there with the secret."""
    url = settings.webhook_url or ""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    server = webhook.start(application, urlsplit(url).path, secret, settings.webhook_listen, settings.webhook_port)
    pause = 1.0
    while True:
        try:
            await application.bot.set_webhook(url, allowed_updates=ALLOWED_UPDATES, secret_token=secret)
            break
        except InvalidToken:
            await server.close()
            raise
        except TelegramError as exc:
            log.warning("Cannot register the webhook with Telegram (%s); retrying in %.0f s", exc, pause)
        await asyncio.sleep(pause)
        pause = min(POLL_BACKOFF_MAX, pause * 2)
    log.info("Serving the webhook %s on %s:%d", url, settings.webhook_listen, settings.webhook_port)
    return server


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


async def _stop(application: Application, stop_receiving: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Stop taking updates at once, then give the answers in hand what is left of STOP_WITHIN."""
    deadline = asyncio.get_running_loop().time() + STOP_WITHIN
    state: BotState = application.bot_data[STATE]
    log.info("Stopping: no new updates; answers in hand get up to %.0f s", STOP_WITHIN)
    state.polling.stopping = True
    try:
        async with asyncio.timeout(STOP_POLLING):
            await stop_receiving()
    except TimeoutError:
        log.warning("Could not confirm the last updates to Telegram in time; they may come again at the next start")
    try:
        async with asyncio.timeout_at(deadline):
            await application.stop()
            await state.queues.finish()
    except TimeoutError:
        log.warning(
            "Stopped with answers still unsent after %.0f s (%d users' questions dropped)",
            STOP_WITHIN,
            state.queues.cancel(),
        )


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
        for signum, earlier in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, earlier)


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
    for path, reason in grouped(s for s in library.skipped if not s.warning):
        log.info("Skipped %s: %s", path, reason)
    for problem in library.skipped:
        if problem.warning:
            log.info("Read with a warning %s: %s", problem.path, problem.reason)


async def _serve_until_signalled(application: Application) -> None:
    stop = asyncio.Event()
    with handle_signals(application, stop):
        await serve(application, stop)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _sighup_while_loading(signum: int, frame: FrameType | None) -> None:
    log.info("SIGHUP while loading the documents: the files are being read right now, nothing more to do")


def _clusters(settings: Settings) -> Any:
    """The holder of the cluster client for a sharded library (CITEBOT_DASK_SCHEDULER), or None."""
    if not settings.dask_scheduler:
        return None
    try:
        from bot.index.cluster import Clusters  # the `cluster` extra
    except ImportError:
        return None  # load_for says which extra is missing
    return Clusters()


def run(settings: Settings) -> int:
    """Load the library and serve Telegram (long polling, or a webhook) until SIGTERM or Ctrl-C; the exit code."""
    configure_logging(settings)
    # PTB 22 warns, at every 429, that RetryAfter.retry_after will become a timedelta; `delivery` reads either
    # form, so the future one is taken when the bot starts (PTB's documented switch) and the logs stay quiet.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    if settings.telegram_bot_token is None:
        print(
            "citebot: TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and put its token "
            "in the environment or in .env (see docs/telegram.md).",
            file=sys.stderr,
        )
        return 2
    # Until the event loop takes over the signals, SIGTERM stops us as cleanly as Ctrl-C, and SIGHUP (whose
    # default is to kill) is harmless: the load under way reads the files as they are now anyway.
    while_loading = {signal.SIGTERM: _stop_on_sigterm, signal.SIGHUP: _sighup_while_loading}
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, handler) for signum, handler in while_loading.items()}
    clusters = _clusters(settings)
    try:
        # The ranker too, with a warning if embeddings were asked for and are absent.
        library = load_for(settings, clusters=clusters)
        documents, sentences = len(library.documents), library.sentence_count
        log.info(
            "Loaded %d document%s, %d sentence%s",
            *(documents, "s" * (documents != 1), sentences, "s" * (sentences != 1)),
        )
        asyncio.run(_serve_until_signalled(build_application(settings, library, clusters=clusters)))
    except MissingCorpus:
        raise  # the command line names the setting that gave the folder
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
        if clusters is not None:
            clusters.close()
    log.info("Bot stopped")
    return 0
