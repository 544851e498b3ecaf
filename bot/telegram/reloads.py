"""Re-reading the documents while the bot answers: `/reload`, and the reload after an upload or removal."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

from telegram import Update

from bot.chat import messages, render
from bot.chat.loading import load_for
from bot.index.library import Entry, Library
from bot.index.loader import corpus_cache_folder
from bot.ingest.corpus import CorpusError, Skipped
from bot.telegram.state import BotState, Context, language_of, message_of, reply_plain, say

log = logging.getLogger(__name__)

# A /reload report lists up to this many problem files one by one; past that it groups them by reason,
# naming REPORT_NAMES files for each of up to REPORT_REASONS reasons and counting the rest.
REPORT_FILES = 10
REPORT_NAMES = 3
REPORT_REASONS = 8

T = TypeVar("T")


async def reload(update: Update, context: Context) -> None:
    """Admins: re-read the corpus off the event loop and swap the library in when it is ready."""
    lang = language_of(update)
    await reload_and_reply(update, context.state, lambda library, took: reload_report(library, took, lang))


async def reload_library(state: BotState, changed: Collection[str] | None = None) -> tuple[Library, float]:
    """Re-read the corpus, one reload at a time, and swap the new library in; on CorpusError the old one stays.

    `changed` names the only files that changed (paths in the corpus), so the rest is not scanned again.
    """
    async with state.reload_lock:
        started = time.perf_counter()
        settings = state.settings
        # The sharded loader scans on the cluster's own terms: it is given no list.
        only: dict[str, Any] = {}
        if changed is not None and not settings.dask_scheduler:
            # A snapshot is a gigabyte at a million sentences: one per post would rewrite it all day. A start
            # maps the last one and reads only the files changed since.
            only = {"changed": changed, "snapshot": time.monotonic() - state.snapshot_at >= SNAPSHOT_EVERY}
        load = functools.partial(
            load_for,
            settings,
            state.library,
            clusters=state.clusters,
            writer=state.snapshots,  # the new snapshot is written while the new library already answers
            **only,
        )
        try:
            # Questions keep being answered from the old library while this runs in a thread.
            library = await _in_daemon_thread(load)
        except CorpusError as exc:
            log.warning("Reload failed, keeping the previous library: %s", exc)
            raise
        state.library = library
        # A library with appended posts writes none (see load_library): its merge will.
        if only.get("snapshot", True) and not library.delta_documents:
            state.snapshot_at = time.monotonic()
        took = time.perf_counter() - started
    if library.delta_documents:
        schedule_merge(state, merge_delay(library))
    documents, sentences = len(library.documents), library.sentence_count
    log.info(
        "Reloaded %d document%s, %d sentence%s in %.1f s",
        *(documents, "s" * (documents != 1), sentences, "s" * (sentences != 1), took),
    )
    return library, took


# A refresh that names its files writes the snapshot at most this often (seconds); a /reload always does.
SNAPSHOT_EVERY = 300.0
# A refresh waits this long after the first change, so that the files of a burst are read in one reload.
REFRESH_DELAY = 0.2


def refresh(state: BotState, delay: float = REFRESH_DELAY, paths: Iterable[str] | None = None) -> asyncio.Task[None]:
    """Reload soon because corpus files changed: a burst of changes makes one reload, more changes one more.

    For what writes into the corpus while the bot runs (channel posts, a sync, the folder watcher). Given the
    `paths` it changed, only those are read again (unless another change asked for a whole scan). A failed
    reload keeps the library that answers now, and is logged.
    """
    if paths is None:
        state.refresh_everything = True
    else:
        state.refresh_paths.update(paths)
    if state.refresh_task is not None and not state.refresh_task.done():
        state.refresh_again = True
        return state.refresh_task
    state.refresh_task = asyncio.get_running_loop().create_task(_refreshing(state, delay), name="citebot-refresh")
    return state.refresh_task


async def _refreshing(state: BotState, delay: float) -> None:
    while True:
        state.refresh_again = False
        await asyncio.sleep(delay)
        changed = None if state.refresh_everything else set(state.refresh_paths)
        state.refresh_everything, state.refresh_paths = False, set()
        try:
            await reload_library(state, changed)
        except CorpusError:
            # reload_library has logged it; the old library keeps answering, and the next refresh scans it all.
            state.refresh_everything = True
        if not state.refresh_again:
            return


# Appended posts are merged into the exact library after this many seconds without another: a burst (an album,
# one statement in three languages) makes one merge, and a merge (seconds at a million sentences) never runs
# once per post. Until then the posts are answered from the delta.
MERGE_QUIET = 30.0
# ...or at once when the delta holds this many sentences: it stays small, so appending to it (which indexes it
# again) stays quick and memory stays flat;
MERGE_SENTENCES = 5_000
# ...or when its scores may be this far from the merged ones, relatively (Library.drift): in a small corpus a
# few posts move the average length that much, and there a merge takes milliseconds.
MERGE_DRIFT = 0.001


def merge_delay(library: Library) -> float:
    """How long a library's appended posts wait for their merge: a quiet spell, or none once the delta is large."""
    large = library.delta_sentences >= MERGE_SENTENCES or library.drift() > MERGE_DRIFT
    return 0.0 if large else MERGE_QUIET


def schedule_merge(state: BotState, delay: float = MERGE_QUIET) -> asyncio.Task[None]:
    """Merge the appended posts `delay` seconds from now; a merge still waiting is put off to then.

    A merge already under way is left to finish: it schedules another if posts came meanwhile.
    """
    task = state.merge_task
    if task is not None and not task.done():
        if state.merging:
            return task
        task.cancel()
    state.merge_task = asyncio.get_running_loop().create_task(_merge_later(state, delay), name="citebot-merge")
    return state.merge_task


async def _merge_later(state: BotState, delay: float) -> None:
    await asyncio.sleep(delay)
    state.merging = True
    try:
        await merge_library(state)
    finally:
        state.merging = False
    if state.library.delta_documents:
        state.merge_task = None  # this task is ending: a new one waits for the posts that came meanwhile
        schedule_merge(state, merge_delay(state.library))


async def merge_library(state: BotState) -> None:
    """Merge the library's appended documents into its exact form off the event loop, and swap that in.

    The merge runs without the reload lock; the swap takes it, and happens only if the library is still the one
    merged, or that one with more posts appended (they are appended again on the merge). A reload that replaced
    it meanwhile made an exact library already: the merge is dropped. A failed merge keeps the library.
    """
    library = state.library
    if not library.delta_documents:
        return
    started = time.perf_counter()
    try:
        merged = await _in_daemon_thread(library.compacted)
    except Exception:  # noqa: BLE001 - whatever failed, the library with the delta keeps answering
        log.exception("Merging %d appended documents failed; they are still answered", library.delta_documents)
        return
    async with state.reload_lock:
        newer = state.library.appended_since(library)
        if newer is None:
            log.info("A reload replaced the library while it was merged; the merge is dropped")
            return
        swapped = merged
        if newer:
            try:
                swapped = await _in_daemon_thread(functools.partial(_append_again, state, merged, newer))
            except CorpusError as exc:
                log.warning("Appending %d posts to the merge failed, keeping the library: %s", len(newer), exc)
                return
        state.library = swapped
        if time.monotonic() - state.snapshot_at >= SNAPSHOT_EVERY:
            # The merge is exact: the snapshot a start maps (posts appended since are read as changed files).
            state.snapshots.write_soon(merged, corpus_cache_folder(state.settings.cache_dir, state.settings.corpus_dir))
            state.snapshot_at = time.monotonic()
    log.info("Merged %d appended documents in %.1f s", library.delta_documents, time.perf_counter() - started)


def _append_again(state: BotState, merged: Library, entries: Iterable[Entry]) -> Library:
    """The merged library with the posts appended after the merge began, read again (from the cache)."""
    changed = {entry.document.path for entry in entries}
    return load_for(state.settings, merged, clusters=state.clusters, changed=changed, snapshot=False)


async def _in_daemon_thread(function: Callable[[], T]) -> T:
    """Run function in a daemon thread: unlike asyncio.to_thread, stopping the bot never waits for it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is None:
            future.set_result(result)  # type: ignore[arg-type]  # without an error the work returned its T
        else:
            future.set_exception(error)

    def work() -> None:
        try:
            result, error = function(), None
        except BaseException as exc:  # handed to the awaiting coroutine, which decides
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="citebot-reload", daemon=True).start()
    return await future


def reload_report(library: Library, took: float, lang: str | None = None) -> str:
    """What /reload replies: the corpus size and the skipped files grouped by reason, short enough for one message."""
    sizes = {"documents": len(library.documents), "sentences": library.sentence_count}
    lines = [messages.text("reload_done", lang, seconds=took, **sizes)]
    skipped = [s for s in library.skipped if not s.warning]
    warned = [s for s in library.skipped if s.warning]
    if skipped:
        lines += ["", messages.text("reload_skipped", lang, count=len(skipped)), *_by_reason(skipped, lang)]
    if warned:
        lines += ["", messages.text("reload_warned", lang, count=len(warned)), *_by_reason(warned, lang)]
    report = "\n".join(lines)
    pieces = render.split(report)
    return pieces[0] if len(pieces) == 1 else pieces[0] + "\n…"


def _by_reason(files: list[Skipped], lang: str | None = None) -> list[str]:
    """A line per file when they are few, else per kind of reason, most common first: the count and a few names."""
    if len(files) <= REPORT_FILES:
        return [f"- {render.escaped(item.path)}: {item.reason}" for item in files]
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for item in files:
        groups[_reason_kind(item.reason)].append(item.path)
    ranked = sorted(groups.items(), key=lambda group: (-len(group[1]), group[0]))
    lines = []
    for reason, paths in ranked[:REPORT_REASONS]:
        names = ", ".join(_short_name(path) for path in sorted(paths)[:REPORT_NAMES])
        if len(paths) > REPORT_NAMES:
            names += messages.text("reload_group_more", lang, count=len(paths) - REPORT_NAMES)
        lines.append(messages.text("reload_group", lang, reason=reason, count=len(paths), names=names))
    if len(ranked) > REPORT_REASONS:
        rest = ranked[REPORT_REASONS:]
        files_left = sum(len(paths) for _, paths in rest)
        lines.append(messages.text("reload_other_reasons", lang, count=len(rest), files=files_left))
    return lines


def _reason_kind(reason: str) -> str:
    # Details in brackets differ from file to file ("at byte 12, 40 bad bytes"); the kind before them does not.
    kind = re.sub(r"\s*\(.*", "", reason).strip() or reason
    return kind if len(kind) <= 150 else kind[:149] + "…"


def _short_name(path: str) -> str:
    """A file name short enough for a list of them in one message."""
    path = render.escaped(path)
    return path if len(path) <= 80 else "…" + path[-79:]


async def reload_and_reply(
    update: Update,
    state: BotState,
    report: Callable[[Library, float], str],
    done: str | None = None,
    changed: Collection[str] | None = None,
) -> None:
    """Reload and reply with `report`; if the reload fails, say why (after `done`, what was changed, if any).

    `changed` names the only files changed, as `reload_library` takes it.
    """
    message = message_of(update)
    if state.reload_lock.locked():
        await message.reply_text(say(update, "reload_running"))
    try:
        library, took = await reload_library(state, changed)
    except CorpusError as exc:
        failed = say(
            update,
            "reload_failed",
            error=exc,
            documents=len(state.library.documents),
            sentences=state.library.sentence_count,
        )
        await reply_plain(message, f"{done}\n{failed}" if done else failed)
        return
    await reply_plain(message, report(library, took))
