"""The buttons under an answer: 📄 its source, ➕ more passages, 👍 and 👎 votes."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from bot.chat import refs, render
from bot.chat.feedback import Recorded
from bot.ranking.answer import answer
from bot.telegram.answers import keyboard, record, send_answer
from bot.telegram.state import BotState, Context, callback_query_of, in_turn, language_of, say, user_of

log = logging.getLogger(__name__)

# Seconds a vote's toast waits for the write; a database locked longer gets "will be recorded in a moment".
VOTE_WAIT = 3.0


async def button(update: Update, context: Context) -> None:
    """A press of 📄, ➕, 👍 or 👎: acknowledged at once with a toast; forged or stale data gets a polite one."""
    query = callback_query_of(update)
    press = refs.unpack(query.data, context.state.key)
    if isinstance(press, refs.Source):
        await show_source(update, context, query, press)
    elif isinstance(press, refs.Vote):
        await vote(update, context, query, press)
    elif isinstance(press, refs.More):
        await more(update, context, query, press)
    else:
        log.info("Ignored a button press with data that is not ours: %r", (query.data or "")[:80])
        await query.answer(say(update, "bad_button"), show_alert=True)


def _answer_message(query: CallbackQuery) -> Message | None:
    """The message the pressed button is under, if the bot can still reply to it."""
    return query.message if isinstance(query.message, Message) else None


async def show_source(update: Update, context: Context, query: CallbackQuery, press: refs.Source) -> None:
    """📄: the quoted sentence among its neighbours, with the document's title, source, date and link."""
    state = context.state
    if not await state.admit(user_of(update).id):
        await query.answer(say(update, "slow_down"), show_alert=True)
        return
    library = state.library
    try:
        # Off the event loop: a sentence that moved is looked for through its whole document.
        found = await asyncio.to_thread(refs.locate, library, press.document, press.position, press.digest)
    except refs.DocumentGone:
        await query.answer(say(update, "document_gone"), show_alert=True)
        return
    except refs.SentenceGone:
        await query.answer(say(update, "sentence_gone"), show_alert=True)
        return
    entry = library.entries[found.number]
    position = found.sentence_id - int(library.offsets[found.number])
    page = library.sentence(found.sentence_id).page
    view = render.source_view(entry.document, entry.sentences, position, page=page)
    await query.answer(say(update, "source_sent"))
    message = _answer_message(query)
    if message is not None:
        await message.reply_html(view)


async def vote(update: Update, context: Context, query: CallbackQuery, press: refs.Vote) -> None:
    """👍/👎: the toast says "recorded" once it is written; a second press changes the vote."""
    state = context.state
    outcome: object = "failed"
    written = state.recorder.vote(press.answer_id, user_of(update).id, press.up) if state.recorder else None
    if written is not None:
        try:
            # Shielded: giving up waiting must not cancel the write, which lands once the database is free.
            outcome = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(written)), VOTE_WAIT)
        except TimeoutError:
            outcome = "pending"
    key = {"recorded": "voted_up" if press.up else "voted_down", "unknown": "answer_gone", "pending": "vote_pending"}
    await query.answer(say(update, key.get(str(outcome), "vote_failed")))


async def more(update: Update, context: Context, query: CallbackQuery, press: refs.More) -> None:
    """➕: the next best passages not shown yet for the same question, under the same abstention bar."""
    state = context.state
    user_id = user_of(update).id
    if not await state.admit(user_id):
        await query.answer(say(update, "slow_down"), show_alert=True)
        return
    if not in_turn(update, context, user_id, lambda: more_passages(update, context, query, press)):
        await query.answer(say(update, "one_at_a_time"), show_alert=True)


async def more_passages(update: Update, context: Context, query: CallbackQuery, press: refs.More) -> None:
    """➕ in the user's turn: the recorded question answered again without what it showed already."""
    state = context.state
    recorded = await _recorded(state, press.answer_id)
    if recorded is None:
        await query.answer(say(update, "answer_gone"), show_alert=True)
        return
    library = state.library
    shown = await asyncio.to_thread(refs.sentence_ids, library, list(recorded.shown))  # may search documents
    options = state.settings.answer_options()
    result = await asyncio.to_thread(answer, library, recorded.question, **options, exclude=shown)
    message = _answer_message(query)
    if not result.answered:
        await query.answer(say(update, "nothing_more"), show_alert=True)
        if message is not None:
            await _drop_more_button(message, state.key)
        return
    await query.answer(say(update, "more_sent"))
    answer_id = await record(state, user_of(update).id, result, parent=press.answer_id)
    if message is not None:
        lang = language_of(update)
        await _drop_more_button(message, state.key)
        await send_answer(message, result, keyboard(state, result, answer_id, lang), lang)


async def _recorded(state: BotState, answer_id: int) -> Recorded | None:
    """A recorded answer, waiting (a little) for its record if it is still on its way to the database."""
    if state.feedback is None:
        return None
    pending = state.recorder.pending(answer_id) if state.recorder is not None else None
    if pending is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(pending)), VOTE_WAIT)
    return await asyncio.to_thread(state.feedback.answer, answer_id)


async def _drop_more_button(message: Message, key: bytes) -> None:
    """Take ➕ off an answer whose continuation has been shown (or that has none)."""
    markup = message.reply_markup
    if markup is None:
        return
    rows = [
        [
            b
            for b in row
            if not isinstance(
                refs.unpack(b.callback_data if isinstance(b.callback_data, str) else None, key), refs.More
            )
        ]
        for row in markup.inline_keyboard
    ]
    with contextlib.suppress(TelegramError):  # the buttons are a convenience; the answer stands without this edit
        await message.edit_reply_markup(InlineKeyboardMarkup([row for row in rows if row]))
