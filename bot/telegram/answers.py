"""An answer as Telegram messages: HTML chunks, the buttons under the last one, and its record for feedback."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import BadRequest

from bot.chat import messages, refs, render
from bot.chat.feedback import shown_sentences
from bot.ranking.answer import Answer, Quote
from bot.telegram.state import BotState

log = logging.getLogger(__name__)

# BM25 gains nothing from a wall of text; a question this long is almost always a paste by mistake.
MAX_QUESTION_LENGTH = 1000
# Source buttons per keyboard row.
ROW = 4


async def record(
    state: BotState, user_id: int, result: Answer, parent: int | None = None, via: str = "chat"
) -> int | None:
    """Queue a question's record for the feedback database; its answer id, or None. Never waits for the database."""
    if state.recorder is None:
        return None
    return state.recorder.record(
        user_id,
        result.question,
        result.answered,
        shown_sentences(result),
        parent=parent,
        via=via,
    )


def keyboard(state: BotState, result: Answer, answer_id: int | None, lang: str) -> InlineKeyboardMarkup | None:
    """📄 per cited document, then ➕ More, 👍 and 👎 when the answer is on record (they need its id); a declined
    question's closest passage gets its 📄 alone."""
    if not result.answered:
        if result.closest is None:
            return None
        return InlineKeyboardMarkup([[_source_button(state, result.closest, messages.text("button_source", lang))]])
    firsts: dict[int, Quote] = {}
    for quote in result.quotes:
        firsts.setdefault(quote.citation, quote)
    sources = [
        _source_button(
            state,
            q,
            messages.text("button_source_n", lang, number=n)
            if len(firsts) > 1
            else messages.text("button_source", lang),
        )
        for n, q in sorted(firsts.items())
    ]
    rows = [sources[i : i + ROW] for i in range(0, len(sources), ROW)]
    if answer_id is not None:
        more = messages.text("button_more", lang)
        rows.append(
            [
                InlineKeyboardButton(more, callback_data=refs.pack(refs.More(answer_id), state.key)),
                InlineKeyboardButton("👍", callback_data=refs.pack(refs.Vote(answer_id, up=True), state.key)),
                InlineKeyboardButton("👎", callback_data=refs.pack(refs.Vote(answer_id, up=False), state.key)),
            ]
        )
    return InlineKeyboardMarkup(rows)


def _source_button(state: BotState, quote: Quote, label: str) -> InlineKeyboardButton:
    """📄 for one quoted sentence: it opens among its neighbours in its document."""
    key = refs.Source(refs.document_key(quote.document.path), quote.position, refs.text_digest(quote.text))
    return InlineKeyboardButton(label, callback_data=refs.pack(key, state.key))


async def send_answer(
    message: Message, result: Answer, keyboard: InlineKeyboardMarkup | None = None, lang: str | None = None
) -> list[Message]:
    """Reply with the answer as HTML, the keyboard under its last message; once Telegram rejects our markup,
    the rest of it goes as plain text. The messages sent, for replies to them."""
    as_html = True
    sent: list[Message] = []
    chunks = render.chunks(result, lang=lang)
    for number, chunk in enumerate(chunks):
        markup = keyboard if number == len(chunks) - 1 else None
        if as_html:
            try:
                sent.append(await message.reply_html(chunk.html, reply_markup=markup))
                continue
            except BadRequest as exc:
                if "can't parse entities" not in exc.message.lower() and "too long" not in exc.message.lower():
                    raise
                log.warning("Telegram rejected an HTML answer (%s); sending the rest as plain text", exc.message)
                as_html = False
        # The chunks pair each HTML message with the same quotes in plain text: nothing delivered is sent twice.
        sent.append(await message.reply_text(chunk.plain, reply_markup=markup))
    return sent
