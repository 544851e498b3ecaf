"""Admins' reports: /stats, /feedback and /gaps; and the reply to anyone else who sends an admin command."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from telegram import Update

from bot.chat.channels import per_channel
from bot.chat.feedback import Feedback, feedback_report, gaps_report
from bot.telegram.state import Context, language_of, message_of, reply_plain, say


async def stats(update: Update, context: Context) -> None:
    """Admins: corpus size, uptime, and questions answered / not found since start."""
    state = context.state
    library = state.library
    channels = per_channel(d.path for d in library.documents)
    await message_of(update).reply_text(
        say(
            update,
            "stats",
            documents=len(library.documents),
            sentences=library.sentence_count,
            skipped=len(library.skipped),
            uptime=_duration(time.monotonic() - state.started),
            answered=state.answered,
            not_found=state.not_found,
        )
        + (f"\n{say(update, 'stats_channels', channels=channels)}" if channels else "")
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


async def feedback(update: Update, context: Context) -> None:
    """Admins: 👍/👎 over the last 7 days and the latest 👎 with each answer's first source."""
    await _database_report(update, context, Feedback.summary, feedback_report)


async def gaps(update: Update, context: Context) -> None:
    """Admins: the questions most often not found in the documents, with counts."""
    await _database_report(update, context, Feedback.gaps, gaps_report)


async def _database_report(
    update: Update, context: Context, query: Callable[[Feedback], Any], report: Callable[[Any, str], str]
) -> None:
    """Read the feedback database off the event loop and reply with the report, or say recording is off."""
    db = context.state.feedback
    if db is None:
        await message_of(update).reply_text(say(update, "feedback_disabled"))
        return
    found = await asyncio.to_thread(query, db)
    await reply_plain(message_of(update), report(found, language_of(update)))


async def not_admin(update: Update, context: Context) -> None:
    """An admin command from someone who is not an admin."""
    command = (message_of(update).text or "/").split(maxsplit=1)[0][1:].partition("@")[0]
    await message_of(update).reply_text(say(update, "not_admin", command=command))
