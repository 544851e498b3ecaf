"""Button references: signed callback data within 64 bytes, and sentences found again after changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.chat import refs
from bot.chat.refs import (
    CALLBACK_LIMIT,
    DocumentGone,
    More,
    SentenceGone,
    Source,
    Vote,
    document_key,
    locate,
    pack,
    signing_key,
    source_button,
    unpack,
)
from bot.index.library import Library
from bot.index.loader import load_library
from tests.helpers import MINI_CORPUS, write_files

KEY = signing_key("123456:secret-token")
PRESSES = [
    Source("0123456789", 0, "abcdef01"),
    Source(document_key("a/very/long/" * 40 + "path.md"), 9_999_999, "ffffffff"),
    More(1),
    More(10**15 - 1),
    Vote(42, up=True),
    Vote(10**15 - 1, up=False),
]


@pytest.mark.parametrize("press", PRESSES)
def test_pack_round_trips_within_telegrams_64_bytes(press: Source | More | Vote) -> None:
    data = pack(press, KEY)
    assert len(data.encode()) <= CALLBACK_LIMIT
    assert unpack(data, KEY) == press


GOOD = pack(Vote(42, up=True), KEY)


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "u:42",
        GOOD[:-1],
        GOOD[:-1] + ("A" if GOOD[-1] != "A" else "B"),
        GOOD.replace("u:", "d:"),
        "u:43" + GOOD[4:],
        pack(Vote(42, up=True), signing_key("another token")),
        GOOD + "x" * 64,
        "s:zz:1:2.abcdefgh",
        "ü:1.abcdefgh",
        "m:\u0661.abcdefgh",
        "m:1\n.abcdefgh",
        "\x00" * 10,
        "m:-1.abcdefgh",
        ".",
        "m:1.",
    ],
)
def test_forged_or_garbled_data_is_refused(data: str | None) -> None:
    assert unpack(data, KEY) is None


def test_source_of_a_sentence_is_found_again(mini: Library) -> None:
    sentence = mini.sentence(3)
    press = source_button(sentence)
    found = locate(mini, press.document, press.position, press.digest)
    assert found.sentence_id == sentence.id


def test_sentence_moved_by_an_edit_is_found_and_removed_one_is_gone(tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "docs", MINI_CORPUS)
    before = load_library(corpus, tmp_path / "cache")
    [target] = [s for i in range(before.sentence_count) if "Compost" in (s := before.sentence(i)).text]
    press = source_button(target)
    garden = corpus / "garden.txt"
    garden.write_text("A new opening line about seeds.\n\n" + garden.read_text(encoding="utf-8"), encoding="utf-8")
    moved = load_library(corpus, tmp_path / "cache", previous=before)
    found = locate(moved, press.document, press.position, press.digest)
    assert moved.sentence(found.sentence_id).text == target.text
    assert moved.sentence(found.sentence_id).position == target.position + 1

    garden.write_text("Only seeds now.\n", encoding="utf-8")
    edited = load_library(corpus, tmp_path / "cache", previous=moved)
    with pytest.raises(SentenceGone):
        locate(edited, press.document, press.position, press.digest)
    garden.unlink()
    gone = load_library(corpus, tmp_path / "cache", previous=edited)
    with pytest.raises(DocumentGone):
        locate(gone, press.document, press.position, press.digest)


def test_document_key_of_a_name_that_is_not_utf8_is_that_of_its_bytes() -> None:
    cp1251, koi8 = "Отчёт.txt".encode("cp1251"), "Отчёт.txt".encode("koi8-r")
    keys = {document_key(os.fsdecode(cp1251)), document_key(os.fsdecode(koi8)), document_key("Отчёт.txt")}
    assert len(keys) == 3 and document_key("report.txt") == document_key(os.fsdecode(b"report.txt"))


def test_a_moved_sentence_is_found_through_an_index_built_once_per_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_files(tmp_path / "docs", MINI_CORPUS)
    before = load_library(corpus, tmp_path / "cache")
    targets = [s for i in range(before.sentence_count) if (s := before.sentence(i)).document.path == "garden.txt"]
    garden = corpus / "garden.txt"
    garden.write_text("A new opening line about seeds.\n\n" + garden.read_text(encoding="utf-8"), encoding="utf-8")
    moved = load_library(corpus, tmp_path / "cache", previous=before)
    hashed: list[str] = []
    digest = refs.text_digest
    monkeypatch.setattr(refs, "text_digest", lambda text: hashed.append(text) or digest(text))
    for target in targets:
        press = source_button(target)
        found = locate(moved, press.document, press.position, press.digest)
        assert moved.sentence(found.sentence_id).text == target.text
    # Each press hashes its own sentence twice (making the button, checking its old position); the first stale
    # one hashes the document once more, and the others look it up: a scan per press would hash 15 sentences.
    assert len(hashed) == 2 * len(targets) + len(moved.entries[found.number].sentences)
