"""Small documents of every extracted format, written by the tests themselves: PDF, DOCX, EPUB, ODT and HTML."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

import docx
from fpdf import FPDF

PAGE_WIDTH = 190  # mm of text on an A4 page with fpdf2's default margins


def pdf(
    pages: Sequence[str | tuple[str, str]],
    *,
    header: str | None = None,
    page_numbers: bool = False,
    title: str | None = None,
    user_password: str | None = None,
    owner_password: str | None = None,
    width: float = PAGE_WIDTH,
) -> bytes:
    """A PDF with one page per item: text in one column, or a (left, right) pair in two columns.

    A "\\n" in the text is a forced line break, so tests can place a hyphen at a line end.
    """
    document = FPDF()
    document.set_auto_page_break(False)
    document.set_font("Helvetica", size=11)
    if title is not None:
        document.set_title(title)
    if user_password is not None or owner_password is not None:
        document.set_encryption(owner_password=owner_password or "owner", user_password=user_password)
    for number, page in enumerate(pages, 1):
        document.add_page()
        if header is not None:
            document.set_xy(10, 8)
            document.cell(0, 5, header)
        if isinstance(page, tuple):
            left, right = page
            document.set_xy(10, 30)
            document.multi_cell(85, 5, left)
            document.set_xy(110, 30)
            document.multi_cell(85, 5, right)
        else:
            document.set_xy(10, 30)
            document.multi_cell(width, 5, page)
        if page_numbers:
            document.set_xy(100, 285)
            document.cell(10, 5, str(number))
    return bytes(document.output())


def scanned_pdf(pages: int = 2) -> bytes:
    """A PDF whose pages hold only drawings: what a scanner without OCR makes."""
    document = FPDF()
    for _ in range(pages):
        document.add_page()
        document.rect(20, 20, 150, 200, style="F")
    return bytes(document.output())


def docx_file(
    blocks: Sequence[tuple[str, object]],
    *,
    title: str | None = None,
    author: str | None = None,
    language: str | None = None,
) -> bytes:
    """A DOCX of ("heading", text) / ("title", text) / ("p", text) / ("table", rows) blocks, in order."""
    document = docx.Document()
    for kind, value in blocks:
        if kind == "heading":
            document.add_heading(str(value), level=1)
        elif kind == "title":
            document.add_heading(str(value), level=0)
        elif kind == "table":
            rows = list(value)  # type: ignore[call-overload]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(str(value))
    properties = document.core_properties
    properties.title = title or ""
    properties.author = author if author is not None else properties.author
    if language is not None:
        properties.language = language
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _zip(members: dict[str, str | bytes], first: tuple[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if first is not None:
            archive.writestr(zipfile.ZipInfo(first[0]), first[1])  # stored, uncompressed, first: as the specs ask
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def epub(
    chapters: Sequence[tuple[str, str]],
    *,
    spine: Sequence[int] | None = None,
    title: str = "A Book",
    creator: str = "Jane Author",
    date: str = "2024-03-01",
    language: str = "en",
    nav: int | None = None,
    aside: Sequence[int] = (),
) -> bytes:
    """An EPUB 3 with (file name, XHTML body) chapters; `spine` gives the reading order by chapter index.

    Chapter `nav` is the navigation document; chapters in `aside` are in the spine with linear="no".
    """
    order = list(spine) if spine is not None else list(range(len(chapters)))
    items = "".join(
        f'<item id="c{i}" href="text/{name}" media-type="application/xhtml+xml"'
        + (' properties="nav"' if i == nav else "")
        + "/>"
        for i, (name, _) in enumerate(chapters)
    )
    refs = "".join(f'<itemref idref="c{i}"' + (' linear="no"' if i in aside else "") + "/>" for i in order)
    opf = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:identifier id="id">urn:uuid:1</dc:identifier><dc:title>{title}</dc:title>'
        f"<dc:creator>{creator}</dc:creator><dc:date>{date}</dc:date><dc:language>{language}</dc:language>"
        f"</metadata><manifest>{items}</manifest><spine>{refs}</spine></package>"
    )
    container = (
        '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
        "</container>"
    )
    members: dict[str, str | bytes] = {"META-INF/container.xml": container, "OEBPS/content.opf": opf}
    for name, body in chapters:
        members[f"OEBPS/text/{name}"] = (
            '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
            f"<head><title>{name}</title><style>p {{ color: red }}</style></head><body>{body}</body></html>"
        )
    return _zip(members, first=("mimetype", "application/epub+zip"))


ODT_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
)


def odt(body: str, *, title: str | None = None, language: str | None = None, creator: str | None = None) -> bytes:
    """An ODT whose office:text holds `body` (ODF XML with the text: and table: prefixes)."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODT_NAMESPACES} office:version="1.3">'
        f"<office:body><office:text>{body}</office:text></office:body></office:document-content>"
    )
    fields = "".join(
        f"<{tag}>{value}</{tag}>"
        for tag, value in (("dc:title", title), ("dc:language", language), ("meta:initial-creator", creator))
        if value
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ODT_NAMESPACES} office:version="1.3">'
        f"<office:meta>{fields}<meta:creation-date>2011-01-01T00:00:00</meta:creation-date></office:meta>"
        "</office:document-meta>"
    )
    return _zip(
        {"content.xml": content, "meta.xml": meta}, first=("mimetype", "application/vnd.oasis.opendocument.text")
    )


def news_page(
    *,
    site_name: str = "The official website of the Ministry of Energy of the Republic",
    head: str = '<link rel="canonical" href="https://www.example.gov/news/water-tariffs">',
    lang: str = "en-GB",
    saved_from: str | None = None,
) -> str:
    """A saved news article with all a real one has around the text: menus, a cookie banner, teasers, comments."""
    comment = f"<!-- saved from url=({len(saved_from):04d}){saved_from} -->\n" if saved_from else ""
    return f"""<!DOCTYPE html>
{comment}<html lang="{lang}"><head><meta charset="utf-8">
<title>Water tariffs for 2026 | Ministry of Energy</title>
<meta property="og:title" content="Water tariffs for 2026">
<meta property="og:site_name" content="{site_name}">
<meta name="description" content="New water tariffs approved.">
{head}
</head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/contacts">Contacts and press office</a></li></ul></nav></header>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience on our website.
<button>Accept all cookies</button></div>
<main><article>
<h1>Water tariffs for 2026</h1>
<p class="date">Published 15 January 2026</p>
<p>The ministry approved new water tariffs for households on Monday after a long public consultation.</p>
<p>The tariff rises by four percent in the southern regions from the first of March.</p>
<p>Pensioners keep their discount of twenty percent under the new rules, the minister said.</p>
<h2>What changes for businesses</h2>
<p>Industrial consumers pay the same rate as last year until the end of the summer season.</p>
</article>
<aside class="related-news"><h3>Related news</h3><ul>
<li><a href="/n1">Minister visits the new hydro plant in the eastern mountains</a></li>
<li><a href="/n2">Electricity prices frozen until summer says the regulator</a></li></ul></aside>
<section id="comments" class="comments"><h3>Comments (2)</h3>
<div class="comment"><p>This is outrageous, the prices always go up and nobody listens to us!</p></div>
<div class="comment"><p>Finally some good news for the pensioners of our town.</p></div></section>
</main>
<footer><p>Copyright 2026 Ministry of Energy. All rights reserved. Subscribe to our newsletter.</p></footer>
</body></html>"""
