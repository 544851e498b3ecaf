"""Documents beyond plain text: saved web pages, PDF, DOCX, EPUB and ODT: metadata, pages, sidecars and bad files."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from bot.chat.render import html_messages, plain_messages
from bot.cli import main
from bot.index.library import Library
from bot.index.loader import load_library
from bot.ingest import formats as extractors
from bot.ingest.formats import Unreadable, common, extract
from bot.ingest.sandbox import Sandbox, SandboxPool
from bot.ingest.sidecars import read_sidecar
from bot.ranking.answer import answer
from tests import documents as make
from tests.helpers import Build, write_files


def sentences(library: Library, path: str | None = None) -> list[str]:
    """Every sentence of the library (or of one document), in order."""
    return [s for e in library.entries if path in (None, e.document.path) for s in e.sentences]


def document(library: Library, path: str):
    return next(d for d in library.documents if d.path == path)


def skipped(library: Library) -> dict[str, str]:
    return {s.path: s.reason for s in library.skipped if not s.warning}


# --- HTML --------------------------------------------------------------------------------------------------------

ARTICLE = [
    "The ministry approved new water tariffs for households on Monday after a long public consultation.",
    "The tariff rises by four percent in the southern regions from the first of March.",
    "Industrial consumers pay the same rate as last year until the end of the summer season.",
]
BOILERPLATE = [
    "Contacts and press office",
    "We use cookies",
    "Accept all cookies",
    "hydro plant in the eastern mountains",
    "Electricity prices frozen",
    "This is outrageous",
    "good news for the pensioners of our town",
    "All rights reserved",
]


def test_html_main_text_in_and_boilerplate_out() -> None:
    text = extract("html", make.news_page().encode()).text
    for sentence in ARTICLE:
        assert sentence in text
    for junk in BOILERPLATE:
        assert junk not in text


def test_html_headline_is_the_title_not_a_sentence(build: Build) -> None:
    library = build({"news.html": make.news_page()})
    assert library.documents[0].title == "Water tariffs for 2026"
    assert "Water tariffs for 2026" not in sentences(library)


def test_html_paragraphs_stay_paragraphs(build: Build) -> None:
    library = build({"news.html": make.news_page()})
    found = sentences(library)
    # The subheading has no full stop: as its own paragraph it is a sentence of its own, not glued to the next.
    assert "What changes for businesses" in found
    assert ARTICLE[2] in found


def test_html_metadata() -> None:
    found = extract("html", make.news_page().encode())
    assert found.title == "Water tariffs for 2026"
    assert found.date == "2026-01-15"
    assert found.url == "https://www.example.gov/news/water-tariffs"
    # The site name is a sentence ("The official website of…"): the host name is the source instead.
    assert found.source == "example.gov"
    assert found.language == "en"


def test_html_short_site_name_is_the_source() -> None:
    assert extract("html", make.news_page(site_name="Ministry of Energy").encode()).source == "Ministry of Energy"


@pytest.mark.parametrize(
    ("head", "saved_from", "url"),
    [
        ('<meta property="og:url" content="https://example.gov/og">', None, "https://example.gov/og"),
        (
            '<script type="application/ld+json">{"@type": "NewsArticle", "url": "https://example.gov/ld"}</script>',
            None,
            "https://example.gov/ld",
        ),
        (
            '<script type="application/ld+json">{"@graph": [{"@type": "WebPage", "mainEntityOfPage": '
            '{"@id": "https://example.gov/graph"}}]}</script>',
            None,
            "https://example.gov/graph",
        ),
        ("", "https://example.gov/saved", "https://example.gov/saved"),
        ('<link rel="canonical" href="javascript:alert(1)">', None, None),
        ('<link rel="canonical" href="http://[broken/x">', None, None),
    ],
    ids=["og-url", "json-ld", "json-ld-graph", "saved-from-comment", "not-a-web-address", "broken-address"],
)
def test_html_url_sources(head: str, saved_from: str | None, url: str | None) -> None:
    found = extract("html", make.news_page(head=head, saved_from=saved_from).encode())
    assert found.url == url


def test_html_charset_declared_only_in_a_meta_tag() -> None:
    page = (
        "<html><head><meta http-equiv='Content-Type' content='text/html; charset=windows-1251'><title>Новости</title>"
        "</head><body><article><p>Министерство энергетики утвердило новые тарифы на воду для населения страны.</p>"
        "<p>Тариф вырастет на четыре процента в южных регионах с первого марта следующего года.</p>"
        "</article></body></html>"
    ).encode("cp1251")
    text = extract("html", page).text
    assert "Министерство энергетики утвердило новые тарифы" in text


def test_html_without_lang_has_no_language() -> None:
    assert extract("html", make.news_page(lang="").encode()).language is None


# --- PDF ---------------------------------------------------------------------------------------------------------

LEFT = "The plant near Ust-\nKamenogorsk makes parts and electri-\ncity for the region. The left column ends here."
RIGHT = "The right column starts here. It is read after the whole left column."


def test_pdf_two_columns_in_reading_order() -> None:
    text = extract("pdf", make.pdf([(LEFT, RIGHT)])).text
    assert text.index("The left column ends here.") < text.index("The right column starts here.")


def test_pdf_hyphenation_rejoined_and_real_hyphens_kept() -> None:
    text = extract("pdf", make.pdf([LEFT])).text
    assert "electricity for the region" in text
    assert "Ust-Kamenogorsk" in text
    assert "electri-" not in text and "\ufffe" not in text


def test_pdf_line_end_hyphen_the_document_writes_elsewhere_is_kept() -> None:
    text = extract("pdf", make.pdf(["They make well-\nknown parts. Their well-known parts sell."])).text
    assert "make well-known parts" in text


def test_pdf_running_header_and_page_numbers_dropped() -> None:
    pages = [f"Page {n} tells of the reservoir number {n} and its water level." for n in range(1, 5)]
    text = extract("pdf", make.pdf(pages, header="Annual report 2025 - Ministry of Energy", page_numbers=True)).text
    assert "Annual report 2025" not in text
    assert "Page 3 tells of the reservoir number 3" in text
    assert not any(line.strip().isdigit() for line in text.splitlines())


def test_pdf_of_two_pages_drops_the_header_both_pages_have() -> None:
    pages = [
        "Page 1 tells of the northern reservoir.\nIts water level rose in spring.\nThe dam held.\nThe town stayed dry.",
        "Page 2 tells of the southern reservoir.\nIts level fell in summer.\nThe fields were watered.\nThe crops grew.",
    ]
    text = extract("pdf", make.pdf(pages, header="Annual report 2025 - Ministry of Energy")).text
    assert "Annual report 2025" not in text
    for line in ("Page 1 tells of the northern reservoir.", "The town stayed dry.", "The crops grew."):
        assert line in text


def test_pdf_paragraphs_rebuilt_from_lines() -> None:
    text = extract(
        "pdf", make.pdf(["Short heading\nThe first line of a paragraph that runs on\nand ends on this line."])
    ).text
    assert "The first line of a paragraph that runs on and ends on this line." in text
    assert "Short heading\n\n" in text


def test_pdf_page_offsets() -> None:
    found = extract("pdf", make.pdf(["First page words.", "Second page words.", "Third page words."]))
    assert len(found.pages) == 3
    assert [found.text[start:].split(" ", 1)[0] for start in found.pages] == ["First", "Second", "Third"]
    assert extractors.page_at(found.pages, found.text.index("Third")) == 3


def test_pdf_sentence_cut_by_a_page_break_is_one_sentence(build: Build) -> None:
    library = build(
        {"cut.pdf": make.pdf(["Opening text. The turbines of the plant were\nreplaced", "in the spring of 2024."])}
    )
    assert "The turbines of the plant were replaced in the spring of 2024." in sentences(library)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Microsoft Word - report_final.docx", None),
        ("Untitled", None),
        ("Quarterly minutes of a committee long gone", None),
        ("Annual report of the dam", "Annual report of the dam"),
    ],
)
def test_pdf_title_is_not_trusted_blindly(title: str, expected: str | None) -> None:
    found = extract("pdf", make.pdf(["Annual report of the dam. The dam holds water."], title=title))
    assert found.title == expected


def test_pdf_creation_date_is_never_the_date() -> None:
    assert extract("pdf", make.pdf(["Text of the report."])).date is None


def test_pdf_sentences_know_their_page_and_citations_show_it(build: Build) -> None:
    pages = [
        "The ministry publishes this report every year.",
        "The northern reservoir lost a fifth of its volume in the drought.",
        "The Bukhtarma dam holds forty nine billion cubic metres of water.",
    ]
    library = build(
        {
            "report.pdf": make.pdf(pages),
            "report.pdf.yml": "title: Annual report 2025\nsource: Ministry of Energy\ndate: 2026-02-01\n",
        }
    )
    result = answer(library, "How much water does the Bukhtarma dam hold?")
    assert result.answered and result.quotes[0].page == 3
    assert "[1] Annual report 2025 — Ministry of Energy, 2026-02-01, p. 3" in plain_messages(result)[0]
    assert "— Ministry of Energy, 2026-02-01, p. 3" in html_messages(result)[0]


def test_pages_of_several_quotes_are_listed(build: Build) -> None:
    pages = [
        "Reservoir levels fell in the drought.",
        "Other matters entirely, cars and roads.",
        "Reservoir levels rose again after the drought ended.",
    ]
    result = answer(build({"r.pdf": make.pdf(pages)}), "reservoir levels drought")
    assert {q.page for q in result.quotes} == {1, 3}
    assert "pp. 1, 3" in plain_messages(result)[-1]


def test_sentence_pages_follow_the_page_offsets() -> None:
    from bot.text.analyzers import Analyzer, sentence_pages

    pages = [
        "# Heading one\n\nThe first page says one thing. ",
        "It goes on here.\n\n- A list item on page two. ",
        "The third page.\nIt wraps here.",
    ]
    text = "".join(pages)
    starts = (0, len(pages[0]), len(pages[0]) + len(pages[1]))
    found = Analyzer().sentences(text)
    assert found == [
        "Heading one",
        "The first page says one thing.",
        "It goes on here.",
        "A list item on page two.",
        "The third page.",
        "It wraps here.",
    ]
    assert sentence_pages(text, found, starts).tolist() == [1, 1, 2, 2, 3, 3]
    assert sentence_pages(text, found, ()).tolist() == []


def test_text_documents_have_no_page(mini: Library) -> None:
    result = answer(mini, "How many projects has the World Bank financed?")
    assert result.quotes and result.quotes[0].page is None
    assert "p. " not in plain_messages(result)[-1]


# --- DOCX, EPUB, ODT ---------------------------------------------------------------------------------------------


def test_docx_paragraphs_tables_and_headings_in_order(build: Build) -> None:
    data = make.docx_file(
        [
            ("title", "Decree on water use"),
            ("p", "The decree sets the rules for water use."),
            ("table", [["Region", "Tariff"], ["South", "four percent"]]),
            ("heading", "Article 2"),
            ("p", "Farms report their water use every month."),
        ],
        author="Ministry of Water",
    )
    found = extract("docx", data)
    assert (
        found.text.index("rules for water use")
        < found.text.index("South | four percent")
        < found.text.index("Article 2")
        < found.text.index("every month")
    )
    # The Title style's text is the title; core dates are never the document's date.
    assert (found.title, found.source, found.date) == ("Decree on water use", "Ministry of Water", None)
    library = build({"decree.docx": data})
    assert "Article 2" in sentences(library)


def test_docx_core_properties_title_and_template_author() -> None:
    found = extract("docx", make.docx_file([("p", "Body text.")], title="Core title", author="python-docx"))
    # python-docx's template says "python-docx": an author nobody wrote is no source.
    assert (found.title, found.source) == ("Core title", None)


def test_epub_chapters_in_spine_order_without_scripts_or_navigation() -> None:
    data = make.epub(
        [
            ("c1.xhtml", "<h1>Chapter One</h1><p>It was a dark night.</p><script>var secret = 1;</script>"),
            ("c2.xhtml", "<nav><p>Table of contents</p></nav><h1>Chapter Two</h1><p>Morning came early.</p>"),
        ],
        spine=[1, 0],
        title="Night and Morning",
        creator="Ann Writer",
        date="2019-05-04T00:00:00Z",
        language="en-US",
    )
    found = extract("epub", data)
    assert found.text.index("Morning came early.") < found.text.index("It was a dark night.")
    assert "secret" not in found.text and "Table of contents" not in found.text and "color" not in found.text
    assert (found.title, found.source, found.date, found.language) == (
        "Night and Morning",
        "Ann Writer",
        "2019-05-04",
        "en",
    )


def test_epub_navigation_and_non_linear_items_are_left_out() -> None:
    data = make.epub(
        [
            ("toc.xhtml", "<ol><li>Chapter One</li></ol>"),
            ("c1.xhtml", "<p>The story begins.</p>"),
            ("notes.xhtml", "<p>Footnote about the printer.</p>"),
        ],
        nav=0,
        aside=[2],
    )
    assert extract("epub", data).text == "The story begins."


def test_odt_blocks_in_order_with_metadata() -> None:
    body = (
        '<text:h text:outline-level="1">Water report</text:h>'
        "<text:p>The lake is <text:span>clean</text:span> again.<text:s/>Fish returned.</text:p>"
        "<text:list><text:list-item><text:p>Nitrate levels fell.</text:p></text:list-item></text:list>"
        "<table:table><table:table-row><table:table-cell><text:p>Lake</text:p></table:table-cell>"
        "<table:table-cell><text:p>Clean</text:p></table:table-cell></table:table-row></table:table>"
    )
    found = extract("odt", make.odt(body, title="Lake report", language="ru-RU", creator="Water Agency"))
    assert (
        found.text
        == "# Water report\n\nThe lake is clean again. Fish returned.\n\nNitrate levels fell.\n\nLake | Clean"
    )
    assert (found.title, found.language, found.source, found.date) == ("Lake report", "ru", "Water Agency", None)


def test_odt_title_from_first_heading_without_meta_title() -> None:
    assert extract(
        "odt", make.odt('<text:h text:outline-level="1">Only heading</text:h><text:p>Text.</text:p>')
    ).title == ("Only heading")


# --- sidecar -----------------------------------------------------------------------------------------------------


def test_sidecar_overrides_extracted_metadata(build: Build) -> None:
    library = build(
        {
            "page.html": make.news_page(),
            "page.html.yml": "title: Tariffs decision\nsource: Ministry of Energy\ndate: 2026-01-20\nlanguage: en\n"
            "url: https://example.gov/t\n",
        }
    )
    found = document(library, "page.html")
    assert (found.title, found.source, found.date, found.url, found.language) == (
        "Tariffs decision",
        "Ministry of Energy",
        "2026-01-20",
        "https://example.gov/t",
        "en",
    )
    assert [d.path for d in library.documents] == ["page.html"]  # the sidecar is no document of its own


@pytest.mark.parametrize(
    ("text", "fields", "warning"),
    [
        ("title: T\ndate: 2026-02-01\n", {"title": "T", "date": "2026-02-01"}, None),
        ("title: [a, b]\nsource: S\n", {"source": "S"}, "title"),
        ("- just\n- a list\n", {}, "not key: value"),
        ("title: 'unclosed\n", {}, "sidecar ignored"),
        ("!!python/object/apply:os.system ['echo hi']\n", {}, "sidecar ignored"),
    ],
    ids=["plain", "list-value", "not-a-mapping", "broken", "python-tag"],
)
def test_sidecar_keeps_only_text_and_dates(text: str, fields: dict[str, str], warning: str | None) -> None:
    found, problem = read_sidecar(text.encode())
    assert found == fields
    assert (problem is None) if warning is None else (warning in (problem or ""))


def test_sidecar_change_is_picked_up_by_a_reload(tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", {"r.pdf": make.pdf(["The dam holds water."]), "r.pdf.yml": "title: Old\n"})
    first = load_library(root, tmp_path / "cache")
    (root / "r.pdf.yml").write_text("title: New title\n")
    os.utime(root / "r.pdf.yml", ns=(time.time_ns() + 10**9,) * 2)
    second = load_library(root, tmp_path / "cache", previous=first)
    assert [d.title for d in second.documents] == ["New title"]


@pytest.mark.parametrize("name", ["notes.md", "notes.txt"])
def test_sidecar_of_a_text_file_is_applied_over_its_front_matter(build: Build, name: str) -> None:
    library = build(
        {
            name: "---\ntitle: Front matter title\nsource: Old desk\n---\nThe dam holds water through the spring.\n",
            f"{name}.yml": "title: Dam notes\ndate: 2026-03-01\nurl: https://example.gov/dam\n",
        }
    )
    found = document(library, name)
    assert (found.title, found.source, found.date, found.url) == (
        "Dam notes",
        "Old desk",
        "2026-03-01",
        "https://example.gov/dam",
    )
    assert not found.title_made
    assert [d.path for d in library.documents] == [name]


def test_sidecar_of_a_text_file_warns_and_the_change_is_reloaded(tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", {"n.txt": "The dam holds water.\n", "n.txt.yml": "title: [a, b]\n"})
    first = load_library(root, tmp_path / "cache")
    assert [(s.path, s.reason, s.warning) for s in first.skipped] == [
        ("n.txt", "sidecar title ignored (not text)", True)
    ]
    (root / "n.txt.yml").write_text("title: New title\n")
    os.utime(root / "n.txt.yml", ns=(time.time_ns() + 10**9,) * 2)
    second = load_library(root, tmp_path / "cache", previous=first)
    assert [d.title for d in second.documents] == ["New title"]
    assert second.skipped == ()


# --- bad files ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory: pytest.TempPathFactory) -> Library:
    """A corpus of one good PDF and every kind of bad file, loaded once."""
    root = write_files(tmp_path_factory.mktemp("bad") / "docs", bad_files())
    return load_library(root, root.parent / "cache")


def bad_files() -> dict[str, bytes | str]:
    good = make.pdf(["The good report says the dam is safe."])
    return {
        "good.pdf": good,
        "locked.pdf": make.pdf(["Secret."], user_password="open sesame"),
        "scanned.pdf": make.scanned_pdf(),
        "cut.pdf": good[: len(good) // 2],
        "page.pdf": "<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>",
        "empty.pdf": b"",
        "nobody.html": "<html><head><title>Nothing</title></head></html>",
        "broken.docx": b"PK\x03\x04 not really a zip",
        "broken.epub": make.epub([("c.xhtml", "<p>x</p>")])[:200],
        "noxml.odt": make.odt("<text:p>fine</text:p>").replace(b"content.xml", b"content.xmX"),
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("locked.pdf", "password-protected"),
        ("scanned.pdf", "no text layer (scanned?)"),
        ("cut.pdf", "truncated"),
        ("page.pdf", "HTML page"),
        ("empty.pdf", "empty"),
        ("nobody.html", "no main text"),
        ("broken.docx", "not a readable DOCX"),
        ("broken.epub", "EPUB"),
        ("noxml.odt", "ODT without content.xml"),
    ],
)
def test_bad_files_are_skipped_with_their_reason_and_the_rest_loads(
    bad_corpus: Library, name: str, reason: str
) -> None:
    assert [d.path for d in bad_corpus.documents] == ["good.pdf"]
    assert reason in skipped(bad_corpus)[name]


@pytest.mark.parametrize(
    ("limit", "reason"),
    [("MAX_MEMBER_BYTES", "is larger than"), ("MAX_ZIP_BYTES", "unpacks to more than")],
)
def test_zip_bombs_are_refused_before_unpacking(monkeypatch: pytest.MonkeyPatch, limit: str, reason: str) -> None:
    # The limits are lowered rather than a bomb built: the check reads the sizes the zip declares, not the data.
    monkeypatch.setattr(common, limit, 10_000)
    data = make.epub([("c.xhtml", "<p>" + "spam " * 5_000 + "</p>")])
    with pytest.raises(Unreadable, match=reason):
        extract("epub", data)


def test_owner_password_only_pdf_is_read(build: Build) -> None:
    library = build({"owner.pdf": make.pdf(["Anyone may read this report."], owner_password="boss")})
    assert sentences(library) == ["Anyone may read this report."]


def test_deeply_nested_page_is_read_or_skipped_in_bounded_time(build: Build) -> None:
    page = (
        "<html><body>"
        + "<div>" * 20_000
        + "<p>The deep sentence of a page nested twenty thousand times.</p>"
        + "</div>" * 20_000
        + "</body></html>"
    )
    started = time.perf_counter()
    library = build({"deep.html": page, "fine.txt": "A fine text file.\n"})
    assert time.perf_counter() - started < 30  # a bound that proves "does not hang", not a timing
    assert "fine.txt" in [d.path for d in library.documents]
    assert "deep.html" in [d.path for d in library.documents] or "deep.html" in skipped(library)


def test_sandbox_kills_a_worker_that_takes_too_long() -> None:
    with Sandbox() as sandbox:
        with pytest.raises(Unreadable, match="took longer than 0.5 s"):
            sandbox.call(time.sleep, 30, seconds=0.5)
        # A fresh worker takes the next file.
        assert sandbox.call(len, b"abc", seconds=30) == 3


def test_sandbox_survives_a_crashing_worker() -> None:
    with Sandbox() as sandbox:
        with pytest.raises(Unreadable, match="crashed"):
            sandbox.call(os._exit, 3, seconds=30)
        assert sandbox.call(len, b"ab", seconds=30) == 2


def test_sandbox_reports_a_parser_exception_as_the_reason() -> None:
    with Sandbox() as sandbox, pytest.raises(Unreadable, match="ValueError"):
        sandbox.call(int, "not a number", seconds=30)


# --- loading, cache and check ------------------------------------------------------------------------------------


def test_a_saved_page_s_resource_folder_is_not_read(build: Build) -> None:
    library = build(
        {
            "news/Water tariffs.html": make.news_page(),
            "news/Water tariffs_files/ad-frame.html": make.news_page(site_name="Ad network"),
            "news/Water tariffs_files/style.css": "body {}",
            "other_files/notes.html": make.news_page(),  # no other.html beside it: a folder like any other
        }
    )
    assert [d.path for d in library.documents] == ["news/Water tariffs.html", "other_files/notes.html"]
    assert skipped(library) == {
        "news/Water tariffs_files/ad-frame.html": (
            "part of the saved page news/Water tariffs.html, not a document of its own"
        )
    }


def test_every_format_loads_into_one_library(build: Build) -> None:
    library = build(
        {
            "a.pdf": make.pdf(["The pipeline carries gas to the north."]),
            "b.docx": make.docx_file([("p", "The decree raises the tariff.")]),
            "c.epub": make.epub([("c.xhtml", "<p>The lighthouse keeper wrote letters.</p>")]),
            "d.odt": make.odt("<text:p>The orchard grows apricots.</text:p>"),
            "e.html": make.news_page(),
            "f.htm": make.news_page(site_name="Short Site"),
            "g.txt": "Plain text stays plain.\n",
        }
    )
    assert not skipped(library)
    assert answer(library, "What does the lighthouse keeper write?").quotes[0].document.path == "c.epub"
    assert answer(library, "What fruit grows in the orchard?").quotes[0].document.path == "d.odt"


def test_parallel_extraction_keeps_the_corpus_order(build: Build) -> None:
    files = {f"{i:02d}.pdf": make.pdf([f"Report number {i} covers dam {i}."]) for i in range(8)}
    files.update({"05.html": make.news_page(), "03x.pdf": make.scanned_pdf(), "07.txt": "A text among them.\n"})
    one, two = build(files, workers=1), build(files, workers=2)
    assert [d.path for d in two.documents] == [d.path for d in one.documents] == sorted(set(files) - {"03x.pdf"})
    assert sentences(two) == sentences(one)
    assert skipped(two) == skipped(one) == {"03x.pdf": "no text layer (scanned?)"}


def test_unchanged_documents_are_not_extracted_again_on_reload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_files(tmp_path / "docs", {"a.pdf": make.pdf(["The pipeline carries gas."]), "b.txt": "Text.\n"})
    first = load_library(root, tmp_path / "cache")
    calls = []
    monkeypatch.setattr(SandboxPool, "submit", lambda self, kind, data: calls.append(kind))
    second = load_library(root, tmp_path / "cache", previous=first)
    assert calls == [] and sentences(second) == sentences(first)


@pytest.mark.parametrize("snapshot", [True, False], ids=["from-snapshot", "from-analysis-cache"])
def test_a_restart_does_not_extract_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot: bool) -> None:
    root = write_files(
        tmp_path / "docs",
        {
            "a.pdf": make.pdf(["Page one text.", "Page two text."]),
            "a.pdf.yml": "source: Agency\ntitle: [not, text]\n",
            "b.html": make.news_page(),
        },
    )
    first = load_library(root, tmp_path / "cache", snapshot=snapshot)
    calls = []
    monkeypatch.setattr(SandboxPool, "submit", lambda self, kind, data: calls.append(kind))
    again = load_library(root, tmp_path / "cache", snapshot=snapshot)
    assert calls == []
    assert again.documents == first.documents
    assert [
        again.sentence(i).page for i in range(again.sentence_count) if again.sentence(i).document.path == "a.pdf"
    ] == [1, 2]
    # The sidecar's warning is still reported when the document comes from the cache.
    assert (
        [s.reason for s in again.skipped] == [s.reason for s in first.skipped] == ["sidecar title ignored (not text)"]
    )


def test_extractor_version_is_part_of_the_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.index import loader
    from bot.text.analyzers import Analyzer

    before = loader.digest(b"%PDF-1.4", Analyzer(), extracted=True)
    monkeypatch.setattr(loader, "EXTRACTOR_VERSION", loader.EXTRACTOR_VERSION + 1)
    assert loader.digest(b"%PDF-1.4", Analyzer(), extracted=True) != before
    assert loader.digest(b"%PDF-1.4", Analyzer(), b"title: T\n", extracted=True) != before


def test_check_lists_formats_and_skipped_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_files(
        tmp_path / "docs",
        {
            "a.pdf": make.pdf(["The pipeline carries gas."]),
            "b.pdf": make.pdf(["The dam is safe."]),
            "c.html": make.news_page(),
            "d.txt": "Plain text.\n",
            "e.pdf": make.scanned_pdf(),
        },
    )
    assert main(["check", "--corpus", str(root)]) == 0
    out = capsys.readouterr().out
    assert "formats:   html 1, pdf 2, txt 1" in out
    assert "  e.pdf: no text layer (scanned?)" in out


def test_a_file_extracting_to_more_text_than_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A few kilobytes of EPUB that expand a thousandfold, as a zip of repeated text does.
    book = make.epub([("c1.xhtml", "<p>" + "The dam holds water. " * 50_000 + "</p>")])
    assert len(book) < 20_000
    monkeypatch.setattr(extractors, "MAX_TEXT_CHARS", 100_000)
    with pytest.raises(Unreadable, match="extracts to more than 100,000 characters"):
        extract("epub", book)


@pytest.mark.parametrize(
    ("pages", "sentence"),
    [
        (
            ["Opening text. The first turbine hall of the dam was built by the", "Engineer Rufus Firefly in 1802."],
            "The first turbine hall of the dam was built by the Engineer Rufus Firefly in 1802.",
        ),
        (
            ["Opening text. The new spillway of the northern dam was designed by", "Rufus Firefly and his crew."],
            "The new spillway of the northern dam was designed by Rufus Firefly and his crew.",
        ),
    ],
)
def test_pdf_sentence_cut_before_a_capitalised_name_is_rejoined(build: Build, pages: list[str], sentence: str) -> None:
    assert sentence in sentences(build({"cut.pdf": make.pdf(pages)}))


def test_pdf_page_ending_a_heading_or_sentence_is_not_joined_to_the_next(build: Build) -> None:
    found = extract("pdf", make.pdf(["The dam holds water.\n\nResults", "Turbines were replaced in spring."]))
    assert "Results Turbines" not in found.text


def test_epub_doctype_with_an_internal_subset_leaves_no_residue() -> None:
    book = make.epub([("c1.xhtml", "<p>The dam holds water.</p>")])
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members["OEBPS/text/c1.xhtml"] = members["OEBPS/text/c1.xhtml"].replace(
        b"<html", b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" [\n<!ENTITY dam "the dam">\n]>\n<html', 1
    )
    mimetype = members.pop("mimetype").decode()
    found = extract("epub", make._zip(members, first=("mimetype", mimetype)))
    assert "]>" not in found.text and "ENTITY" not in found.text
    assert found.text.strip().endswith("The dam holds water.")
