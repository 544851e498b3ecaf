"""Who may ask: the allowlists, checked by `gate` before any other handler sees an update."""

from __future__ import annotations

from telegram import Bot, InlineQueryResultsButton, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.telegram.inline import INLINE_CACHE_SECONDS
from bot.telegram.state import BotState, Context, say


async def is_allowed(update: Update, bot: Bot, state: BotState) -> bool:
    """Whether the allowlists (if any) let the user behind an update ask, here: by id, by chat, or as a member."""
    settings = state.settings
    if not settings.allowed_user_ids and not settings.allowed_chat_ids:
        return True
    user_id = update.effective_user.id if update.effective_user else None
    chat = update.effective_chat
    if user_id in settings.admin_ids or user_id in settings.allowed_user_ids:
        return True
    if chat is not None and chat.id in settings.allowed_chat_ids:
        return True
    # Members of the allowed chats may also ask in private and inline (where the answer goes only where they
    # send it); in other groups their answer would reach strangers.
    private = chat.type == ChatType.PRIVATE if chat is not None else update.inline_query is not None
    if not private or user_id is None or not settings.allowed_chat_ids:
        return False
    return await state.members.includes(bot, user_id)


def mentions_bot(message: Message, username: str) -> bool:
    """Whether the message @mentions the bot."""
    mentions = message.parse_entities([MessageEntity.MENTION]).values()
    return any(mention.lower() == f"@{username.lower()}" for mention in mentions)


def replies_to_bot(message: Message, bot_id: int) -> bool:
    """Whether the message replies to one of the bot's."""
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None and replied.from_user.id == bot_id


def _addressed_to_bot(message: Message, username: str, bot_id: int) -> bool:
    """Whether the bot is expected to say something: private chat, a command for it, a mention or a reply."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    text = message.text or ""
    if text.startswith("/"):
        _, _, target = text.split(maxsplit=1)[0].partition("@")
        return not target or target.lower() == username.lower()
    return mentions_bot(message, username) or replies_to_bot(message, bot_id)


async def gate(update: Update, context: Context) -> None:
    """Stop updates from users and chats outside the allowlists; refuse where addressed, once per period."""
    state = context.state
    if await is_allowed(update, context.bot, state):
        return
    message = update.effective_message
    if update.callback_query is not None:
        # A press must be answered, or the button spins; a toast is no message in the chat.
        await update.callback_query.answer(say(update, "refusal"), show_alert=True)
    elif update.inline_query is not None:
        await update.inline_query.answer(
            [],
            cache_time=INLINE_CACHE_SECONDS,
            is_personal=True,
            button=InlineQueryResultsButton(say(update, "inline_refusal"), start_parameter="refused"),
        )
    elif message is not None and _addressed_to_bot(message, context.bot.username, context.bot.id):
        user_id = update.effective_user.id if update.effective_user else None
        # Refusing every message of a flood would be a flood of our own, and slow down everyone's answers.
        if state.refusals.due(message.chat.id, user_id):
            await message.reply_text(say(update, "refusal"))
    raise ApplicationHandlerStop
