"""End-to-end tests of the Telegram layer: the real Application against a local Bot API stand-in."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.chat import loading as serving
from bot.chat import render
from bot.chat.messages import text
from bot.chat.render import Chunk, html_messages, plain_messages
from bot.config import Settings
from bot.index.library import Library
from bot.index.loader import load_library
from bot.ingest.corpus import CorpusError
from bot.ranking.answer import answer
from bot.telegram import questions
from bot.telegram.answers import MAX_QUESTION_LENGTH
from bot.telegram.commands import ADMIN_COMMANDS, COMMANDS
from bot.telegram.delivery import SEND_BACKOFF, Delivery
from bot.telegram.state import BotState
from tests.botapi import BOT_USERNAME, MAX_MESSAGE_LENGTH, BotApi, parse_html, serve, utf16_length
from tests.telegram_setup import (
    ADMIN,
    DOCUMENTS,
    GROUP,
    OTHER,
    TOKEN,
    USER,
    make_settings,
    running,
    write_corpus,
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", DOCUMENTS)


@pytest.fixture
def api() -> Iterator[BotApi]:
    with serve(TOKEN) as api:
        yield api


def fast_delivery() -> tuple[Delivery, list[float]]:
    """Delivery with the real rules whose pauses are recorded instead of waited."""
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)

    return Delivery(sleep=sleep), pauses


@pytest.fixture
async def state(api: BotApi, corpus: Path) -> AsyncIterator[BotState]:
    async with running(make_settings(api, corpus)) as state:
        yield state


def expected_answer(settings: Settings, library: Library, question: str, plain: bool = False) -> list[str]:
    """What the core renders for a question, to compare with what the bot sent."""
    result = answer(library, question, **settings.answer_options())
    return (plain_messages if plain else html_messages)(result, MAX_MESSAGE_LENGTH)


# ---- start, help, command menu ---------------------------------------------------------------


async def test_start_registers_command_menu(api: BotApi, state: BotState) -> None:
    public = [{"command": c, "description": d} for c, d in COMMANDS if c not in ADMIN_COMMANDS]
    everything = [{"command": c, "description": d} for c, d in COMMANDS]
    assert api.commands['{"type": "default"}'] == public
    assert api.commands[f'{{"chat_id": {ADMIN}, "type": "chat"}}'] == everything
    assert {"reload", "stats"} <= {c for c, _ in COMMANDS}


async def test_start_greets_with_corpus_size(api: BotApi, state: BotState) -> None:
    api.message("/start")
    [reply] = await api.replies(USER)
    text = reply.params["text"]
    assert f"Documents: {len(DOCUMENTS)}, sentences: {state.library.sentence_count}." in text
    assert "/ask" in text and f"@{BOT_USERNAME}" in text


@pytest.mark.parametrize(("user_id", "shows_admin"), [(USER, False), (ADMIN, True)])
async def test_help_lists_commands(api: BotApi, state: BotState, user_id: int, shows_admin: bool) -> None:
    api.message("/help", user_id=user_id)
    [reply] = await api.replies(user_id)
    text = reply.params["text"]
    for command, _ in COMMANDS:
        assert (f"/{command} " in text) is (shows_admin or command not in ADMIN_COMMANDS)


# ---- questions -------------------------------------------------------------------------------


async def test_private_question_answered_with_citations(api: BotApi, state: BotState) -> None:
    question = "What is the capital of Freedonia?"
    api.message(question)
    [reply] = await api.replies(USER)
    assert reply.params["parse_mode"] == "HTML"
    assert [reply.params["text"]] == expected_answer(state.settings, state.library, question)
    assert "Fredville" in reply.params["text"] and "[1]" in reply.params["text"]
    # "typing" went out before the answer did.
    [typing] = api.calls_to("sendChatAction")
    assert typing.params == {"chat_id": USER, "action": "typing"} and typing.at <= reply.at
    assert state.answered == 1 and state.not_found == 0


async def test_question_not_in_documents_gets_not_found_message(api: BotApi, state: BotState) -> None:
    question = "Which submarine won the yachting regatta?"
    api.message(question)
    [reply] = await api.replies(USER)
    assert not answer(state.library, question, **state.settings.answer_options()).answered
    assert [reply.params["text"]] == expected_answer(state.settings, state.library, question)
    assert state.answered == 0 and state.not_found == 1


def bot_message(api: BotApi) -> dict[str, Any]:
    return {
        "message_id": 1,
        "date": int(time.time()),
        "chat": api.chat(GROUP),
        "from": api.me,
        "text": "Earlier answer",
    }


def human_message(api: BotApi) -> dict[str, Any]:
    return {
        "message_id": 2,
        "date": int(time.time()),
        "chat": api.chat(GROUP),
        "from": {"id": OTHER, "is_bot": False, "first_name": "Other"},
        "text": "Hi",
    }


@pytest.mark.parametrize(
    ("text", "reply_to", "answered"),
    [
        ("/ask What is the capital of Freedonia?", None, True),
        (f"/ask@{BOT_USERNAME} What is the capital of Freedonia?", None, True),
        (f"@{BOT_USERNAME} What is the capital of Freedonia?", None, True),
        ("What is the capital of Freedonia?", bot_message, True),
        ("What is the capital of Freedonia?", None, False),
        ("What is the capital of Freedonia?", human_message, False),
        ("@somebody_else What is the capital of Freedonia?", None, False),
        ("/ask@other_bot What is the capital of Freedonia?", None, False),
    ],
    ids=["ask", "ask@bot", "mention", "reply-to-bot", "plain", "reply-to-human", "other-mention", "ask@other"],
)
async def test_group_answers_only_when_addressed(
    api: BotApi, state: BotState, text: str, reply_to: Any, answered: bool
) -> None:
    question = api.message(text, chat_id=GROUP, reply_to=reply_to(api) if reply_to else None)["message"]
    # A later /ask from someone else tells us when the first update has surely been handled.
    control = api.message("/ask Who founded Fredville?", user_id=OTHER, chat_id=GROUP)["message"]
    await api.replies(GROUP, 2 if answered else 1)
    await asyncio.sleep(0.05)  # room for a wrong extra reply to show up
    replies = api.sent(GROUP)
    replied_to = sorted(r.params["reply_parameters"]["message_id"] for r in replies)
    expected = [question["message_id"], control["message_id"]] if answered else [control["message_id"]]
    assert replied_to == sorted(expected)
    if answered:
        [first] = [r for r in replies if r.params["reply_parameters"]["message_id"] == question["message_id"]]
        assert "Fredville" in first.params["text"] and first.params["parse_mode"] == "HTML"


@pytest.mark.parametrize(
    ("text", "chat_id", "usage"),
    [
        ("/ask", USER, text("ask_usage")),
        ("/ask   ", GROUP, text("ask_usage")),
        (f"@{BOT_USERNAME}", GROUP, text("mention_usage", username=BOT_USERNAME)),
    ],
)
async def test_question_missing_gets_usage(api: BotApi, state: BotState, text: str, chat_id: int, usage: str) -> None:
    api.message(text, chat_id=chat_id)
    [reply] = await api.replies(chat_id)
    assert reply.params["text"] == usage
    assert state.answered == state.not_found == 0


async def test_absurdly_long_question_asks_for_shorter(api: BotApi, state: BotState) -> None:
    api.message("Freedonia capital " * 220)  # ~4000 characters, close to Telegram's own limit
    [reply] = await api.replies(USER)
    assert reply.params["text"] == text("too_long", limit=MAX_QUESTION_LENGTH)


async def test_unknown_command_in_private_points_to_help(api: BotApi, state: BotState) -> None:
    api.message("/frobnicate now")
    [reply] = await api.replies(USER)
    assert reply.params["text"] == text("unknown_command")


STICKER = {
    "sticker": {
        "file_id": "s1",
        "file_unique_id": "u1",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
}
PHOTO = {"photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]}
VOICE = {"voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 3}}


@pytest.mark.parametrize("media", [STICKER, PHOTO, VOICE], ids=["sticker", "photo", "voice"])
async def test_non_text_gets_hint_in_private_and_silence_in_groups(
    api: BotApi, state: BotState, media: dict[str, Any]
) -> None:
    api.message(None, chat_id=GROUP, **media)
    api.message(None, **media)
    [reply] = await api.replies(USER)
    assert reply.params["text"] == text("send_text")
    control = api.message("/ask Who founded Fredville?", chat_id=GROUP)["message"]
    [group_reply] = await api.replies(GROUP)
    assert group_reply.params["reply_parameters"]["message_id"] == control["message_id"]


async def test_markup_characters_in_corpus_are_escaped(api: BotApi, state: BotState) -> None:
    question = "How do operators look in the Zork language?"
    api.message(question)
    [reply] = await api.replies(USER)
    text = reply.params["text"]
    assert reply.params["parse_mode"] == "HTML"
    assert "&lt;" in text and "&amp;" in text
    # The stand-in accepted it as HTML and shows what the user sees: the literal characters.
    assert "a < b && c > d" in parse_html(text)
    assert all(c.status == 200 for c in api.calls)


async def test_long_answer_is_split_into_messages_within_limit(api: BotApi, tmp_path: Path) -> None:
    filler = " ".join(f"word{i}" for i in range(130))
    sentences = [f"The Zork harbour lighthouse number {n} has a beam of {filler} and more." for n in range(12)]
    # Other sentences keep the question's words rare enough to score (BM25 idf).
    cheese = " ".join(f"Cheese number {n} from the valley tastes of grass and salt." for n in range(40))
    corpus = write_corpus(tmp_path / "long", {"harbour.txt": " ".join(sentences), "cheese.txt": cheese})
    settings = make_settings(api, corpus, answer_sentences=10, min_confidence=0.0)
    async with running(settings) as state:
        question = "What beam does the Zork harbour lighthouse have?"
        expected = expected_answer(settings, state.library, question)
        assert len("".join(expected)) > MAX_MESSAGE_LENGTH, "the corpus must make an answer too long for one message"
        api.message(question)
        replies = await api.replies(USER, len(expected))
    assert [r.params["text"] for r in replies] == expected
    assert all(len(r.params["text"]) <= MAX_MESSAGE_LENGTH for r in replies)
    assert all(c.status == 200 for c in api.calls)


EMOJI = "\U0001f600"  # two UTF-16 code units, one code point


async def test_answer_dense_in_emoji_is_delivered_within_telegram_s_utf16_limit(api: BotApi, tmp_path: Path) -> None:
    smiles = " ".join(EMOJI * 2 for _ in range(1200))  # ~3,600 code points, ~6,000 UTF-16 units
    cheese = " ".join(f"Cheese number {n} from the valley tastes of grass and salt." for n in range(40))
    corpus = write_corpus(
        tmp_path / "wide", {"parade.txt": f"The Zork smile parade shows {smiles} every spring.", "cheese.txt": cheese}
    )
    settings = make_settings(api, corpus)
    async with running(settings) as state:
        question = "What does the Zork smile parade show?"
        expected = expected_answer(settings, state.library, question)
        assert sum(len(m) for m in expected) < MAX_MESSAGE_LENGTH < sum(utf16_length(m) for m in expected)
        api.message(question)
        replies = await api.replies(USER, len(expected))
        await asyncio.sleep(0.05)
    assert [r.params["text"] for r in api.sent(USER)] == expected
    assert EMOJI * 2 in replies[0].params["text"]
    assert all(c.status == 200 for c in api.calls)


async def test_mention_after_wide_characters_is_found_and_stripped(api: BotApi, state: BotState) -> None:
    # Entity offsets count UTF-16 units: three emoji put the mention at offset 7, not 4.
    api.message(f"{EMOJI * 3} @{BOT_USERNAME} What is the capital of Freedonia?", chat_id=GROUP)
    [reply] = await api.replies(GROUP)
    assert "Fredville" in reply.params["text"]


async def test_plain_fallback_never_resends_what_was_delivered(api: BotApi, tmp_path: Path) -> None:
    # Bold words and escaped ampersands make the HTML far longer than the plain text of the same quotes.
    filler = " ".join(f"Zork & harbour{i}" for i in range(150))
    sentences = [f"The Zork harbour lighthouse number {n} has a beam & {filler} and more." for n in range(8)]
    cheese = " ".join(f"Cheese number {n} from the valley tastes of grass and salt." for n in range(40))
    corpus = write_corpus(
        tmp_path / "heavy", {"harbour.md": "# Harbour\n\n" + " ".join(sentences), "cheese.txt": cheese}
    )
    settings = make_settings(api, corpus, answer_sentences=8, min_confidence=0.0)
    question = "What beam does the Zork harbour lighthouse have?"
    async with running(settings) as state:
        html = expected_answer(settings, state.library, question)
        assert len(html) >= 3
        # The second HTML message is refused; the rest of the answer must follow as plain text.
        api.fail("sendMessage", 1, 400, "Bad Request: can't parse entities: unsupported start tag", after=1)
        api.message(question)
        await api.replies(USER, len(html))
        await asyncio.sleep(0.2)
    shown = [parse_html(r.params["text"]) if r.params.get("parse_mode") else r.params["text"] for r in api.sent(USER)]
    assert api.sent(USER)[0].params["text"] == html[0]
    quoted = [n for n in range(8) if f"number {n} has" in "".join(shown)]
    assert quoted and all(sum(f"number {n} has" in text for text in shown) == 1 for n in quoted)
    assert sum(text.count("Sources") for text in shown) == 1


async def test_rejected_html_is_resent_as_plain_text(
    api: BotApi, state: BotState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The core escapes properly, so break its output on purpose to exercise the fallback.
    real = render.chunks
    monkeypatch.setattr(
        render, "chunks", lambda *args, **kw: [Chunk("<b>Fredville <blink>", c.plain) for c in real(*args, **kw)]
    )
    question = "What is the capital of Freedonia?"
    api.message(question)
    [reply] = await api.replies(USER)
    [rejected] = [c for c in api.calls if c.method == "sendMessage" and c.status == 400]
    assert rejected.params["parse_mode"] == "HTML"
    assert "parse_mode" not in reply.params
    assert [reply.params["text"]] == expected_answer(state.settings, state.library, question, plain=True)


# ---- admin commands --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["reload", "stats"])
async def test_admin_commands_refuse_other_users(api: BotApi, state: BotState, corpus: Path, command: str) -> None:
    library = state.library
    (corpus / "new.txt").write_text("A brand new document about the Kerbin telescope.", encoding="utf-8")
    api.message(f"/{command}")
    [reply] = await api.replies(USER)
    assert reply.params["text"] == text("not_admin", command=command)
    assert state.library is library


async def test_reload_log_counts_one_document_in_the_singular(
    api: BotApi, state: BotState, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for path in corpus.rglob("*"):
        if path.is_file() and path.name != "astronomy.txt":
            path.unlink()
    with caplog.at_level(logging.INFO, logger="bot.telegram.reloads"):
        api.message("/reload", user_id=ADMIN)
        await api.replies(ADMIN, timeout=10)
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Reloaded ")]
    assert re.match(r"Reloaded 1 document, \d+ sentences in ", line), line


async def test_reload_swaps_in_new_documents_and_reports_skipped(api: BotApi, state: BotState, corpus: Path) -> None:
    (corpus / "lighthouse.txt").write_text("The Zork lighthouse keeper is named Ada Quill.", encoding="utf-8")
    (corpus / "broken.txt").write_bytes(bytes(range(256)) * 20)  # binary: the core skips it
    (corpus / "freedonia.md").unlink()
    api.message("/reload", user_id=ADMIN)
    [report] = await api.replies(ADMIN, timeout=10)
    library = state.library
    text = report.params["text"]
    assert text.startswith("Reloaded in ")
    assert f"Documents: {len(library.documents)}, sentences: {library.sentence_count}." in text
    assert {d.path for d in library.documents} == {"lighthouse.txt", "notes/markup.txt", "astronomy.txt"}
    [skipped] = [s for s in library.skipped if s.path == "broken.txt"]
    assert f"broken.txt: {skipped.reason}" in text
    api.message("Who is the Zork lighthouse keeper?")
    [reply] = await api.replies(USER)
    assert "Ada Quill" in reply.params["text"]


async def test_reload_with_thousands_of_skipped_files_sends_one_summary(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    for i in range(2000):  # binary junk, each file a different size: the reasons' details differ
        (corpus / f"junk/blob{i:04}.txt").parent.mkdir(exist_ok=True)
        (corpus / f"junk/blob{i:04}.txt").write_bytes(b"\x00\xff" * (1 + i))
    for i in range(30):
        (corpus / f"empty{i:02}.txt").write_bytes(b"")
    api.message("/reload", user_id=ADMIN)
    [report] = await api.replies(ADMIN, timeout=60)
    await asyncio.sleep(0.2)
    assert len(api.sent(ADMIN)) == 1
    text = report.params["text"]
    assert len(state.library.skipped) == 2030
    assert "Skipped files: 2030\n" in text
    assert "- binary file: 2000 file(s): junk/blob0000.txt, junk/blob0001.txt, junk/blob0002.txt and 1997 more" in text
    assert "- empty file: 30 file(s): empty00.txt, empty01.txt, empty02.txt and 27 more" in text


async def test_failed_reload_keeps_old_library_and_tells_admin(api: BotApi, state: BotState, corpus: Path) -> None:
    library = state.library
    for path in corpus.rglob("*.*"):
        path.unlink()
    with pytest.raises(CorpusError) as failure:
        load_library(state.settings.corpus_dir, state.settings.cache_dir)
    api.message("/reload", user_id=ADMIN)
    [report] = await api.replies(ADMIN, timeout=10)
    assert report.params["text"].startswith(f"Reload failed: {failure.value}")
    assert "still answering from the previous documents" in report.params["text"]
    assert state.library is library
    api.message("What is the capital of Freedonia?")
    [reply] = await api.replies(USER)
    assert "Fredville" in reply.params["text"]


class SlowLoad:
    """A load_library that waits for `release`, counting loads and how many ran at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.active = self.most = self.loads = 0
        self._lock = threading.Lock()

    def __call__(self, corpus_dir: Path, cache_dir: Path, previous: Library | None = None, **options: Any) -> Library:
        with self._lock:
            self.active, self.loads = self.active + 1, self.loads + 1
            self.most = max(self.most, self.active)
        try:
            self.release.wait(5)
            return load_library(corpus_dir, cache_dir, previous=previous, **options)
        finally:
            with self._lock:
                self.active -= 1


async def test_reloads_are_serialized_and_questions_answered_meanwhile(
    api: BotApi, state: BotState, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowLoad()
    monkeypatch.setattr(serving, "load_library", slow)  # what load_for calls
    api.message("/reload", user_id=ADMIN)
    api.message("/reload", user_id=ADMIN)
    [busy] = await api.replies(ADMIN)
    assert busy.params["text"].startswith("A reload is already running")
    # While the reload is stuck in its thread, questions are answered from the old library.
    api.message("What is the capital of Freedonia?")
    [reply] = await api.replies(USER)
    assert "Fredville" in reply.params["text"]
    slow.release.set()
    replies = await api.replies(ADMIN, 3)
    assert sum(r.params["text"].startswith("Reloaded in ") for r in replies) == 2
    assert slow.most == 1


async def test_sighup_reload_waits_for_a_running_reload(
    api: BotApi, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowLoad()
    async with running(make_settings(api, corpus), signals=True):
        assert signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL, "SIGHUP would kill the bot"
        monkeypatch.setattr(serving, "load_library", slow)  # what load_for calls
        api.message("/reload", user_id=ADMIN)
        await api.until(lambda: slow.active == 1)
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.2)
        assert slow.loads == 1  # the signal's reload waits its turn
        slow.release.set()
        [report] = await api.replies(ADMIN)
        await api.until(lambda: slow.loads == 2 and slow.active == 0)
    assert report.params["text"].startswith("Reloaded in ")
    assert slow.most == 1


async def test_stats_counts_questions(api: BotApi, state: BotState) -> None:
    api.message("What is the capital of Freedonia?")
    api.message("Which submarine won the yachting regatta?", user_id=OTHER)
    await api.replies(USER)
    await api.replies(OTHER)
    api.message("/stats", user_id=ADMIN)
    [reply] = await api.replies(ADMIN)
    text = reply.params["text"]
    assert f"Documents: {len(DOCUMENTS)} (sentences: {state.library.sentence_count};" in text
    assert "Uptime: 0 min " in text
    assert "Questions answered: 1\n" in text and text.endswith("not found in the documents: 1")


# ---- access and flood control ----------------------------------------------------------------


@pytest.mark.parametrize(
    "allow",
    [{"allowed_user_ids": frozenset({USER})}, {"allowed_chat_ids": frozenset({USER, GROUP})}],
    ids=["users", "chats"],
)
async def test_allowlist_refuses_everyone_else(api: BotApi, corpus: Path, allow: dict[str, Any]) -> None:
    async with running(make_settings(api, corpus, **allow)):
        api.message("What is the capital of Freedonia?", user_id=OTHER)
        api.message("/start", user_id=OTHER)
        api.message("What is the capital of Freedonia?", user_id=OTHER, chat_id=-999)  # group, not addressed
        api.message("/ask What is the capital of Freedonia?", user_id=OTHER, chat_id=-999)
        refusals = await api.replies(OTHER) + await api.replies(-999)
        api.message("What is the capital of Freedonia?", user_id=ADMIN)
        api.message("What is the capital of Freedonia?")
        [allowed] = await api.replies(USER)
        [admin] = await api.replies(ADMIN)
        await asyncio.sleep(0.05)
    # One refusal per stranger and chat: the second private message and the unaddressed one get silence.
    assert [r.params["text"] for r in refusals] == [text("refusal")] * 2
    assert len(api.sent(OTHER)) == 1 and len(api.sent(-999)) == 1
    assert "Fredville" in allowed.params["text"] and "Fredville" in admin.params["text"]


async def test_strangers_get_one_refusal_each_then_silence(api: BotApi, corpus: Path) -> None:
    strangers = [3001, 3002, 3003]
    async with running(make_settings(api, corpus, allowed_user_ids=frozenset({USER}))):
        for _ in range(20):
            for stranger in strangers:
                api.message(QUESTION, user_id=stranger)
        api.message(QUESTION)
        [allowed] = await api.replies(USER, timeout=10)
        await api.until(lambda: all(api.sent(s) for s in strangers))
        await asyncio.sleep(0.3)  # room for any extra refusal to show up
    assert "Fredville" in allowed.params["text"]
    assert {s: api.texts(s) for s in strangers} == {s: [text("refusal")] for s in strangers}


async def test_refusal_comes_again_once_the_period_has_passed(api: BotApi, corpus: Path) -> None:
    settings = make_settings(api, corpus, allowed_user_ids=frozenset({USER}), user_rate_period=1.0)
    async with running(settings):
        api.message(QUESTION, user_id=OTHER)
        api.message(QUESTION, user_id=OTHER)
        await api.replies(OTHER)
        await asyncio.sleep(1.1)
        api.message(QUESTION, user_id=OTHER)
        await api.replies(OTHER, 2)
        await asyncio.sleep(0.1)
    assert api.texts(OTHER) == [text("refusal"), text("refusal")]


@pytest.mark.parametrize(
    ("status", "fields", "allowed"),
    [
        ("member", {}, True),
        ("administrator", {}, True),
        ("creator", {}, True),
        ("restricted", {"is_member": True}, True),
        ("restricted", {"is_member": False}, False),
        ("left", {}, False),
        ("kicked", {}, False),
    ],
    ids=["member", "administrator", "creator", "restricted-member", "restricted-gone", "left", "kicked"],
)
async def test_members_of_allowed_chats_may_ask_in_private(
    api: BotApi, corpus: Path, status: str, fields: dict[str, Any], allowed: bool
) -> None:
    api.member(GROUP, OTHER, status, **fields)
    async with running(make_settings(api, corpus, allowed_chat_ids=frozenset({GROUP}))):
        api.message(QUESTION, user_id=OTHER)
        [reply] = await api.replies(OTHER)
    assert ("Fredville" in reply.params["text"]) is allowed
    assert (reply.params["text"] == text("refusal")) is not allowed
    [check] = api.calls_to("getChatMember")
    assert check.params == {"chat_id": GROUP, "user_id": OTHER}


async def test_membership_is_looked_up_once_and_remembered(api: BotApi, corpus: Path) -> None:
    api.member(GROUP, OTHER, "member")
    async with running(make_settings(api, corpus, allowed_chat_ids=frozenset({GROUP}))):
        for question in (QUESTION, "Who founded Fredville?", "What is the national animal of Freedonia?"):
            api.message(question, user_id=OTHER)
        await api.replies(OTHER, 3)
        api.message(QUESTION, user_id=OTHER)
        await api.replies(OTHER, 4)
    assert len(api.calls_to("getChatMember", ok_only=False)) == 1
    assert text("refusal") not in api.texts(OTHER)


async def test_membership_lookup_failing_refuses_and_logs(
    api: BotApi, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The bot was removed from the allowed group: Telegram will not say who is in it.
    api.fail("getChatMember", 1, 400, "Bad Request: member list is inaccessible")
    async with running(make_settings(api, corpus, allowed_chat_ids=frozenset({GROUP}))):
        api.message(QUESTION, user_id=OTHER)
        [reply] = await api.replies(OTHER)
    assert reply.params["text"] == text("refusal")
    assert any(
        r.levelno == logging.WARNING and "member list is inaccessible" in r.getMessage().lower() for r in caplog.records
    )


async def test_flooding_user_is_slowed_down_and_others_still_answered(api: BotApi, corpus: Path) -> None:
    settings = make_settings(api, corpus, user_rate_limit=3, user_rate_period=60)
    async with running(settings):
        for _ in range(20):
            api.message("What is the capital of Freedonia?")
        api.message("Who founded Fredville?", user_id=OTHER)
        [other] = await api.replies(OTHER)
        flood = await api.replies(USER, 4)
        await asyncio.sleep(0.1)
        flood = api.sent(USER)
    assert "Rufus Firefly" in other.params["text"]
    texts = [r.params["text"] for r in flood]
    assert texts.count(text("slow_down")) == 1
    assert len(texts) == 4 and all("Fredville" in t for t in texts if t != text("slow_down"))


# ---- Bot API trouble -------------------------------------------------------------------------


async def test_flood_wait_429_is_honoured_and_message_retried(api: BotApi, state: BotState) -> None:
    api.fail("sendMessage", 1, 429, "Too Many Requests: retry after 1", retry_after=1)
    api.message("What is the capital of Freedonia?")
    [reply] = await api.replies(USER, timeout=10)
    [limited] = [c for c in api.calls if c.status == 429]
    assert limited.params["text"] == reply.params["text"]
    assert reply.at - limited.at >= 1.0
    assert "Fredville" in reply.params["text"]


QUESTION = "What is the capital of Freedonia?"


@pytest.mark.parametrize(
    ("fail", "failures"),
    [
        (lambda api: api.fail("sendMessage", 1, 500, "Internal Server Error"), 1),
        (lambda api: api.fail("sendMessage", 3, 502, "Bad Gateway"), 3),
        (lambda api: api.drop("sendMessage", 2), 2),
    ],
    ids=["one-500", "three-502", "connection-dropped"],
)
async def test_transient_send_failures_are_retried_with_backoff(
    api: BotApi, corpus: Path, fail: Any, failures: int
) -> None:
    delivery, pauses = fast_delivery()
    async with running(make_settings(api, corpus), delivery):
        fail(api)
        api.message(QUESTION)
        [reply] = await api.replies(USER)
    assert "Fredville" in reply.params["text"]
    assert len(api.calls_to("sendMessage", ok_only=False)) == failures + 1
    assert pauses == list(SEND_BACKOFF[:failures])


async def test_send_gives_up_after_bounded_retries_without_apologising(
    api: BotApi, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    delivery, pauses = fast_delivery()
    async with running(make_settings(api, corpus), delivery):
        api.fail("sendMessage", 100, 502, "Bad Gateway")
        api.message(QUESTION)
        await api.until(lambda: any("Gave up sending" in r.getMessage() for r in caplog.records))
        await asyncio.sleep(0.1)
    # The answer was tried once and retried after each pause; no "something went wrong" followed it.
    assert len(api.calls_to("sendMessage", ok_only=False)) == 1 + len(SEND_BACKOFF)
    assert pauses == list(SEND_BACKOFF)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_flood_waits_are_honoured_beyond_five_in_a_row(api: BotApi, corpus: Path) -> None:
    delivery, pauses = fast_delivery()
    async with running(make_settings(api, corpus), delivery):
        api.fail("sendMessage", 8, 429, "Too Many Requests: retry after 7", retry_after=7)
        api.message(QUESTION)
        [reply] = await api.replies(USER)
    assert "Fredville" in reply.params["text"]
    assert len(pauses) == 8 and all(7 <= pause < 8 for pause in pauses)


async def test_flood_wait_past_the_budget_is_given_up(
    api: BotApi, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    delivery, pauses = fast_delivery()
    async with running(make_settings(api, corpus), delivery):
        api.fail("sendMessage", 1, 429, "Too Many Requests: retry after 86400", retry_after=86400)
        api.message(QUESTION)
        await api.until(lambda: any("giving up" in r.getMessage() for r in caplog.records))
        await asyncio.sleep(0.1)
    assert pauses == [] and len(api.calls_to("sendMessage", ok_only=False)) == 1


@pytest.mark.parametrize(
    ("code", "description"),
    [(403, "Forbidden: bot was blocked by the user"), (400, "Bad Request: chat not found")],
    ids=["blocked", "chat-not-found"],
)
async def test_undeliverable_chat_is_logged_not_retried_and_not_apologised_to(
    api: BotApi, corpus: Path, caplog: pytest.LogCaptureFixture, code: int, description: str
) -> None:
    delivery, pauses = fast_delivery()
    async with running(make_settings(api, corpus), delivery):
        api.fail("sendMessage", 1, code, description)
        api.message(QUESTION)
        why = description.split(": ", 1)[1].lower()  # PTB drops the "Bad Request: " prefix
        await api.until(lambda: [r for r in caplog.records if why in r.getMessage().lower()])
        await asyncio.sleep(0.1)
    [record] = [r for r in caplog.records if why in r.getMessage().lower()]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert len(api.calls_to("sendMessage", ok_only=False)) == 1 and pauses == []
    assert text("something_wrong") not in api.texts()


async def test_getupdates_server_errors_are_survived(api: BotApi, corpus: Path) -> None:
    api.fail("getUpdates", 2, 502, "Bad Gateway")
    async with running(make_settings(api, corpus)):
        api.message("What is the capital of Freedonia?")
        [reply] = await api.replies(USER, timeout=10)
    failed = [c for c in api.calls if c.method == "getUpdates" and c.status == 502]
    assert len(failed) == 2
    assert failed[1].at - failed[0].at >= 0.9  # backed off rather than hammering the API
    assert "Fredville" in reply.params["text"]


async def test_polling_failure_is_logged_as_one_warning_line_with_the_pause(
    api: BotApi, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail("getUpdates", 1, 502, "Bad Gateway")
    with caplog.at_level(logging.DEBUG):
        async with running(make_settings(api, corpus)):
            api.message(QUESTION)
            await api.replies(USER, timeout=10)
    # (httpx and httpcore mention the 502 too, at DEBUG and INFO: `citebot run` keeps those quiet.)
    [failure] = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert (failure.name, failure.levelno, failure.exc_info) == ("bot.telegram.delivery", logging.WARNING, None)
    assert failure.getMessage() == "Polling Telegram failed (Bad Gateway); retrying in 1 s"


async def test_updates_pending_before_start_are_answered(api: BotApi, corpus: Path) -> None:
    api.message("What is the capital of Freedonia?")
    api.message("Who founded Fredville?", user_id=OTHER)
    async with running(make_settings(api, corpus)):
        [first] = await api.replies(USER)
        [second] = await api.replies(OTHER)
    assert "Fredville" in first.params["text"] and "Rufus Firefly" in second.params["text"]
    assert not any(c.params.get("drop_pending_updates") for c in api.calls)


async def test_handler_crash_is_logged_and_user_told(
    api: BotApi, state: BotState, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **options: Any) -> None:
        raise RuntimeError("scoring exploded")

    monkeypatch.setattr(questions, "answer_in_turn", broken)
    with caplog.at_level(logging.ERROR, logger="bot.telegram"):
        api.message("What is the capital of Freedonia?")
        [reply] = await api.replies(USER)
    assert reply.params["text"] == text("something_wrong")
    [record] = [r for r in caplog.records if r.name.startswith("bot.telegram")]
    assert record.exc_info and "scoring exploded" in str(record.exc_info[1])


# ---- the `citebot run` process ---------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def start_process(api: BotApi, corpus: Path, token: str | None = TOKEN) -> subprocess.Popen[str]:
    """Start `python -m bot run` at DEBUG log level against the stand-in, in a folder without .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "CITEBOT_"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "CITEBOT_CORPUS_DIR": str(corpus),
        "CITEBOT_CACHE_DIR": str(corpus.parent / "cache"),
        "TELEGRAM_BASE_URL": api.base_url,
        "TELEGRAM_BASE_FILE_URL": api.base_url.replace("/bot", "/file/bot"),
        "CITEBOT_LOG_LEVEL": "DEBUG",
        "CITEBOT_WORKERS": "1",
    }
    if token is not None:
        env["TELEGRAM_BOT_TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=corpus.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
@pytest.mark.usefixtures("model_in_cache")
def test_run_answers_pending_updates_and_stops_cleanly_without_leaking_token(
    api: BotApi, corpus: Path, stop: signal.Signals
) -> None:
    api.message("What is the capital of Freedonia?")  # queued before the bot starts
    api.fail("getUpdates", 1, 500, "Internal Server Error")  # logs a traceback, which must not leak either
    process = start_process(api, corpus)
    try:
        [reply] = api.wait_for(lambda: api.sent(USER), timeout=20)
        api.wait_for(lambda: len(api.calls_to("getUpdates")) >= 2)  # polling again after the answer
        process.send_signal(stop)
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "Fredville" in reply.params["text"]
    assert "DEBUG" in output and "Internal Server Error" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output


class Output:
    """What a process prints, read by a thread so a test can wait for a line while the process runs."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self.lines.extend, args=(process.stdout,), daemon=True)
        self._reader.start()

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in list(self.lines)):
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.text()}"
            time.sleep(0.02)

    def text(self) -> str:
        return "".join(self.lines)


def add_a_document(corpus: Path) -> None:
    (corpus / "lighthouse.txt").write_text("The Zork lighthouse keeper is named Ada Quill.", encoding="utf-8")


def remove_every_file(corpus: Path) -> None:
    for path in corpus.rglob("*.*"):
        path.unlink()


@pytest.mark.parametrize(
    ("change", "logged", "question", "quoted"),
    [
        (add_a_document, f"Reloaded {len(DOCUMENTS) + 1} documents", "Who is the Zork lighthouse keeper?", "Ada Quill"),
        (remove_every_file, "Reload failed, keeping the previous library", QUESTION, "Fredville"),
    ],
    ids=["reloads-the-documents", "an-unusable-corpus-keeps-the-old-documents"],
)
@pytest.mark.usefixtures("model_in_cache")
def test_sighup_reloads_and_the_bot_keeps_running(
    api: BotApi, corpus: Path, change: Callable[[Path], None], logged: str, question: str, quoted: str
) -> None:
    process = start_process(api, corpus)
    output = Output(process)
    try:
        api.wait_for(lambda: api.calls_to("getUpdates"), timeout=20)
        change(corpus)
        process.send_signal(signal.SIGHUP)
        output.wait_for(logged)
        api.message(question)
        [reply] = api.wait_for(lambda: api.sent(USER), timeout=10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, output.text()
    finally:
        process.kill()
    assert quoted in reply.params["text"]


@pytest.mark.parametrize(("send_wait", "delivered"), [(4, True), (60, False)], ids=["answer-sent", "answer-dropped"])
@pytest.mark.usefixtures("model_in_cache")
def test_sigterm_during_flood_waits_stops_within_ten_seconds(
    api: BotApi, corpus: Path, send_wait: int, delivered: bool
) -> None:
    api.message(QUESTION)
    api.fail("sendMessage", 1, 429, f"Too Many Requests: retry after {send_wait}", retry_after=send_wait)
    process = start_process(api, corpus)
    output = Output(process)
    try:
        # The answer is computed and waiting out its flood control when polling hits one of a minute.
        api.wait_for(lambda: api.calls_to("sendMessage", ok_only=False), timeout=20)
        api.fail("getUpdates", 1, 429, "Too Many Requests: retry after 60", retry_after=60)
        api.wait_for(lambda: [c for c in api.calls_to("getUpdates", ok_only=False) if c.status == 429])
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)
        took = time.monotonic() - asked
    finally:
        process.kill()
    assert code == 0, output.text()
    assert took < 10, output.text()
    # An answer whose flood wait ends within the grace is sent; one that would take a minute is dropped.
    assert bool(api.sent(USER)) is delivered, output.text()


@pytest.mark.usefixtures("model_in_cache")
def test_run_without_token_explains_and_fails(api: BotApi, corpus: Path) -> None:
    process = start_process(api, corpus, token=None)
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "TELEGRAM_BOT_TOKEN is not set" in output and "Traceback" not in output


@pytest.mark.usefixtures("model_in_cache")
def test_run_with_rejected_token_fails_without_printing_it(api: BotApi, corpus: Path) -> None:
    wrong = "654321:WRONG-secret-xyz"
    process = start_process(api, corpus, token=wrong)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1, output
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in output
    assert "WRONG-secret-xyz" not in output


# --- refresh: reloads that follow the corpus --------------------------------------------------------------


async def test_a_burst_of_refreshes_makes_one_reload_and_a_later_one_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.telegram import reloads

    state = BotState(Settings(corpus_dir=tmp_path, cache_dir=tmp_path / "cache"), library=None)  # type: ignore[arg-type]
    calls: list[float] = []

    async def fake_reload(given: BotState, changed: object = None) -> tuple[None, float]:
        calls.append(time.monotonic())
        await asyncio.sleep(0.05)
        return None, 0.0

    monkeypatch.setattr(reloads, "reload_library", fake_reload)
    first = reloads.refresh(state, delay=0.01)
    assert all(reloads.refresh(state, delay=0.01) is first for _ in range(5))
    await first
    assert len(calls) == 1  # the burst came before the reload read anything: one reload reads it all
    second = reloads.refresh(state, delay=0.01)
    await asyncio.sleep(0.03)  # the reload is under way now
    assert reloads.refresh(state, delay=0.01) is second
    await second
    assert len(calls) == 3  # a change during a reload gets one more pass
