"""Uploads: safe names, checks before saving, no file ever overwritten, removal only inside uploads/."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

import bot.index.loader
from bot.chat import uploads
from bot.chat.uploads import FOLDER, Refused, add, check, remove, save, uploaded
from bot.index.loader import load_library
from bot.ingest.names import safe_name
from bot.ingest.sandbox import SandboxPool
from bot.text.languages import Languages
from tests import documents as make

AUTO = Languages.parse("auto")
TEXT = b"# Ferry timetable\n\nThe ferry to the island leaves at noon every day.\n"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/Notes.TXT", "Notes.txt"),
        (".env", "document.env"),
        ("..", "document"),
        ("a\x00b\n.md", "a_b.md"),
        ("Отчёт 2025 (итог).docx", "Отчёт 2025 (итог).docx"),
        ("$(rm -rf ~);.md", "(rm -rf _).md"),
        ("x" * 300 + ".pdf", "x" * 96 + ".pdf"),
        ("報告" * 47 + ".txt", "報告" * 40 + "報.txt"),
    ],
)
def test_safe_name_never_leaves_the_folder(sent: str, kept: str) -> None:
    assert safe_name(sent) == kept


def test_check_reads_a_supported_file() -> None:
    checked = check("timetable.md", TEXT, 2**20, AUTO)
    assert checked.document.title == "Ferry timetable" and checked.path == f"{FOLDER}/timetable.md"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("big.txt", b"a" * (3 * 2**19), "the file is 1.5 MB; the limit is 1 MB"),
        ("tool.exe", b"MZ\x90\x00", "I can't read this kind of file"),
        ("page.pdf", b"<html><body>Not a PDF</body></html>", "I couldn't read it: not a PDF"),
        ("empty.txt", b"   \n", "I couldn't read it: empty"),
        ("dots.txt", b"... --- ...", "I found no sentences in it"),
    ],
)
def test_check_refuses_with_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        check(name, data, 2**20, AUTO)
    assert str(refused.value).startswith(reason)


def test_save_never_overwrites_and_refuses_a_copy(tmp_path: Path) -> None:
    assert save(tmp_path, "notes.md", TEXT) == f"{FOLDER}/notes.md"
    assert save(tmp_path, "notes.md", TEXT + b"More.\n") == f"{FOLDER}/notes (2).md"
    with pytest.raises(Refused, match="already in the documents, as uploads/notes.md"):
        save(tmp_path, "notes.md", TEXT)
    assert (tmp_path / FOLDER / "notes.md").read_bytes() == TEXT


def test_an_upload_is_part_of_the_next_load(tmp_path: Path) -> None:
    (tmp_path / "seed.txt").write_text("Trains leave the station every hour.\n")
    path = save(tmp_path, "ferry.md", TEXT)
    library = load_library(tmp_path, tmp_path.parent / "cache")
    assert path in [d.path for d in library.documents]


def counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Record each file extracted (by kind) and each document analysed (by path), in this process."""
    seen: dict[str, list[str]] = {"extracted": [], "analysed": []}
    submit, analyze = SandboxPool.submit, bot.index.loader.analyze_document

    def counted_submit(readers: SandboxPool, kind: str, data: bytes) -> Any:
        seen["extracted"].append(kind)
        return submit(readers, kind, data)

    def counted_analyze(document: Any, languages: Languages) -> Any:
        seen["analysed"].append(document.path)
        return analyze(document, languages)

    monkeypatch.setattr(SandboxPool, "submit", counted_submit)
    monkeypatch.setattr(bot.index.loader, "analyze_document", counted_analyze)
    return seen


@pytest.mark.parametrize(
    ("name", "data"),
    [("ferry.md", TEXT), ("report.pdf", make.pdf(["The ferry to the island leaves at noon every day."]))],
)
def test_an_added_upload_is_read_once_not_again_by_the_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes
) -> None:
    corpus, cache = tmp_path / "corpus", tmp_path / "cache"
    corpus.mkdir()
    (corpus / "seed.txt").write_text("Trains leave the station every hour.\n")
    previous = load_library(corpus, cache, workers=1)
    seen = counting(monkeypatch)
    path = add(corpus, cache, name, data, 2**20, AUTO)
    library = load_library(corpus, cache, workers=1, previous=previous)
    [entry] = [e for e in library.entries if e.document.path == path]
    assert any("noon" in sentence for sentence in entry.sentences)
    assert seen["extracted"] == (["pdf"] if name.endswith(".pdf") else [])
    assert seen["analysed"] == [path]


def test_remove_only_deletes_uploads(tmp_path: Path) -> None:
    (tmp_path / "seed.txt").write_text("Kept.\n")
    save(tmp_path, "ferry.md", TEXT)
    with pytest.raises(Refused):
        remove(tmp_path, "../seed.txt")  # cleaned to "seed.txt", which is no upload
    assert (tmp_path / "seed.txt").exists()
    assert remove(tmp_path, "uploads/ferry.md") == f"{FOLDER}/ferry.md"
    assert not (tmp_path / FOLDER / "ferry.md").exists()
    with pytest.raises(Refused, match="no uploaded document called ferry.md"):
        remove(tmp_path, "ferry.md")


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"The ferry leaves at noon.\n" * 20_000
    real_write = os.write
    written = {"bytes": 0}

    def disk_full(descriptor: int, chunk: Any) -> int:
        if written["bytes"] > len(data) // 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        count = real_write(descriptor, bytes(chunk[: 2**16]))
        written["bytes"] += count
        return count

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save(tmp_path, "big.txt", data)
    monkeypatch.undo()
    # Neither the name nor a temporary file is left for the next reload to index.
    assert list((tmp_path / FOLDER).iterdir()) == []
    assert save(tmp_path, "big.txt", data) == f"{FOLDER}/big.txt"
    assert (tmp_path / FOLDER / "big.txt").read_bytes() == data
    assert [p.name for p in (tmp_path / FOLDER).iterdir()] == ["big.txt"]


def test_remove_takes_the_sidecar_with_the_document(tmp_path: Path) -> None:
    save(tmp_path, "budget.pdf", make.pdf(["The budget is ten million."]))
    (tmp_path / FOLDER / "budget.pdf.yml").write_text("title: Budget 2024 (superseded)\n")
    assert uploaded(tmp_path) == ["budget.pdf"]  # the sidecar goes with its document, not on its own
    remove(tmp_path, "budget.pdf")
    assert list((tmp_path / FOLDER).iterdir()) == []


@pytest.mark.parametrize("stem", ["報告" * 47, "ж" * 200, "x" * 300])
def test_long_names_are_cut_by_bytes_to_fit_with_a_counter(tmp_path: Path, stem: str) -> None:
    name = safe_name(stem + ".pdf")
    assert name.endswith(".pdf") and len(f"{name[:-4]} (999).pdf".encode()) <= 255
    assert save(tmp_path, name, TEXT) == f"{FOLDER}/{name}"
    second = save(tmp_path, name, TEXT + b"More.\n")
    assert second == f"{FOLDER}/{name[:-4]} (2).pdf"


def test_remove_takes_exactly_the_names_it_lists(tmp_path: Path) -> None:
    long = safe_name("y" * 100 + ".txt")
    save(tmp_path, long, TEXT)
    second = save(tmp_path, long, TEXT + b"More.\n").removeprefix(f"{FOLDER}/")
    assert uploaded(tmp_path) == sorted([long, second])
    with pytest.raises(Refused):
        remove(tmp_path, long[:-5] + ".txt")  # a cut of a listed name is not that name
    assert remove(tmp_path, second) == f"{FOLDER}/{second}"
    assert uploaded(tmp_path) == [long]


def test_a_long_upload_is_analysed_in_a_worker_not_in_the_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    text = b"# Ferries\n\n" + b"The ferry to the island leaves at noon every day. " * 5_000
    assert len(text) > uploads.ANALYSE_HERE_CHARS

    def not_here(*args: Any) -> Any:
        raise AssertionError("analysed in the bot's own process")

    monkeypatch.setattr(uploads, "analyze", not_here)
    checked = check("ferries.md", text, 2**20, AUTO)
    ferries = [s for s in checked.analyzed.sentences if s.startswith("The ferry to the island leaves at noon")]
    assert len(ferries) == 5_000
