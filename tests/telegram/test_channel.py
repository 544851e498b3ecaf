"""A Telegram channel as a source, end to end through the stand-in: posts, edits, albums, files, forwards, /forget."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.chat.messages import text
from bot.ingest.sources.telegram_posts import read_meta
from bot.telegram.state import BotState
from tests import documents as make
from tests.botapi import BotApi
from tests.telegram_setup import ADMIN, USER, make_settings, running, write_corpus

CORPUS = {"freedonia.md": "# Freedonia\n\nThe capital of Freedonia is Fredville, on the river Marx.\n"}
PRESS = -1001234567890
PRIVATE = -1009876543210
POST = "The ministry opened a new bridge in Zorbak on Monday. The bridge over the river Quill is 300 metres long."
QUESTION = "How many metres long is the bridge over the river Quill?"
MB = 2**20


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", CORPUS)


@pytest.fixture
async def state(api: BotApi, corpus: Path) -> AsyncIterator[BotState]:
    settings = make_settings(api, corpus, channels=f"@press_kz,{PRIVATE}", allowed_user_ids=frozenset({USER}))
    async with running(settings) as state:
        yield state


def paths(state: BotState) -> set[str]:
    return {d.path for d in state.library.documents}


async def posted(
    api: BotApi,
    state: BotState,
    chat: dict[str, Any],
    text: str | None = None,
    folder: str = "press_kz",
    timeout: float = 10,
    **post: Any,
) -> int:
    """Post to a channel and wait until the library holds the post's file; the post's message id."""
    number: int = api.channel_post(chat, text, **post)["channel_post"]["message_id"]
    await api.until(lambda: f"channels/{folder}/{number}.md" in paths(state), timeout=timeout)
    return number


async def ask(api: BotApi, question: str, count: int) -> str:
    api.message(question)
    replies = await api.replies(USER, count, timeout=10)
    return re.sub(r"<(?!a )[^>]+>", "", replies[-1].params["text"])  # the words, without the highlighting


async def test_a_post_is_answered_within_seconds_and_cited_by_its_link(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    post = api.channel_post(press, POST)["channel_post"]
    number = post["message_id"]
    await api.until(lambda: f"channels/press_kz/{number}.md" in paths(state), timeout=10)
    meta = read_meta((corpus / f"channels/press_kz/{number}.md").read_bytes())
    assert meta["url"] == f"https://t.me/press_kz/{number}"
    assert meta["source"] == "Press Office"
    assert meta["title"] == "The ministry opened a new bridge in Zorbak on Monday"
    assert meta["language"] == "en"
    answer = await ask(api, QUESTION, 1)
    assert "300 metres" in answer
    assert f'href="https://t.me/press_kz/{number}"' in answer
    assert api.sent(PRESS) == []  # nothing is said in the channel


async def test_a_post_is_answered_from_the_appended_library_and_again_after_its_merge(
    api: BotApi, state: BotState, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.telegram import reloads

    monkeypatch.setattr(reloads, "MERGE_DRIFT", 1.0)  # one post in this tiny corpus would be merged at once
    press = api.channel(PRESS, "press_kz", "Press Office")
    number = await posted(api, state, press, POST)
    assert state.library.delta_documents == 1  # appended: the merge waits for a quiet spell
    link = f'href="https://t.me/press_kz/{number}"'
    answer = await ask(api, QUESTION, 1)
    assert "300 metres" in answer and link in answer
    reloads.schedule_merge(state, 0.0)
    await api.until(lambda: state.library.delta_documents == 0, timeout=10)
    assert paths(state) == {"freedonia.md", f"channels/press_kz/{number}.md"}
    answer = await ask(api, QUESTION, 2)
    assert "300 metres" in answer and link in answer


async def test_a_private_channel_is_cited_by_its_internal_id(api: BotApi, state: BotState) -> None:
    secret = api.channel(PRIVATE, None, "Internal notes")
    number = await posted(api, state, secret, POST, folder="c-9876543210")
    assert f"https://t.me/c/9876543210/{number}" in await ask(api, QUESTION, 1)


async def test_an_edit_replaces_the_post_and_the_old_text_is_never_quoted(api: BotApi, state: BotState) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    number = await posted(api, state, press, POST)
    api.channel_post(press, POST.replace("300 metres", "450 metres"), message_id=number, edited=True)
    await api.until(lambda: any("450" in " ".join(e.sentences) for e in state.library.entries), timeout=10)
    answer = await ask(api, QUESTION, 1)
    assert "450 metres" in answer and "300 metres" not in answer
    assert not any("300 metres" in " ".join(e.sentences) for e in state.library.entries)


async def test_posts_of_an_unlisted_channel_are_ignored_and_logged_once(
    api: BotApi, state: BotState, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.telegram.channel")
    other = api.channel(-1005555555555, "someone_else", "Someone else")
    api.channel_post(other, POST)
    api.channel_post(other, POST + " Again.")
    await api.until(lambda: api.pending() == 0)
    press = api.channel(PRESS, "press_kz", "Press Office")
    await posted(api, state, press, "A marker post about the Zorbak ferry timetable.")
    assert not (corpus / "channels/someone_else").exists()
    assert sum("-1005555555555" in r.getMessage() and "Ignoring" in r.getMessage() for r in caplog.records) == 1


async def test_an_album_is_one_document(api: BotApi, state: BotState, corpus: Path) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}]
    first = api.channel_post(press, caption="Photos of the Zorbak bridge opening.", media_group_id="77", photo=photo)
    api.channel_post(press, caption="The mayor cut a ribbon of blue silk.", media_group_id="77", photo=photo)
    api.channel_post(press, media_group_id="77", photo=photo)
    number = first["channel_post"]["message_id"]
    await api.until(lambda: f"channels/press_kz/{number}.md" in paths(state), timeout=10)
    assert sorted(p.name for p in (corpus / "channels/press_kz").iterdir()) == [f"{number}.md"]
    answer = await ask(api, "What colour was the silk ribbon the mayor cut?", 1)
    assert "blue silk" in answer and f"https://t.me/press_kz/{number}" in answer


@pytest.mark.parametrize(
    "post", [{"text": "🎉" * 4096}, {"caption": "", "photo": True}, {"sticker": True}, {"poll": True}]
)
async def test_posts_without_words_make_no_document_and_break_nothing(
    api: BotApi, state: BotState, corpus: Path, post: dict[str, object]
) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    extra: dict[str, object] = {}
    if "photo" in post:
        extra["photo"] = [{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}]
    if "sticker" in post:
        extra["sticker"] = {
            "file_id": "s",
            "file_unique_id": "s",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
    if "poll" in post:
        extra["poll"] = {
            "id": "1",
            "question": "Which bridge?",
            "options": [{"text": "A", "voter_count": 0, "persistent_id": "a"}],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
    api.channel_post(press, post.get("text"), caption=post.get("caption"), **extra)
    number = await posted(api, state, press, POST)
    assert sorted(p.name for p in (corpus / "channels/press_kz").iterdir()) == [f"{number}.md"]
    assert "300 metres" in await ask(api, QUESTION, 1)


async def test_a_pdf_in_a_post_is_a_document_with_the_posts_metadata(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    report = make.pdf(
        ["Annual report of the Zorbak water authority.", "The Zorbak dam holds forty million cubic metres."]
    )
    number = api.channel_post(press, caption="Our annual report.", document=api.file(report, "report.pdf"))[
        "channel_post"
    ]["message_id"]
    pdf = f"channels/press_kz/{number}-report.pdf"
    await api.until(lambda: pdf in paths(state), timeout=20)
    assert (corpus / pdf).read_bytes() == report
    [entry] = [e for e in state.library.entries if e.document.path == pdf]
    assert entry.document.url == f"https://t.me/press_kz/{number}" and entry.document.source == "Press Office"
    reply = await ask(api, "How much water does the Zorbak dam hold?", 1)
    # Answered, or shown as the closest passage with its citation: either way the post's sentence is read.
    assert "forty million" in reply and f"t.me/press_kz/{number}" in reply


async def test_a_file_over_20_mb_is_refused_by_its_size_and_never_downloaded(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    big = api.file(b"%PDF-1.4 small", "huge.pdf", file_size=21 * MB)
    number = await posted(api, state, press, caption=POST, document=big)
    assert api.calls_to("getFile") == [] and api.downloads == []
    assert not (corpus / f"channels/press_kz/{number}-huge.pdf").exists()
    [notice] = await api.replies(ADMIN)
    assert "huge.pdf" in notice.params["text"] and "20 MB" in notice.params["text"]


async def test_a_hostile_pdf_is_skipped_with_a_reason_and_the_post_stays(api: BotApi, state: BotState) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    hostile = b"%PDF-1.7\n" + b"1 0 obj << /Length 99999999 >> stream\n" + b"\x00" * 4096
    await posted(api, state, press, caption=POST, document=api.file(hostile, "bad.pdf"), timeout=20)
    await api.until(lambda: any(s.path.endswith("bad.pdf") for s in state.library.skipped), timeout=20)
    assert "300 metres" in await ask(api, QUESTION, 1)


async def test_a_renamed_channel_new_posts_cite_the_new_name_old_links_keep_working(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    old = await posted(api, state, press, POST)
    renamed = api.channel(PRESS, "press_qaz", "Press Office")  # CITEBOT_CHANNELS still says @press_kz
    new = await posted(api, state, renamed, "The Zorbak ferry now sails every hour.", folder="press_qaz")
    assert read_meta((corpus / f"channels/press_qaz/{new}.md").read_bytes())["url"] == f"https://t.me/press_qaz/{new}"
    # An edit of an old post stays where it was, under the link it was first cited by.
    api.channel_post(renamed, POST + " It was built in two years.", message_id=old, edited=True)
    await api.until(lambda: "two years" in (corpus / f"channels/press_kz/{old}.md").read_text(encoding="utf-8"))
    assert read_meta((corpus / f"channels/press_kz/{old}.md").read_bytes())["url"] == f"https://t.me/press_kz/{old}"
    # /forget takes either name.
    api.message(f"/forget https://t.me/press_qaz/{old}", user_id=ADMIN)
    await api.replies(ADMIN)
    assert not (corpus / f"channels/press_kz/{old}.md").exists()


async def test_forget_by_link_removes_the_post_and_it_is_never_quoted_again(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    number = await posted(api, state, press, POST)
    api.message(f"/forget https://t.me/press_kz/{number}", user_id=ADMIN)
    [reply] = await api.replies(ADMIN)
    assert reply.params["text"] == text(
        "forget_removed", link=f"https://t.me/press_kz/{number}", paths=f"channels/press_kz/{number}.md"
    )
    assert f"channels/press_kz/{number}.md" not in paths(state)
    assert "300 metres" not in await ask(api, QUESTION, 1)


async def test_forget_in_reply_to_a_forwarded_copy_and_by_a_stranger(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    number = await posted(api, state, press, POST)
    api.message("/forget", user_id=USER)
    [refused] = await api.replies(USER)
    assert refused.params["text"] == text("not_admin", command="forget")
    copy = api.forward(press, number, POST, user_id=ADMIN)["message"]
    await api.replies(ADMIN)  # the forward itself: already in the corpus, nothing new
    api.message("/forget", user_id=ADMIN, reply_to=copy)
    await api.replies(ADMIN, 2)
    await api.until(lambda: f"channels/press_kz/{number}.md" not in paths(state), timeout=10)
    assert not (corpus / f"channels/press_kz/{number}.md").exists()
    api.message("/forget", user_id=ADMIN)
    replies = await api.replies(ADMIN, 3)
    assert replies[-1].params["text"] == text("forget_usage")


async def test_an_admin_forwards_a_post_of_any_channel_and_it_is_cited_by_the_original(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    news = api.channel(-1003333333333, "zorbak_news", "Zorbak News")
    api.forward(news, 512, POST, user_id=ADMIN)
    [reply] = await api.replies(ADMIN)
    assert reply.params["text"] == text(
        "forward_added", link="https://t.me/zorbak_news/512", path="channels/zorbak_news/512.md"
    )
    await api.until(lambda: "channels/zorbak_news/512.md" in paths(state), timeout=10)
    assert "https://t.me/zorbak_news/512" in await ask(api, QUESTION, 1)
    api.forward(news, 513, "Not an admin's.", user_id=USER)
    await api.replies(USER, 2)
    assert not (corpus / "channels/zorbak_news/513.md").exists()


async def test_the_bot_added_or_removed_is_logged_and_admins_of_a_listed_channel_told(
    api: BotApi, state: BotState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.telegram.channel")
    press = api.channel(PRESS, "press_kz", "Press Office")
    api.my_chat_member(press, "left", "administrator", user_id=ADMIN)
    joined = (await api.replies(ADMIN))[0]
    assert joined.params["text"] == text("channel_joined", title="Press Office", chat_id=PRESS, status="administrator")
    api.my_chat_member(press, "administrator", "left", user_id=ADMIN)
    left = await api.replies(ADMIN, 2)
    assert left[-1].params["text"] == text("channel_left", title="Press Office", chat_id=PRESS, status="left")
    other = api.channel(-1005555555555, "someone_else", "Someone else")
    api.my_chat_member(other, "left", "administrator", user_id=USER)
    await api.until(lambda: api.pending() == 0)
    await api.until(lambda: any("-1005555555555" in r.getMessage() for r in caplog.records))
    assert len(api.sent(ADMIN)) == 2


async def test_posts_arriving_during_a_reload_are_all_searchable(api: BotApi, state: BotState) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    numbers = [
        api.channel_post(press, f"Zorbak bulletin {n}: the ferry number {n} sails at {n} o'clock.")["channel_post"][
            "message_id"
        ]
        for n in range(12)
    ]
    await api.until(lambda: all(f"channels/press_kz/{n}.md" in paths(state) for n in numbers), timeout=20)


async def test_the_source_button_shows_the_post_in_context_with_its_link(api: BotApi, state: BotState) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    number = await posted(api, state, press, POST)
    api.message(QUESTION)
    [reply] = await api.replies(USER, timeout=10)
    [source] = [d for t, d in api.buttons(reply) if "📄" in t][:1]
    update = api.press(reply.result, source)
    await api.until(lambda: api.toasts(update))
    shown = (await api.replies(USER, 2))[-1].params["text"]
    assert "The ministry opened a new bridge in Zorbak on Monday" in shown  # the neighbouring sentence
    assert f'href="https://t.me/press_kz/{number}"' in shown and "Press Office" in shown


async def test_stats_counts_the_documents_of_each_channel(api: BotApi, state: BotState) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    secret = api.channel(PRIVATE, None, "Internal notes")
    for chat in (press, press, secret):
        api.channel_post(chat, POST)
    await api.until(lambda: len([p for p in paths(state) if p.startswith("channels/")]) == 3, timeout=10)
    api.message("/stats", user_id=ADMIN)
    [reply] = await api.replies(ADMIN)
    assert reply.params["text"].endswith(text("stats_channels", channels="press_kz 2, c-9876543210 1"))


async def test_a_refresh_naming_its_files_writes_the_snapshot_at_most_every_few_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.config import load_settings
    from bot.telegram import reloads

    calls: list[dict[str, object]] = []

    def fake_load(settings: object, previous: object, **extra: object) -> object:
        calls.append(extra)
        return previous

    monkeypatch.setattr(reloads, "load_for", fake_load)
    library = type("Library", (), {"documents": (), "sentence_count": 0, "delta_documents": 0})()
    state = BotState(settings=load_settings(_env_file=None, corpus_dir=tmp_path), library=library)  # type: ignore[arg-type]
    await reloads.reload_library(state, {"channels/press_kz/1.md"})
    await reloads.reload_library(state, {"channels/press_kz/2.md"})
    await reloads.reload_library(state)
    assert [call.get("snapshot") for call in calls] == [True, False, None]  # None: a full reload's default, written
    assert calls[1]["changed"] == {"channels/press_kz/2.md"}
    state.snapshot_at -= reloads.SNAPSHOT_EVERY
    await reloads.reload_library(state, {"channels/press_kz/3.md"})
    assert calls[-1]["snapshot"] is True


async def test_an_edited_caption_in_an_album_replaces_only_its_part(api: BotApi, state: BotState, corpus: Path) -> None:
    press = api.channel(PRESS, "press_kz", "Press Office")
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 10, "height": 10}]
    first = api.channel_post(press, caption="Photos of the Zorbak bridge opening.", media_group_id="78", photo=photo)
    second = api.channel_post(press, caption="The mayor cut a ribbon of blue silk.", media_group_id="78", photo=photo)
    number = first["channel_post"]["message_id"]
    file = corpus / f"channels/press_kz/{number}.md"
    await api.until(lambda: f"channels/press_kz/{number}.md" in paths(state), timeout=10)
    api.channel_post(
        press,
        caption="The mayor cut a ribbon of red velvet.",
        media_group_id="78",
        photo=photo,
        message_id=second["channel_post"]["message_id"],
        edited=True,
    )
    await api.until(lambda: "red velvet" in file.read_text(encoding="utf-8"), timeout=10)
    body = file.read_text(encoding="utf-8")
    assert "Photos of the Zorbak bridge opening." in body and "blue silk" not in body
    await api.until(lambda: any("velvet" in " ".join(e.sentences) for e in state.library.entries), timeout=10)
