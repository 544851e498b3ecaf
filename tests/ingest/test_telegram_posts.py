"""Channel posts as corpus files, and Telegram Desktop's export read streaming: a realistic export end to end."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import cli
from bot.index.loader import load_library
from bot.ingest.sources import telegram_posts as posts
from bot.ingest.sources.telegram_posts import Attachment, ExportReading, Post
from bot.ranking.answer import answer
from tests import documents as make

PRESS = -1001234567890
UTC = dt.UTC
REPORT = make.pdf(["Annual report of the Zorbak water authority.", "The Zorbak dam holds forty million cubic metres."])


def english(text: str) -> str:
    return "en"


def export_messages() -> list[dict[str, Any]]:
    """Messages as Telegram Desktop writes them: entities, service messages, an edit, media, a file."""
    return [
        {
            "id": 1,
            "type": "service",
            "date": "2026-03-01T09:00:00",
            "date_unixtime": "1772355600",
            "actor": "Press Office",
            "actor_id": "channel1234567890",
            "action": "create_channel",
            "title": "Press Office",
            "text": "",
            "text_entities": [],
        },
        {
            "id": 2,
            "type": "message",
            "date": "2026-03-02T10:00:00",
            "date_unixtime": "1772445600",
            "from": "Press Office",
            "from_id": "channel1234567890",
            "text": [
                "The ministry opened the ",
                {"type": "bold", "text": "Quill bridge"},
                " in Zorbak. It is 300 metres long. Read ",
                {"type": "text_link", "text": "the decree", "href": "https://gov.example/decree/7"},
                ". ",
                {"type": "hashtag", "text": "#bridges"},
            ],
            "text_entities": [
                {"type": "plain", "text": "The ministry opened the "},
                {"type": "bold", "text": "Quill bridge"},
            ],
        },
        {
            "id": 3,
            "type": "message",
            "date": "2026-03-03T11:00:00",
            "date_unixtime": "1772535600",
            "edited": "2026-03-03T12:30:00",
            "edited_unixtime": "1772541000",
            "from": "Press Office",
            "text": "The ferry to Kerbin island now sails every two hours.",
            "text_entities": [],
        },
        {
            "id": 4,
            "type": "message",
            "date": "2026-03-04T08:00:00",
            "date_unixtime": "1772611200",
            "photo": "photos/photo_1.jpg",
            "width": 800,
            "height": 600,
            "text": "",
            "text_entities": [],
        },
        {
            "id": 5,
            "type": "message",
            "date": "2026-03-04T08:05:00",
            "date_unixtime": "1772611500",
            "file": "stickers/sticker.webp",
            "media_type": "sticker",
            "sticker_emoji": "👍",
            "text": "",
            "text_entities": [],
        },
        {
            "id": 6,
            "type": "message",
            "date": "2026-03-05T08:00:00",
            "date_unixtime": "1772697600",
            "poll": {"question": "Which bridge?", "closed": False, "total_voters": 3, "answers": []},
            "text": "",
            "text_entities": [],
        },
        {
            "id": 7,
            "type": "message",
            "date": "2026-03-06T15:00:00",
            "date_unixtime": "1772809200",
            "file": "files/report.pdf",
            "file_name": "report.pdf",
            "mime_type": "application/pdf",
            "text": "Our annual report.",
            "text_entities": [{"type": "plain", "text": "Our annual report."}],
        },
        {
            "id": 8,
            "type": "service",
            "date": "2026-03-06T15:01:00",
            "date_unixtime": "1772809260",
            "action": "pin_message",
            "message_id": 7,
            "text": "",
            "text_entities": [],
        },
        {
            "id": 9,
            "type": "message",
            "date": "2026-03-07T09:00:00",
            "date_unixtime": "1772874000",
            "text": "🎉" * 4096,
            "text_entities": [],
        },
    ]


def write_export(folder: Path, messages: list[dict[str, Any]] | None = None) -> Path:
    (folder / "files").mkdir(parents=True)
    (folder / "files/report.pdf").write_bytes(REPORT)
    export = {
        "name": "Press Office",
        "type": "public_channel",
        "id": 1234567890,
        "messages": export_messages() if messages is None else messages,
    }
    (folder / "result.json").write_text(json.dumps(export, ensure_ascii=False, indent=1), encoding="utf-8")
    return folder


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "export")


def test_an_export_becomes_posts_with_links_dates_and_the_attached_file(export: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    done = posts.import_export(export, corpus, english, "press_kz")
    assert (done.written, done.unchanged, done.reading.error) == (3, 0, None)
    assert done.reading.skipped == {
        "service message": 2,
        "no text": 2,
        "sticker without text": 1,
        "poll without text": 1,
    }
    folder = corpus / "channels/press_kz"
    assert sorted(p.name for p in folder.iterdir()) == ["2.md", "3.md", "7-report.pdf", "7-report.pdf.yml", "7.md"]
    meta = posts.read_meta((folder / "2.md").read_bytes())
    assert meta["url"] == "https://t.me/press_kz/2" and meta["source"] == "Press Office"
    assert meta["title"] == "The ministry opened the Quill bridge in Zorbak" and meta["date"].startswith("2026-03-02")
    body = (folder / "2.md").read_text(encoding="utf-8")
    assert "the decree (https://gov.example/decree/7). #bridges" in body
    assert (folder / "7-report.pdf").read_bytes() == REPORT
    library = load_library(corpus, tmp_path / "cache")
    found = answer(library, "How much water does the Zorbak dam hold?")
    assert found.quotes and found.quotes[0].document.url == "https://t.me/press_kz/7"
    assert found.quotes[0].document.path == "channels/press_kz/7-report.pdf"


def test_an_attachment_is_read_in_its_own_language_not_its_caption_s(tmp_path: Path) -> None:
    # A caption of three words is no guide to a report's language: the sidecar leaves it to the report's text.
    post = posts.Post(
        -1001234567890,
        "press_kz",
        "Press Office",
        9,
        dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
        "Our annual report.",
        attachments=(posts.Attachment("report.pdf", REPORT),),
    )
    corpus = tmp_path / "corpus"
    posts.write_post(corpus, post, lambda text: "eo")
    sidecar = yaml.safe_load((corpus / "channels/press_kz/9-report.pdf.yml").read_text(encoding="utf-8"))
    assert "language" not in sidecar and sidecar["url"] == "https://t.me/press_kz/9"
    library = load_library(corpus, tmp_path / "cache")
    found = answer(library, "How much water does the Zorbak dam hold?")
    assert found.quotes and found.quotes[0].document.path == "channels/press_kz/9-report.pdf"


def test_importing_twice_adds_nothing_and_a_later_live_edit_wins(export: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    posts.import_export(export, corpus, english, "press_kz")
    file = corpus / "channels/press_kz/3.md"
    stamp = file.stat().st_mtime_ns
    again = posts.import_export(export, corpus, english, "press_kz")
    assert (again.written, again.unchanged) == (0, 3)
    assert file.stat().st_mtime_ns == stamp
    live = Post(
        PRESS,
        "press_kz",
        "Press Office",
        3,
        dt.datetime(2026, 3, 3, 11, tzinfo=UTC),
        "The ferry to Kerbin island now sails every hour.",
        edit_date=dt.datetime(2026, 3, 8, tzinfo=UTC),
    )
    assert posts.write_post(corpus, live, english).paths == ("channels/press_kz/3.md",)
    posts.import_export(export, corpus, english, "press_kz")
    assert "every hour" in file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "cut, kept", [(lambda data: data[: data.index(b'"id": 7')], 2), (lambda data: b"<html>not json</html>", 0)]
)
def test_a_truncated_or_not_json_export_keeps_what_was_read_and_names_the_error(
    export: Path, tmp_path: Path, cut: Any, kept: int
) -> None:
    result = export / "result.json"
    result.write_bytes(cut(result.read_bytes()))
    done = posts.import_export(result, tmp_path / "corpus", english, "press_kz")
    assert done.written == kept
    assert done.reading.error is not None and done.reading.error.startswith("not a complete JSON export")


def test_the_export_is_read_streaming(tmp_path: Path) -> None:
    messages = [
        {"id": n, "type": "message", "date_unixtime": str(1772445600 + n), "text": f"Bulletin number {n}."}
        for n in range(1, 20_001)
    ]
    data = json.dumps({"name": "Press", "type": "public_channel", "id": 1, "messages": messages}).encode()

    class Counting(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            assert size >= 0, "the whole export was asked for at once"
            return super().read(size)

    stream = Counting(data)
    first = next(posts.read_export(stream, ExportReading(), "press"))
    assert first.message_id == 1 and stream.tell() < len(data) // 10


def test_the_cli_imports_and_check_counts_documents_per_channel(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("Notes on the Zorbak ferry timetable.\n", encoding="utf-8")
    assert cli.main(["import-telegram", str(export), "--channel", "@press_kz", "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "written:   3" in out and "left out:  2 service message" in out
    assert cli.main(["check", "--corpus", str(corpus)]) == 0
    assert "channels:  press_kz 4" in capsys.readouterr().out  # three posts and the report
    (export / "result.json").write_bytes(b'{"name": "Press", "messages": [')
    assert cli.main(["import-telegram", str(export), "--corpus", str(corpus)]) == 1
    assert "not a complete JSON export" in capsys.readouterr().err


@pytest.mark.parametrize(
    "link, parsed",
    [
        ("https://t.me/press_kz/12", posts.Link(12, "press_kz")),
        ("t.me/c/1234567890/7", posts.Link(7, internal=1234567890)),
        ("https://t.me/s/press_kz/12?single", posts.Link(12, "press_kz")),
        ("https://example.org/press_kz/12", None),
        ("/forget", None),
    ],
)
def test_links_are_parsed(link: str, parsed: posts.Link | None) -> None:
    assert posts.parse_link(link) == parsed


def test_links_and_folders_of_public_and_private_channels() -> None:
    assert posts.post_url(PRESS, "press_kz", 5) == "https://t.me/press_kz/5"
    assert posts.post_url(PRESS, None, 5) == "https://t.me/c/1234567890/5"
    assert posts.folder_of(PRESS, None) == "channels/c-1234567890"
    assert posts.channel_id_of(1234567890) == PRESS


def test_writing_is_atomic_and_forget_removes_the_post_and_its_files(tmp_path: Path) -> None:
    post = Post(
        PRESS,
        "press_kz",
        "Press Office",
        7,
        dt.datetime(2026, 3, 6, tzinfo=UTC),
        "Our annual report.",
        attachments=(Attachment("../../etc/report.pdf", REPORT),),
    )
    written = posts.write_post(tmp_path, post, english)
    assert written.paths == ("channels/press_kz/7.md", "channels/press_kz/7-report.pdf")
    assert not [p for p in (tmp_path / "channels/press_kz").iterdir() if p.name.startswith(".")]
    removed = posts.forget(tmp_path, posts.Link(7, internal=1234567890))
    assert removed == ["channels/press_kz/7-report.pdf", "channels/press_kz/7-report.pdf.yml", "channels/press_kz/7.md"]
    assert posts.forget(tmp_path, posts.Link(7, "press_kz")) == []
