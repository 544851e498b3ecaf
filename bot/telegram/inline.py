"""Inline mode: `@bot question` in any chat: the answer, then the next best passages, each a cited message."""

from __future__ import annotations

import asyncio

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode

from bot.chat import refs, render
from bot.chat.passages import next_passages
from bot.ranking.answer import Answer, answer
from bot.telegram.answers import MAX_QUESTION_LENGTH, record
from bot.telegram.state import Context, inline_query_of, language_of, say

# Inline results are cached by Telegram this long, per user (allowlists differ between users).
INLINE_CACHE_SECONDS = 30
INLINE_TITLE_CHARS = 100
# Results offered: the answer, then passages; Telegram shows the first few without scrolling.
INLINE_RESULTS = 5


async def inline_query(update: Update, context: Context) -> None:
    """`@bot question` in any chat: the answer and the next best passages, or a button saying why there are none."""
    state = context.state
    query = inline_query_of(update)
    question = query.query.strip()
    if not question or len(question) > MAX_QUESTION_LENGTH:
        await query.answer([], cache_time=INLINE_CACHE_SECONDS, is_personal=True)
        return
    if not await state.admit(query.from_user.id):
        await query.answer(
            [],
            cache_time=0,
            is_personal=True,
            button=InlineQueryResultsButton(say(update, "inline_slow_down"), start_parameter="slow"),
        )
        return
    result = await asyncio.to_thread(answer, state.library, question, **state.settings.answer_options())
    answer_id = await record(state, query.from_user.id, result, via="inline")
    if not result.answered:
        state.not_found += 1
        await query.answer(
            [],
            cache_time=INLINE_CACHE_SECONDS,
            is_personal=True,
            button=InlineQueryResultsButton(say(update, "inline_not_found"), start_parameter="not_found"),
        )
        return
    state.answered += 1
    options = state.settings.answer_options()
    passages = await asyncio.to_thread(next_passages, state.library, result, INLINE_RESULTS - 1, **options)
    base = str(answer_id) if answer_id is not None else refs.text_digest(question)
    lang = language_of(update)
    articles = [article(f"{base}:{n}", one, lang) for n, one in enumerate([result, *passages])]
    await query.answer(articles, cache_time=INLINE_CACHE_SECONDS, is_personal=True)


def article(result_id: str, result: Answer, lang: str) -> InlineQueryResultArticle:
    """One inline result: titled by its first quote, sent as the quotes with their citations."""
    first = result.quotes[0]
    return InlineQueryResultArticle(
        id=result_id,
        title=render.shorten(first.text, INLINE_TITLE_CHARS),
        description=render.source_line(first.citation, first.document),
        input_message_content=InputTextMessageContent(
            render.one_message(result, lang=lang),
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
    )
