"""End to end: follow-up questions and replies to answers, per chat and user, expiring; inline's several results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.chat.messages import text
from bot.config import Settings
from bot.telegram.inline import INLINE_RESULTS
from bot.telegram.state import BotState
from tests.botapi import BotApi, Call, parse_html
from tests.helpers import SEED_CORPUS
from tests.telegram_setup import GROUP, OTHER, USER, make_settings, running

PROJECTS = "How many World Bank projects were implemented in Kazakhstan?"
MEETING = "Who did the prime minister meet?"
YEARS = "In which years?"
# The sentences that answer them, in the seed corpus.
TOTAL = "a total of 48 projects worth $8 billion were implemented from 1992 to 2024"
VISIT = "who arrived in Kazakhstan to participate in the Astana International Forum"
NOT_FOUND = text("not_found")
CLOSEST = text("closest")


def seed_settings(api: BotApi, tmp_path: Path, **overrides: Any) -> Settings:
    # The seed corpus is the repository's: its cache and the feedback database go to the test's folder.
    values = {"cache_dir": tmp_path / "cache", "feedback_db": str(tmp_path / "feedback.sqlite3")}
    return make_settings(api, SEED_CORPUS, **(values | overrides))


@pytest.fixture
async def state(api: BotApi, tmp_path: Path) -> AsyncIterator[BotState]:
    async with running(seed_settings(api, tmp_path)) as state:
        yield state


async def ask(api: BotApi, question: str, *, user_id: int = USER, chat_id: int | None = None, **extra: Any) -> Call:
    """Send a message and return the bot's first reply to it."""
    chat = user_id if chat_id is None else chat_id
    before = len(api.sent(chat))
    api.message(question, user_id=user_id, chat_id=chat_id, **extra)
    [*_, first] = (await api.replies(chat, before + 1))[: before + 1]
    await asyncio.sleep(0.05)  # a long answer may come in several messages
    return first


def shown(html: str) -> str:
    return parse_html(html)


def says(call: Call, sentence: str) -> bool:
    return sentence in shown(call.params["text"])


def declined(call: Call) -> bool:
    """The bot found no confident answer: it says so, with or without the closest passage."""
    return says(call, NOT_FOUND) or says(call, CLOSEST)


def first_quote(call: Call) -> str:
    return shown(call.params["text"]).split("\n\n")[0]


@pytest.mark.parametrize(("minutes", "answered"), [(5.0, True), (0.0, False)], ids=["on", "off"])
async def test_a_follow_up_is_answered_with_the_subject_before_it(
    api: BotApi, tmp_path: Path, minutes: float, answered: bool
) -> None:
    async with running(seed_settings(api, tmp_path, followup_minutes=minutes)):
        assert says(await ask(api, PROJECTS), TOTAL)
        years = await ask(api, YEARS)
    # Alone, "In which years?" has no subject and is declined: the years come from the question before.
    assert says(years, TOTAL) is answered and declined(years) is not answered


@pytest.mark.xfail(
    strict=True,
    reason="known limit: the reply is read with the meeting's subject, but 'Why did she come? (prime minister "
    "meet)' is declined on the seed (probability 0.11: the article says 'arrived', not 'come')",
)
async def test_a_reply_is_read_with_the_question_of_the_answer_it_replies_to(api: BotApi, state: BotState) -> None:
    meeting = await ask(api, MEETING)
    await ask(api, PROJECTS)
    plain = await ask(api, "Why did she come?")
    # Replying to the first answer, not the last: "she" is the visitor the meeting answer named.
    reply = await ask(api, "Why did she come?", reply_to=meeting.result)
    assert VISIT in first_quote(reply)
    assert VISIT not in first_quote(plain) and says(plain, TOTAL)


async def test_another_users_follow_up_in_the_same_group_is_read_alone(api: BotApi, state: BotState) -> None:
    assert says(await ask(api, f"/ask {PROJECTS}", chat_id=GROUP), TOTAL)
    other = await ask(api, f"/ask {YEARS}", user_id=OTHER, chat_id=GROUP)
    mine = await ask(api, f"/ask {YEARS}", chat_id=GROUP)
    assert declined(other) and says(mine, TOTAL)


async def test_the_subject_expires(api: BotApi, tmp_path: Path) -> None:
    async with running(seed_settings(api, tmp_path, followup_minutes=0.5 / 60)):
        await ask(api, PROJECTS)
        await asyncio.sleep(0.7)
        late = await ask(api, YEARS)
    assert declined(late)


async def test_a_question_that_stands_alone_is_not_pulled_back(api: BotApi, state: BotState) -> None:
    fresh = await ask(api, MEETING, user_id=OTHER)
    await ask(api, PROJECTS)
    after = await ask(api, MEETING)
    assert after.params["text"] == fresh.params["text"]


# ---- inline mode: several results --------------------------------------------------------------------


async def test_inline_offers_the_answer_then_other_passages(api: BotApi, state: BotState) -> None:
    update = api.inline("World Bank projects in Kazakhstan")
    query_id = update["inline_query"]["id"]
    call = await api.until(
        lambda: next((c for c in api.calls_to("answerInlineQuery") if c.params["inline_query_id"] == query_id), None)
    )
    results = call.params["results"]
    assert 2 <= len(results) <= INLINE_RESULTS
    assert len({r["id"] for r in results}) == len(results)
    # The first is the answer as a private chat gets it; the others are each one more sentence, with its citation.
    private = await ask(api, "World Bank projects in Kazakhstan")
    first_text = shown(results[0]["input_message_content"]["message_text"])
    assert first_text.split("\n\n")[0] == first_quote(private)
    quotes = [shown(r["input_message_content"]["message_text"]).split("\n\n")[0] for r in results[1:]]
    assert len(set(quotes)) == len(quotes) and not any(quote in first_text for quote in quotes)
    for result in results:
        content = result["input_message_content"]
        assert content["parse_mode"] == "HTML" and "[1]" in content["message_text"]
        assert "primeminister.kz" in content["message_text"] and result["description"].startswith("[1] ")
