"""End to end: a document whose file name is not UTF-8 (cp1251 from an old Windows zip) is cited, voted on and
answered inline like any other."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.chat.messages import text
from tests.botapi import BotApi, Call, serve
from tests.telegram_setup import ADMIN, TOKEN, USER, inline, make_settings, press, running

# "Отчёт о работе.txt" as a Windows zip stores it: cp1251 bytes, which are not UTF-8.
CP1251_NAME = "Отчёт о работе.txt".encode("cp1251")
REPORT = "The reactor hall of Fredville was inspected in March. The turbine hall was repainted in April.\n"
QUESTION = "When was the reactor hall inspected?"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), CP1251_NAME), "wb") as handle:
        handle.write(REPORT.encode("utf-8"))
    (root / "astronomy.txt").write_text("The moon Kerbin orbits the gas giant Jool every forty days.\n")
    return root


@pytest.fixture
def api() -> Iterator[BotApi]:
    with serve(TOKEN) as api:
        yield api


async def test_answer_citing_a_non_utf8_file_name_is_delivered_voted_on_and_answered_inline(
    api: BotApi, corpus: Path
) -> None:
    settings = make_settings(api, corpus, feedback_db=str(corpus.parent / "feedback.sqlite3"), answer_sentences=2)
    async with running(settings):
        api.message(QUESTION)
        [reply] = await api.replies(USER)
        await asyncio.sleep(0.05)
        assert "inspected in March" in reply.params["text"], reply.params["text"]
        assert (await press(api, reply, "👍")).params["text"] == text("voted_up")
        call: Call = await inline(api, QUESTION)
    [article] = call.params["results"]
    assert "inspected in March" in article["input_message_content"]["message_text"]
    with sqlite3.connect(settings.feedback_db) as db:
        [(document,)] = db.execute("SELECT document FROM shown").fetchall()[:1]
        assert db.execute("SELECT up FROM votes").fetchall() == [(1,)]
    # The stored name is the file's own bytes, so it names the same file again.
    stored = document if isinstance(document, bytes) else os.fsencode(document)
    assert stored == CP1251_NAME


async def test_reload_report_names_a_skipped_non_utf8_file(api: BotApi, corpus: Path) -> None:
    with open(os.path.join(os.fsencode(corpus), "Пустой.txt".encode("cp1251")), "wb") as handle:
        handle.write(b"\x00\x01binary")
    async with running(
        make_settings(api, corpus, feedback_db=str(corpus.parent / "feedback.sqlite3"), answer_sentences=2)
    ):
        api.message("/reload", user_id=ADMIN)
        [reply] = await api.replies(ADMIN, timeout=20)
    report = reply.params["text"]
    assert "binary file" in report and "\\xcf" in report  # the byte 'П' is in cp1251, shown escaped
