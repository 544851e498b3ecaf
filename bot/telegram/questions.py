"""Questions asked in chats: `/ask`, any text in private, mentions and replies in groups."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

from telegram import MessageEntity, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.chat.followups import answer_in_turn
from bot.telegram.access import mentions_bot, replies_to_bot
from bot.telegram.answers import MAX_QUESTION_LENGTH, keyboard, record, send_answer
from bot.telegram.state import Context, in_turn, language_of, message_of, say


async def ask(update: Update, context: Context) -> None:
    """Answer `/ask <question>`, the way to ask in groups."""
    parts = (message_of(update).text or "").split(maxsplit=1)
    question = parts[1] if len(parts) > 1 else ""
    await answer_question(update, context, question, say(update, "ask_usage"))


async def private_text(update: Update, context: Context) -> None:
    """In a private chat every text message is a question."""
    await answer_question(update, context, message_of(update).text or "", say(update, "send_text"))


async def group_text(update: Update, context: Context) -> None:
    """In groups, answer only messages that mention the bot or reply to it; stay silent otherwise."""
    message = message_of(update)
    username = context.bot.username
    if mentions_bot(message, username):
        question = message.text or ""
        for text in message.parse_entities([MessageEntity.MENTION]).values():
            if text.lower() == f"@{username.lower()}":
                question = question.replace(text, " ")
        await answer_question(update, context, question, say(update, "mention_usage", username=username))
    elif replies_to_bot(message, context.bot.id):
        await answer_question(update, context, message.text or "", say(update, "send_text"))


async def non_text(update: Update, context: Context) -> None:
    """Stickers, photos, voice and the like in a private chat get a hint; groups never reach here."""
    await message_of(update).reply_text(say(update, "send_text"))


async def unknown_command(update: Update, context: Context) -> None:
    """Point private users who mistype a command at /help."""
    await message_of(update).reply_text(say(update, "unknown_command"))


async def answer_question(update: Update, context: Context, question: str, usage: str) -> None:
    """Rate-limit, then queue the question for the user's turn; the handler returns at once."""
    state = context.state
    message = message_of(update)
    user_id = update.effective_user.id if update.effective_user else message.chat.id
    if not await state.admit(user_id):
        # One clear note per burst: answering every extra message would be a flood of our own.
        if state.first_refusal(user_id):
            await message.reply_text(say(update, "slow_down"))
        return
    question = question.strip()
    if not question:
        await message.reply_text(usage)
        return
    if len(question) > MAX_QUESTION_LENGTH:
        await message.reply_text(say(update, "too_long", limit=MAX_QUESTION_LENGTH))
        return
    if not in_turn(update, context, user_id, lambda: reply_with_answer(update, context, user_id, question)):
        if state.queues.first_refusal(user_id):
            await message.reply_text(say(update, "one_at_a_time"))


async def reply_with_answer(update: Update, context: Context, user_id: int, question: str) -> None:
    """Score off the event loop (a follow-up with the subject before it), record, and send the rendered answer."""
    state = context.state
    message = message_of(update)
    with contextlib.suppress(TelegramError):  # the typing indicator is cosmetic
        await message.reply_chat_action(ChatAction.TYPING)
    # A follow-up ("And in which years?") is answered with the subject of the user's question before it.
    chat_id, now = message.chat.id, time.monotonic()
    replying = replies_to_bot(message, context.bot.id)
    replied = message.reply_to_message.message_id if replying else None  # type: ignore[union-attr]
    before = state.conversations.before(chat_id, user_id, now, replied)
    # Read the library once: a reload may swap it while we score, and that's fine.
    result, reading, turn = await asyncio.to_thread(
        answer_in_turn, state.library, question, before, now, **state.settings.answer_options()
    )
    if result.answered:
        state.answered += 1
    else:
        state.not_found += 1
    # Recorded as read, so ➕ More and the admins' reports see the subject the follow-up was about.
    answer_id = await record(state, user_id, dataclasses.replace(result, question=reading.shown))
    lang = language_of(update)
    sent = await send_answer(message, result, keyboard(state, result, answer_id, lang), lang)
    state.conversations.remember(chat_id, user_id, turn, [m.message_id for m in sent])
