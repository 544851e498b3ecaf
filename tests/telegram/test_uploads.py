"""Admins add documents by sending them to the bot, and take them out with /remove: end to end, through the stand-in."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.chat import loading as serving
from bot.chat.messages import text
from bot.chat.uploads import FOLDER
from bot.ingest.corpus import CorpusError
from bot.telegram.state import BotState
from tests import documents as make
from tests.botapi import BotApi
from tests.telegram_setup import ADMIN, GROUP, USER, make_settings, running, write_corpus

CORPUS = {"freedonia.md": "# Freedonia\n\nThe capital of Freedonia is Fredville, on the river Marx.\n"}
REPORT = make.pdf(
    [
        "Annual report of the Zorbak water authority. The authority looks after three reservoirs.",
        "The Zorbak dam on the river Quill holds forty million cubic metres of water.",
        "The authority plans a fish ladder beside the dam for the spring of 2027.",
    ]
)
QUESTION = "How much water does the Zorbak dam hold?"
PDF = "application/pdf"
MB = 2**20


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", CORPUS)


@pytest.fixture
async def state(api: BotApi, corpus: Path) -> AsyncIterator[BotState]:
    async with running(make_settings(api, corpus)) as state:
        yield state


def saved(corpus: Path) -> list[str]:
    """The files under the corpus's uploads folder."""
    return sorted(p.name for p in (corpus / FOLDER).iterdir()) if (corpus / FOLDER).exists() else []


async def test_an_admin_uploads_a_pdf_and_its_pages_are_cited(api: BotApi, state: BotState, corpus: Path) -> None:
    api.document(REPORT, "Zorbak report.pdf", mime_type=PDF, user_id=ADMIN)
    [reply] = await api.replies(ADMIN, timeout=30)
    assert (corpus / FOLDER / "Zorbak report.pdf").read_bytes() == REPORT
    [entry] = [e for e in state.library.entries if e.document.path == f"{FOLDER}/Zorbak report.pdf"]
    assert reply.params["text"] == text(
        "upload_added",
        path=f"{FOLDER}/Zorbak report.pdf",
        title=entry.document.title,
        sentences=len(entry.sentences),
        pages=", pages: 3",
        documents=2,
        total=state.library.sentence_count,
    )
    assert "Title: Annual report of the Zorbak water authority" in reply.params["text"]
    assert len(api.calls_to("getFile")) == 1 and len(api.downloads) == 1
    api.message(QUESTION)
    [answer] = await api.replies(USER)
    assert "forty million cubic metres" in answer.params["text"]
    assert "p. 2" in answer.params["text"]


async def test_a_non_admin_upload_changes_nothing(api: BotApi, state: BotState, corpus: Path) -> None:
    library = state.library
    api.document(REPORT, "Zorbak report.pdf", mime_type=PDF, user_id=USER)
    [reply] = await api.replies(USER)
    assert reply.params["text"] == text("upload_not_admin")
    assert api.calls_to("getFile", ok_only=False) == [] and api.downloads == []
    assert saved(corpus) == [] and state.library is library
    api.message(QUESTION)
    [_, answer] = await api.replies(USER, 2)
    assert answer.params["text"].startswith(text("not_found"))


async def test_a_document_in_a_group_is_ignored(api: BotApi, state: BotState, corpus: Path) -> None:
    api.document(REPORT, "Zorbak report.pdf", mime_type=PDF, user_id=ADMIN, chat_id=GROUP)
    api.message("/help", user_id=ADMIN)  # answered after the document was handled
    await api.replies(ADMIN)
    assert api.sent(GROUP) == [] and api.calls_to("getFile", ok_only=False) == []
    assert saved(corpus) == []


@pytest.mark.parametrize(
    ("limit_mb", "size", "reasons"),
    [
        (20, 25 * MB, ["the file is 25.0 MB; the limit is 20 MB", text("upload_download_limit")]),
        (50, 25 * MB, [text("upload_download_limit")]),
        (5, 6 * MB, ["the file is 6.0 MB; the limit is 5 MB"]),
    ],
)
async def test_an_oversize_file_is_refused_without_a_download(
    api: BotApi, corpus: Path, limit_mb: float, size: int, reasons: list[str]
) -> None:
    async with running(make_settings(api, corpus, max_upload_mb=limit_mb)) as state:
        library = state.library
        api.document(b"%PDF-1.4 only the start", "huge.pdf", mime_type=PDF, file_size=size, user_id=ADMIN)
        [reply] = await api.replies(ADMIN)
    assert reply.params["text"] == text("upload_not_added", name="huge.pdf", reason="\n\n".join(reasons))
    assert api.calls_to("getFile", ok_only=False) == [] and api.downloads == []
    assert saved(corpus) == [] and state.library is library


async def test_a_file_too_big_to_download_is_explained_when_the_message_did_not_say_its_size(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    api.document(b"x" * (20 * MB + 1), "huge.txt", file_size=-1, user_id=ADMIN)
    [reply] = await api.replies(ADMIN)
    assert reply.params["text"] == text("upload_not_added", name="huge.txt", reason=text("upload_download_limit"))
    assert api.downloads == [] and saved(corpus) == []


async def test_a_file_without_a_name_is_named_after_its_type(api: BotApi, state: BotState, corpus: Path) -> None:
    api.document(REPORT, None, mime_type=PDF, user_id=ADMIN)
    [reply] = await api.replies(ADMIN, timeout=30)
    assert reply.params["text"].startswith(f"Added {FOLDER}/document.pdf.")
    assert saved(corpus) == ["document.pdf"]


async def test_a_corpus_that_cannot_be_written_is_a_clear_refusal(api: BotApi, state: BotState, corpus: Path) -> None:
    (corpus / FOLDER).write_text("a file where the uploads folder should be")
    api.document(b"# Ferries\n\nThe ferry to Quill island leaves at noon.\n", "ferries.md", user_id=ADMIN)
    [reply] = await api.replies(ADMIN, timeout=30)
    assert reply.params["text"].startswith("ferries.md was not added: I couldn't save it in the documents folder (")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("tool.exe", b"MZ\x90\x00", "I can't read this kind of file. I read "),
        ("page.pdf", b"<html><body>Not a PDF at all</body></html>", "I couldn't read it: not a PDF"),
        ("scan.pdf", make.scanned_pdf(), "I couldn't read it: no text layer (scanned?)"),
        ("dots.txt", b"... --- ...", "I found no sentences in it"),
    ],
)
async def test_a_file_that_cannot_be_read_is_refused_with_the_reason(
    api: BotApi, state: BotState, corpus: Path, name: str, data: bytes, reason: str
) -> None:
    library = state.library
    api.document(data, name, user_id=ADMIN)
    [reply] = await api.replies(ADMIN, timeout=30)
    assert reply.params["text"].startswith(f"{name} was not added: {reason}")
    assert saved(corpus) == [] and state.library is library


async def test_an_existing_name_is_not_overwritten(api: BotApi, state: BotState, corpus: Path) -> None:
    first = b"# Ferries\n\nThe ferry to Quill island leaves at noon.\n"
    second = b"# Ferries\n\nThe night ferry to Quill island leaves at midnight.\n"
    api.document(first, "ferries.md", user_id=ADMIN)
    await api.replies(ADMIN, 1, timeout=30)
    api.document(second, "ferries.md", user_id=ADMIN)
    replies = await api.replies(ADMIN, 2, timeout=30)
    assert replies[1].params["text"].startswith(f"Added {FOLDER}/ferries (2).md.")
    assert (corpus / FOLDER / "ferries.md").read_bytes() == first
    assert (corpus / FOLDER / "ferries (2).md").read_bytes() == second
    assert {f"{FOLDER}/ferries.md", f"{FOLDER}/ferries (2).md"} <= {d.path for d in state.library.documents}
    api.document(first, "ferries.md", user_id=ADMIN)
    replies = await api.replies(ADMIN, 3, timeout=30)
    assert replies[2].params["text"] == text(
        "upload_not_added", name="ferries.md", reason=f"this file is already in the documents, as {FOLDER}/ferries.md"
    )
    assert saved(corpus) == ["ferries (2).md", "ferries.md"]


async def test_remove_deletes_the_upload_and_its_answers_are_gone(api: BotApi, state: BotState, corpus: Path) -> None:
    api.document(REPORT, "Zorbak report.pdf", mime_type=PDF, user_id=ADMIN)
    await api.replies(ADMIN, 1, timeout=30)
    api.message("/remove", user_id=ADMIN)
    listing = (await api.replies(ADMIN, 2))[1]
    assert listing.params["text"] == text("remove_list", names="- Zorbak report.pdf")
    api.message("/remove Zorbak report.pdf", user_id=ADMIN)
    removed = (await api.replies(ADMIN, 3, timeout=30))[2]
    assert removed.params["text"] == text(
        "remove_done", path=f"{FOLDER}/Zorbak report.pdf", documents=1, sentences=state.library.sentence_count
    )
    assert saved(corpus) == [] and [d.path for d in state.library.documents] == ["freedonia.md"]
    api.message(QUESTION)
    [answer] = await api.replies(USER)
    assert answer.params["text"].startswith(text("not_found"))
    api.message("/remove", user_id=ADMIN)
    assert (await api.replies(ADMIN, 4))[3].params["text"] == text("remove_none")


@pytest.mark.parametrize(("user_id", "name"), [(ADMIN, "freedonia.md"), (ADMIN, "../freedonia.md"), (USER, "x.pdf")])
async def test_remove_touches_only_uploads_and_only_for_admins(
    api: BotApi, state: BotState, corpus: Path, user_id: int, name: str
) -> None:
    library = state.library
    api.message(f"/remove {name}", user_id=user_id)
    [reply] = await api.replies(user_id)
    expected = (
        text("remove_failed", reason=f"there is no uploaded document called {name}")  # the name as given
        if user_id == ADMIN
        else text("not_admin", command="remove")
    )
    assert reply.params["text"] == expected
    assert (corpus / "freedonia.md").exists() and state.library is library


async def test_replies_in_russian_for_a_russian_admin(api: BotApi, state: BotState, corpus: Path) -> None:
    api.document(REPORT, "Отчёт.pdf", mime_type=PDF, user_id=ADMIN, language_code="ru")
    [added] = await api.replies(ADMIN, timeout=30)
    assert added.params["text"].startswith(f"Добавлен файл {FOLDER}/Отчёт.pdf.\nНазвание: ")
    assert ", страниц: 3." in added.params["text"]
    api.document(b"MZ\x90\x00", "tool.exe", user_id=ADMIN, language_code="ru")
    refused = (await api.replies(ADMIN, 2))[1]
    assert refused.params["text"].startswith("Файл tool.exe не добавлен: я не умею читать такие файлы.")
    api.document(b"x", "huge.pdf", file_size=30 * MB, user_id=ADMIN, language_code="ru")
    oversize = (await api.replies(ADMIN, 3))[2]
    assert "файл весит 30.0 МБ, а предел — 20 МБ" in oversize.params["text"]
    assert "Telegram позволяет ботам скачивать файлы размером не больше 20 МБ" in oversize.params["text"]
    api.message("/remove Отчёт.pdf", user_id=ADMIN, language_code="ru")
    removed = (await api.replies(ADMIN, 4, timeout=30))[3]
    assert removed.params["text"].startswith(f"Удалён файл {FOLDER}/Отчёт.pdf. Документов: 1,")
    api.document(REPORT, "report.pdf", mime_type=PDF, user_id=USER, language_code="ru")
    [polite] = await api.replies(USER)
    assert polite.params["text"] == text("upload_not_admin", "ru")


async def test_help_tells_admins_how_to_add_documents(api: BotApi, state: BotState) -> None:
    api.message("/help", user_id=ADMIN)
    api.message("/help", user_id=USER)
    [admin] = await api.replies(ADMIN)
    [user] = await api.replies(USER)
    assert "/remove - " in admin.params["text"] and text("help_upload", limit=20) in admin.params["text"]
    assert "/remove" not in user.params["text"]


async def test_a_failed_reload_after_an_upload_keeps_the_old_documents(
    api: BotApi, state: BotState, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = state.library

    def broken(*args: object, **options: object) -> None:
        raise CorpusError("the disk went away")

    monkeypatch.setattr(serving, "load_library", broken)  # what load_for calls
    api.document(b"# Ferries\n\nThe ferry to Quill island leaves at noon.\n", "ferries.md", user_id=ADMIN)
    [reply] = await api.replies(ADMIN, timeout=30)
    assert reply.params["text"] == f"Saved as {FOLDER}/ferries.md.\n" + text(
        "reload_failed", error="the disk went away", documents=1, sentences=library.sentence_count
    )
    assert state.library is library and saved(corpus) == ["ferries.md"]


async def test_removing_the_last_document_keeps_the_old_index_and_says_why(
    api: BotApi, state: BotState, corpus: Path
) -> None:
    api.document(b"# Ferries\n\nThe ferry to Quill island leaves at noon.\n", "ferries.md", user_id=ADMIN)
    await api.replies(ADMIN, 1, timeout=30)
    library = state.library
    (corpus / "freedonia.md").unlink()
    api.message("/remove ferries.md", user_id=ADMIN)
    reply = (await api.replies(ADMIN, 2, timeout=30))[1]
    assert reply.params["text"].startswith(f"Removed {FOLDER}/ferries.md.\nReload failed: ")
    assert "still answering from the previous documents" in reply.params["text"]
    assert state.library is library and saved(corpus) == []


async def test_a_download_larger_than_telegram_said_stops_at_the_limit(api: BotApi, corpus: Path) -> None:
    served = b"The ferry leaves at noon.\n" * (12 * MB // 26)  # 12 MB, though the message says 1 KB
    async with running(make_settings(api, corpus, max_upload_mb=1)) as state:
        library = state.library
        tracemalloc.start()
        try:
            api.document(served, "ferries.txt", file_size=1000, user_id=ADMIN)
            [reply] = await api.replies(ADMIN, timeout=20)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    reason = text("upload_refused_over", limit=1)
    assert reply.params["text"] == text("upload_not_added", name="ferries.txt", reason=reason)
    assert peak < 6 * MB, "the download was read past the limit"
    assert saved(corpus) == [] and state.library is library
