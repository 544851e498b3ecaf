"""The 📄 Source view: the quoted sentence in bold among its neighbours, under title, source, date, link."""

from __future__ import annotations

import pytest

from bot.chat.render import source_view
from bot.ingest.corpus import Document
from tests.botapi import parse_html, utf16_length

DOC = Document(
    "news/a.md", "Rivers & <Lakes>", "", source="example.org", date="2025-06-01", url="https://example.org/a?x=1&y=2"
)
SENTENCES = [f"Sentence {n} says {'<' if n == 4 else ''}thing {n}." for n in range(10)]


def test_view_shows_metadata_and_neighbours_with_the_quote_bold() -> None:
    view = source_view(DOC, SENTENCES, 4)
    shown = parse_html(view)
    assert shown.splitlines()[:3] == ["Rivers & <Lakes>", "example.org · 2025-06-01", "https://example.org/a?x=1&y=2"]
    assert "<b>Sentence 4 says &lt;thing 4.</b>" in view
    assert "… Sentence 2 says thing 2. Sentence 3 says thing 3. Sentence 4 says <thing 4. Sentence 5" in shown
    assert shown.endswith("Sentence 6 says thing 6. …")
    assert 'href="https://example.org/a?x=1&amp;y=2"' in view


def test_view_at_the_start_of_a_document_has_no_leading_ellipsis() -> None:
    shown = parse_html(source_view(Document("b.txt", "B", ""), SENTENCES, 0))
    assert shown == "B\n\nSentence 0 says thing 0. Sentence 1 says thing 1. Sentence 2 says thing 2. …"


@pytest.mark.parametrize("limit", [300, 1000, 4096])
def test_view_fits_the_limit_dropping_neighbours_then_cutting_the_quote(limit: int) -> None:
    long = ["😀 " * 1500, "The quoted one is short.", "b" * 5000]
    view = source_view(DOC, long, 1, limit)
    assert utf16_length(view) <= limit and "<b>The quoted one is short.</b>" in view
    huge = source_view(DOC, ["x" * 9000], 0, limit)
    assert utf16_length(huge) <= limit and parse_html(huge).rstrip("…").endswith("x")


def test_view_names_the_page_of_a_paged_document() -> None:
    shown = parse_html(source_view(DOC, SENTENCES, 4, page=14))
    assert shown.splitlines()[1] == "example.org · 2025-06-01 · p. 14"
