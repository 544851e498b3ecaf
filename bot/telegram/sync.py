"""Websites and the corpus folder while the bot runs: admins' /sync and /sources, the scheduled sync, the watcher.

A sync runs in a thread (it waits on sites and on the sync lock); when it changed files, `reloads.refresh` reads
them. The watcher (watchfiles) sees files copied into the corpus folder and refreshes the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.chat import syncing
from bot.ingest.corpus import SUFFIXES
from bot.ingest.sources.web.report import format_report
from bot.ingest.sources.web.state import sync_running
from bot.ingest.sources.web.sync import SourcesError, SyncReport
from bot.telegram import reloads
from bot.telegram.state import STATE, BotState, Context, message_of, reply_plain, say

log = logging.getLogger(__name__)

# The first scheduled sync runs this long after start-up; then every CITEBOT_SYNC_MINUTES.
FIRST_SYNC_AFTER = 10.0
# A burst of copied files is one set of changes once the folder has been quiet this long (milliseconds).
WATCH_DEBOUNCE_MS = 400
# The watcher wakes this often without a change (milliseconds): its first wake says the watch is on (see _watch).
WATCH_TICK_MS = 1000
WATCHED_SUFFIXES = (*SUFFIXES, ".yml")


async def run_sync(state: BotState) -> SyncReport:
    """Sync the sources file's sites off the event loop, then reload if files changed (the report once read)."""
    report = await asyncio.to_thread(syncing.sync_for, state.settings)
    if report.changed_files:
        await asyncio.shield(reloads.refresh(state))
    return report


async def sync_now(update: Update, context: Context) -> None:
    """Admins: sync the websites now and reply with what was added, changed, removed and skipped."""
    running = await asyncio.to_thread(sync_running, context.state.settings.cache_dir)
    await message_of(update).reply_text(say(update, "sync_waiting" if running else "sync_started"))
    try:
        report = await run_sync(context.state)
    except SourcesError as exc:
        await reply_plain(message_of(update), say(update, "sync_no_sources", error=exc))
        return
    await reply_plain(message_of(update), format_report(report))


async def sources(update: Update, context: Context) -> None:
    """Admins: each source of the sources file and its last sync."""
    try:
        text = await asyncio.to_thread(syncing.sources_for, context.state.settings)
    except SourcesError as exc:
        text = say(update, "sync_no_sources", error=exc)
    await reply_plain(message_of(update), text)


async def scheduled_sync(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The JobQueue's sync: quiet when there is no sources file, logged otherwise."""
    state: BotState = context.application.bot_data[STATE]
    if not Path(state.settings.sources).exists():
        log.debug("No sources file %s: nothing to sync", state.settings.sources)
        return
    try:
        report = await run_sync(state)
    except SourcesError as exc:
        log.warning("Scheduled sync not run: %s", exc)
        return
    for site in report.sites:
        if site.refused:
            log.warning("Sync of %s refused: %s", site.url, site.refused)
        else:
            log.info(
                "Synced %s: %d added, %d changed, %d removed, %d unchanged, %d skipped",
                site.url,
                len(site.added),
                len(site.changed),
                len(site.removed),
                site.unchanged,
                len(site.skipped),
            )


def schedule(application: Application) -> None:
    """Sync every CITEBOT_SYNC_MINUTES (0: never) with the JobQueue."""
    settings = application.bot_data[STATE].settings
    if settings.sync_minutes > 0 and application.job_queue is not None:
        application.job_queue.run_repeating(
            scheduled_sync, interval=settings.sync_minutes * 60, first=FIRST_SYNC_AFTER, name="citebot-sync"
        )


@dataclass
class Watcher:
    """The corpus folder's watcher while the bot runs; `stop` ends it."""

    task: asyncio.Task[None] | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        """Stop watching and wait for the watcher to end."""
        self.stopping.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self.task, 2.0)


def start_watching(application: Application) -> Watcher:
    """Watch the corpus folder (CITEBOT_WATCH), refreshing the library after each burst of changes."""
    state: BotState = application.bot_data[STATE]
    watcher = Watcher()
    if state.settings.watch and Path(state.settings.corpus_dir).is_dir():
        watcher.task = asyncio.get_running_loop().create_task(_watch(state, watcher.stopping), name="citebot-watch")
    return watcher


async def _watch(state: BotState, stopping: asyncio.Event) -> None:
    from watchfiles import awatch

    corpus = Path(state.settings.corpus_dir).resolve()
    cache = Path(state.settings.cache_dir).resolve()

    def relevant(change: object, path: str) -> bool:
        # Hidden names are the temporary files of atomic writes; the cache may sit inside the corpus.
        name = Path(path).name
        return not name.startswith(".") and name.lower().endswith(WATCHED_SUFFIXES) and not path.startswith(str(cache))

    watching = awatch(
        corpus,
        watch_filter=relevant,
        debounce=WATCH_DEBOUNCE_MS,
        stop_event=stopping,
        rust_timeout=WATCH_TICK_MS,
        yield_on_timeout=True,
    )
    caught_up = False
    try:
        async for changes in watching:
            if changes or not caught_up:
                # A file copied after the library was loaded but before the watch began raised no event: once
                # the watch is on (its first wake), the folder is scanned once for what came in meanwhile.
                reloads.refresh(state)
                caught_up = True
    except Exception:  # the watcher is a convenience: /reload still works without it
        log.exception("Stopped watching %s", corpus)
