"""A reader whose library is missing: said once for its format, in `citebot check` and in the log, not per file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.index.loader import load_library
from bot.ingest.formats import missing_reader
from tests import documents as make
from tests.helpers import write_files

PAGES = {f"page{n}.html": make.news_page() for n in range(4)}


@pytest.mark.parametrize(
    ("module", "kind", "names"),
    [
        ("lxml_html_clean", "html", "lxml_html_clean"),
        ("docx", "docx", "python-docx"),
        ("pypdfium2", "pdf", "pypdfium2"),
    ],
)
def test_a_missing_library_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, kind: str, names: str
) -> None:
    assert missing_reader(kind) is None
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    assert missing_reader(kind) == f"{kind.upper()} reader not installed: {names} missing (pip install {names})"


def test_check_says_it_once_for_all_files_of_the_format(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = write_files(tmp_path / "docs", {**PAGES, "notes.txt": "Water tariffs rise by four percent in March."})
    monkeypatch.setitem(sys.modules, "lxml_html_clean", None)
    assert main(["check", "--corpus", str(root)]) == 0
    out = capsys.readouterr().out
    assert "skipped:   4" in out
    lines = [line for line in out.splitlines() if "reader not installed" in line]
    assert lines == [
        "  4 files (page0.html, page1.html, page2.html, …): "
        "HTML reader not installed: lxml_html_clean missing (pip install lxml_html_clean)"
    ]


def test_the_log_says_it_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    root = write_files(tmp_path / "docs", {**PAGES, "notes.txt": "Water tariffs rise by four percent in March."})
    monkeypatch.setitem(sys.modules, "lxml_html_clean", None)
    with caplog.at_level(logging.WARNING, logger="bot.index.loader"):
        library = load_library(root, tmp_path / "cache")
    assert [d.path for d in library.documents] == ["notes.txt"]
    assert len(library.skipped) == 4  # each file is still named in the library, for /reload and uploads
    said = [r.getMessage() for r in caplog.records if "reader not installed" in r.getMessage()]
    assert len(said) == 1
    assert said[0].startswith("4 files (page0.html")
