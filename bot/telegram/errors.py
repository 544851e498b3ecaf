"""The one error handler: every handler's failure is logged here, and the user told when it helps."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.telegram.delivery import transient, undeliverable
from bot.telegram.state import Context, MissingField, say

log = logging.getLogger(__name__)


async def on_error(update: object, context: Context) -> None:
    """Log a handler's failure; tell the user only when it was ours and their chat can still hear from us."""
    error = context.error
    if error is None:  # PTB calls error handlers only with an error; nothing to log without one
        return
    chat_id = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    if isinstance(error, MissingField):
        # An update of a kind the handler's filters should have kept out: nobody to tell, nothing to trace.
        log.warning("Ignored an update its handler cannot serve: %s", error)
        return
    if undeliverable(error):
        log.warning("Cannot send to chat %s (%s); giving up", chat_id, error)
        return
    if transient(error):
        # Retried already (see Delivery); an apology would go through the same unreachable API.
        log.warning("Gave up sending to chat %s after retries: %s", chat_id, error)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("Exception while handling update %s", update_id, exc_info=error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(say(update, "something_wrong"), show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(say(update, "something_wrong"))
    except TelegramError:
        log.warning("Could not tell the user about the error either", exc_info=True)
