"""End to end: buttons under answers, votes, /feedback and /gaps, inline mode, webhooks, ru and kk."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.chat.messages import text
from bot.config import Settings, load_settings
from bot.telegram.inline import INLINE_CACHE_SECONDS
from bot.telegram.state import BotState
from tests.botapi import BOT_USERNAME, BotApi, Call, parse_html, serve
from tests.telegram_setup import data, inline, press, running

TOKEN = "123456:TEST-token-abc"
ADMIN = 4242
USER = 1001
OTHER = 2002
GROUP = -100500

RIVER = (
    "# The Marx river\n\n"
    "The Marx river flows through Fredville. The Marx river floods Fredville every spring. "
    "Fishermen on the Marx river catch trout near Fredville. Fredville built a bridge over the Marx river. "
    "The Marx river freezes near Fredville in January. Tourists sail the Marx river from Fredville.\n"
)
DOCUMENTS = {
    "freedonia.md": (
        "---\ntitle: Freedonia & its capital\nsource: example.org\ndate: 2025-06-01\nurl: https://example.org/f\n---\n"
        "Freedonia is a small mountain country famous for its cheese. "
        "The capital of Freedonia is Fredville, on the river Marx. "
        "Fredville was founded in 1802 by the explorer Rufus Firefly. "
        "The national animal of Freedonia is the golden goose.\n"
    ),
    "river.md": RIVER,
    "astronomy.txt": "The moon Kerbin orbits the gas giant Jool every forty days.\n",
}
CAPITAL = "What is the capital of Freedonia?"
RIVER_QUESTION = "Marx river Fredville"
NOT_FOUND = "Which submarine won the yachting regatta?"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for name, content in DOCUMENTS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def api() -> Iterator[BotApi]:
    with serve(TOKEN) as api:
        yield api


def make_settings(api: BotApi, corpus: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "corpus_dir": corpus,
        "cache_dir": corpus.parent / "cache",
        "feedback_db": str(corpus.parent / "feedback.sqlite3"),
        "telegram_bot_token": TOKEN,
        "telegram_base_url": api.base_url,
        "telegram_base_file_url": api.base_url.replace("/bot", "/file/bot"),
        "admin_ids": frozenset({ADMIN}),
        "workers": 1,
        "answer_sentences": 2,
    }
    return load_settings(**(values | overrides))


@pytest.fixture
async def state(api: BotApi, corpus: Path) -> AsyncIterator[BotState]:
    async with running(make_settings(api, corpus)) as state:
        yield state


async def ask(api: BotApi, question: str, *, user_id: int = USER, chat_id: int | None = None, **extra: Any) -> Call:
    """Send a question and return the bot's last reply to it (the one under which the buttons are)."""
    chat = user_id if chat_id is None else chat_id
    before = len(api.sent(chat))
    api.message(question, user_id=user_id, chat_id=chat_id, **extra)
    await api.until(lambda: len(api.sent(chat)) > before)
    await asyncio.sleep(0.05)  # a long answer may come in several messages
    return api.sent(chat)[-1]


# ---- the keyboard ------------------------------------------------------------------------------


async def test_every_answer_has_source_more_and_vote_buttons(api: BotApi, state: BotState) -> None:
    reply = await ask(api, CAPITAL)
    assert "Fredville" in reply.params["text"]
    assert [t for t, _ in api.buttons(reply)] == ["📄 Source", "➕ More", "👍", "👎"]
    assert all(len(d.encode()) <= 64 for _, d in api.buttons(reply))


async def test_several_cited_documents_get_one_source_button_each(api: BotApi, tmp_path: Path) -> None:
    # Two documents that answer the question equally well, so the answer quotes both.
    files = {
        "spring.md": "The Marx river floods Fredville every spring.\n",
        "winter.md": "The Marx river freezes near Fredville in January.\n",
        "astronomy.txt": DOCUMENTS["astronomy.txt"],
    }
    root = tmp_path / "two"
    root.mkdir()
    for name, content in files.items():
        (root / name).write_text(content, encoding="utf-8")
    async with running(make_settings(api, root)):
        reply = await ask(api, RIVER_QUESTION)
    assert "[2]" in reply.params["text"]
    assert [t for t, _ in api.buttons(reply)][:2] == ["📄 Source 1", "📄 Source 2"]


async def test_not_found_has_no_buttons(api: BotApi, state: BotState) -> None:
    reply = await ask(api, NOT_FOUND)
    assert reply.params["text"].startswith(text("not_found")) and api.buttons(reply) == []


async def test_source_shows_the_quote_in_its_context_with_metadata(api: BotApi, state: BotState) -> None:
    reply = await ask(api, CAPITAL)
    toast = await press(api, reply, "Source")
    assert toast.params["text"] == text("source_sent")
    view = (await api.replies(USER, 2))[-1].params["text"]
    shown = parse_html(view)
    assert "<b>The capital of Freedonia is Fredville, on the river Marx.</b>" in view
    assert shown.startswith("Freedonia & its capital\nexample.org · 2025-06-01\nhttps://example.org/f\n\n")
    assert "famous for its cheese. The capital" in shown and "Rufus Firefly" in shown


async def test_votes_are_acknowledged_and_a_second_press_changes_the_vote(api: BotApi, state: BotState) -> None:
    reply = await ask(api, CAPITAL)
    assert (await press(api, reply, "👍")).params["text"] == text("voted_up")
    assert (await press(api, reply, "👎")).params["text"] == text("voted_down")
    await press(api, reply, "👍", user_id=OTHER)
    api.message("/feedback", user_id=ADMIN)
    [report] = await api.replies(ADMIN)
    lines = report.params["text"].splitlines()
    assert lines[0] == "Last 7 days: 👍 1 · 👎 1"
    assert lines[3].endswith(f'"{CAPITAL}" — Freedonia & its capital')


async def test_more_shows_further_passages_then_says_there_are_none(api: BotApi, state: BotState) -> None:
    first = await ask(api, RIVER_QUESTION)
    seen = [parse_html(first.params["text"])]
    reply = first
    for _ in range(6):
        toast = await press(api, reply, "More")
        if toast.params["text"] == text("nothing_more"):
            break
        assert toast.params["text"] == text("more_sent")
        await api.until(lambda shown=reply: api.sent(USER)[-1] is not shown)
        await asyncio.sleep(0.05)  # a long continuation may come in several messages
        reply = api.sent(USER)[-1]
        seen.append(parse_html(reply.params["text"]))
    else:
        pytest.fail("More never ran out")
    quotes = [line for page in seen for line in page.split("\n\n") if line.endswith("]")]
    assert len(quotes) == len(set(quotes)) >= 6, "a passage was shown twice"
    assert all("Marx river" in q or "Fredville" in q for q in quotes)
    # The button whose continuation ran out lost its ➕.
    edits = api.calls_to("editMessageReplyMarkup")
    assert edits and all("➕" not in json.dumps(e.params["reply_markup"], ensure_ascii=False) for e in edits)


async def test_forged_or_garbled_buttons_get_a_polite_answer(api: BotApi, state: BotState) -> None:
    reply = await ask(api, CAPITAL)
    genuine = data(api, reply, "👍")
    for forged in [
        "garbage",
        genuine.replace("u:", "d:"),
        "u:1." + "A" * 8,
        "s:0000000000:0:00000000.xxxxxxxx",
        "🙂" * 16,
    ]:
        update = api.press(reply.result, forged)
        [toast] = await api.until(lambda pressed=update: api.toasts(pressed))
        assert toast.params["text"] == text("bad_button") and toast.params.get("show_alert") is True
    assert not [c for c in api.sent(USER) if c.params["text"] == text("something_wrong")]


async def test_gaps_lists_not_found_questions_normalised(api: BotApi, state: BotState) -> None:
    for question in [NOT_FOUND, "which SUBMARINE won the   yachting regatta", "Where is Atlantis?"]:
        await ask(api, question)
    await ask(api, CAPITAL)
    api.message("/gaps", user_id=ADMIN)
    [report] = await api.replies(ADMIN)
    assert report.params["text"].splitlines()[1:] == [
        "2 × which submarine won the yachting regatta",
        "1 × where is atlantis",
    ]
    api.message("/gaps")
    denied = (await api.replies(USER, 5))[-1]
    assert denied.params["text"] == text("not_admin", command="gaps")


async def test_what_is_stored_is_the_question_and_a_hashed_user(api: BotApi, corpus: Path, state: BotState) -> None:
    reply = await ask(api, CAPITAL)
    await press(api, reply, "👍")
    dump = "\n".join(sqlite3.connect(state.settings.feedback_path()).iterdump())
    assert CAPITAL in dump and "freedonia.md" in dump
    assert str(USER) not in dump and "Fredville, on the river" not in dump


# ---- buttons after a reload and after a restart ------------------------------------------------------


async def test_buttons_after_reload_work_or_say_the_document_is_gone(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    capital = await ask(api, CAPITAL)
    river = await ask(api, RIVER_QUESTION)
    # An edit above the quoted sentence moves it; the document still opens at the same sentence.
    freedonia = corpus / "freedonia.md"
    freedonia.write_text(freedonia.read_text().replace("Freedonia is a small", "Welcome. Freedonia is a small"))
    (corpus / "river.md").unlink()
    api.message("/reload", user_id=ADMIN)
    await api.replies(ADMIN)
    before = len(api.sent(USER))
    assert (await press(api, capital, "Source")).params["text"] == text("source_sent")
    view = (await api.replies(USER, before + 1))[-1].params["text"]
    assert "<b>The capital of Freedonia is Fredville, on the river Marx.</b>" in view and "Welcome." in view
    gone = await press(api, river, "Source")
    assert gone.params["text"] == text("document_gone") and gone.params.get("show_alert") is True
    assert (await press(api, river, "👎")).params["text"] == text("voted_down")


async def test_buttons_survive_a_restart_with_the_same_database(api: BotApi, corpus: Path) -> None:
    settings = make_settings(api, corpus)
    async with running(settings):
        reply = await ask(api, RIVER_QUESTION)
        first = parse_html(reply.params["text"])
    async with running(settings):
        assert (await press(api, reply, "👍")).params["text"] == text("voted_up")
        assert (await press(api, reply, "More")).params["text"] == text("more_sent")
        more = parse_html((await api.replies(USER, 2))[-1].params["text"])
        assert (await press(api, reply, "Source")).params["text"] == text("source_sent")
    assert more != first and not set(more.split("\n\n")[:2]) & set(first.split("\n\n"))


async def test_without_a_database_answers_carry_source_buttons_only(api: BotApi, corpus: Path) -> None:
    async with running(make_settings(api, corpus, feedback_db="")):
        reply = await ask(api, CAPITAL)
        assert [t for t, _ in api.buttons(reply)] == ["📄 Source"]
        api.message("/feedback", user_id=ADMIN)
        [report] = await api.replies(ADMIN)
    assert report.params["text"] == text("feedback_disabled")
    assert not (corpus.parent / "feedback.sqlite3").exists()


# ---- groups and allowlists ---------------------------------------------------------------------------


async def test_group_members_press_buttons_under_the_same_allowlists(api: BotApi, corpus: Path) -> None:
    async with running(make_settings(api, corpus, allowed_chat_ids=frozenset({GROUP}))):
        reply = await ask(api, f"/ask {CAPITAL}", chat_id=GROUP)
        assert (await press(api, reply, "👍", user_id=OTHER)).params["text"] == text("voted_up")
        # The same message, seen from a chat that is not allowed (a forward, a forged update): refused.
        elsewhere = {**reply.result, "chat": api.chat(-777)}
        update = api.press(elsewhere, data(api, reply, "Source"), user_id=OTHER)
        [toast] = await api.until(lambda: api.toasts(update))
    assert toast.params["text"] == text("refusal") and toast.params.get("show_alert") is True


# ---- inline mode -------------------------------------------------------------------------------------


async def test_inline_query_answers_with_an_article_first(api: BotApi, state: BotState) -> None:
    call = await inline(api, CAPITAL)
    article = call.params["results"][0]
    assert article["type"] == "article"
    assert article["title"] == "The capital of Freedonia is Fredville, on the river Marx."
    assert article["description"].startswith("[1] Freedonia & its capital — example.org, 2025-06-01")
    content = article["input_message_content"]
    assert content["parse_mode"] == "HTML" and "[1]" in content["message_text"] and "Sources" in content["message_text"]
    assert call.params["cache_time"] == INLINE_CACHE_SECONDS and call.params["is_personal"] is True


async def test_inline_not_found_and_refused(api: BotApi, corpus: Path) -> None:
    async with running(make_settings(api, corpus, allowed_user_ids=frozenset({USER}))):
        missing = await inline(api, NOT_FOUND, language_code="ru")
        refused = await inline(api, CAPITAL, user_id=OTHER)
    assert missing.params["results"] == [] and missing.params["button"]["text"] == text("inline_not_found", "ru")
    assert refused.params["results"] == [] and refused.params["button"]["text"] == text("inline_refusal")


async def test_inline_queries_are_rate_limited(api: BotApi, corpus: Path) -> None:
    async with running(make_settings(api, corpus, user_rate_limit=2)):
        answers = [await inline(api, CAPITAL) for _ in range(3)]
    assert [bool(a.params["results"]) for a in answers] == [True, True, False]
    assert answers[2].params["button"]["text"] == text("inline_slow_down")


# ---- the user's language -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "kk"])
async def test_interface_speaks_russian_and_kazakh(api: BotApi, state: BotState, lang: str) -> None:
    api.message("/start", language_code=lang)
    [greeting] = await api.replies(USER)
    assert greeting.params["text"] == text(
        "greeting", lang, documents=len(DOCUMENTS), sentences=state.library.sentence_count, username=BOT_USERNAME
    )
    reply = await ask(api, CAPITAL, language_code=lang)
    assert f"<b>{text('sources', lang)}</b>\n[1]" in reply.params["text"]
    assert [t for t, _ in api.buttons(reply)] == [text("button_source", lang), text("button_more", lang), "👍", "👎"]
    assert (await press(api, reply, "👎", language_code=lang)).params["text"] == text("voted_down", lang)
    missing = await ask(api, NOT_FOUND, language_code=lang)
    assert missing.params["text"].startswith(text("not_found", lang))
    api.message("/gaps", language_code=lang)
    assert (await api.replies(USER, 4))[-1].params["text"] == text("not_admin", lang, command="gaps")
    api.message("/reload", user_id=ADMIN, language_code=lang)
    [report] = await api.replies(ADMIN, timeout=10)
    sizes = text("reload_done", lang, seconds=0.0, documents=len(DOCUMENTS), sentences=state.library.sentence_count)
    assert report.params["text"].endswith(sizes.split(". ", 1)[1])
    menu = api.localized_commands[('{"type": "default"}', lang)]
    assert {"command": "help", "description": text("command_help", lang)} in menu


# ---- webhook -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int, timeout: float = 30.0) -> bool:
    """Whether something accepts connections on 127.0.0.1:port within the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def post(url: str, update: dict[str, Any], secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, json.dumps(update).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def test_webhook_takes_updates_with_the_right_secret_only(api: BotApi, corpus: Path) -> None:
    port = free_port()
    settings = make_settings(
        api,
        corpus,
        webhook_url="https://bot.example.org/tg-hook",
        webhook_secret="right_secret-1",
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    local = f"http://127.0.0.1:{port}/tg-hook"
    async with running(settings):
        assert api.webhook["url"] == "https://bot.example.org/tg-hook"
        assert api.webhook["secret_token"] == "right_secret-1"
        statuses = []
        for secret, user in [(None, OTHER), ("wrong", OTHER), ("right_secret-1", USER)]:
            update = {
                "update_id": user,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": api.chat(user),
                    "from": api.user(user),
                    "text": CAPITAL,
                },
            }
            statuses.append(await asyncio.to_thread(post, local, update, secret))
        [reply] = await api.replies(USER)
        await asyncio.sleep(0.1)
    assert statuses == [403, 403, 200]
    assert "Fredville" in reply.params["text"] and api.sent(OTHER) == []
    assert not api.calls_to("getUpdates")


@pytest.mark.usefixtures("model_in_cache")
def test_citebot_run_serves_the_webhook_and_stops_on_sigterm(api: BotApi, corpus: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "CITEBOT_"))}
    env |= {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": api.base_url,
        "TELEGRAM_BASE_FILE_URL": api.base_url.replace("/bot", "/file/bot"),
        "CITEBOT_CORPUS_DIR": str(corpus),
        "CITEBOT_CACHE_DIR": str(corpus.parent / "cache"),
        "CITEBOT_WORKERS": "1",
        "CITEBOT_WEBHOOK_URL": "https://bot.example.org/hook/tg",
        "CITEBOT_WEBHOOK_SECRET": "s3cret",
        "CITEBOT_WEBHOOK_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=corpus.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        api.wait_for(lambda: api.webhook, timeout=30)
        assert listening(port), "the webhook server never listened"  # registered is not yet serving
        update = {
            "update_id": 1,
            "message": {"message_id": 1, "date": 0, "chat": api.chat(USER), "from": api.user(USER), "text": CAPITAL},
        }
        local = f"http://127.0.0.1:{port}/hook/tg"
        assert post(local, {**update, "update_id": 2}, "not-it") == 403
        assert post(local, update, "s3cret") == 200
        [reply] = api.wait_for(lambda: api.sent(USER), timeout=10)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert api.webhook["url"] == "https://bot.example.org/hook/tg" and api.webhook["secret_token"] == "s3cret"
    assert "Fredville" in reply.params["text"] and len(api.sent()) == 1
    assert not api.calls_to("getUpdates") and "s3cret" not in output and TOKEN not in output


async def test_inline_is_open_to_members_of_the_allowed_chats(api: BotApi, corpus: Path) -> None:
    api.member(GROUP, OTHER, "member")
    async with running(make_settings(api, corpus, allowed_chat_ids=frozenset({GROUP}))):
        member = await inline(api, CAPITAL, user_id=OTHER)
        stranger = await inline(api, CAPITAL, user_id=USER)
    assert member.params["results"] and member.params["results"][0]["title"].startswith("The capital of Freedonia")
    assert stranger.params["results"] == [] and stranger.params["button"]["text"] == text("inline_refusal")


async def test_declined_question_shows_the_closest_passage_with_its_source_button(api: BotApi, corpus: Path) -> None:
    # A bar no answer reaches: every question is declined, and one about the documents shows its closest passage.
    async with running(make_settings(api, corpus, min_confidence=1.0)):
        reply = await ask(api, CAPITAL)
        shown = parse_html(reply.params["text"])
        assert shown.startswith(text("closest"))
        assert "The capital of Freedonia is Fredville, on the river Marx. [1]" in shown
        assert "[1] Freedonia & its capital" in shown
        assert [t for t, _ in api.buttons(reply)] == ["📄 Source"]
        toast = await press(api, reply, "Source")
        assert toast.params["text"] == text("source_sent")
        view = (await api.replies(USER, 2))[-1].params["text"]
        assert "<b>The capital of Freedonia is Fredville, on the river Marx.</b>" in view
        off_topic = await ask(api, NOT_FOUND)
        assert parse_html(off_topic.params["text"]).startswith(text("not_found"))
        assert api.buttons(off_topic) == []
