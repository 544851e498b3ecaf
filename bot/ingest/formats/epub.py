"""EPUB books: the spine's XHTML chapters in reading order, the package's metadata."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote

from bot.ingest.formats.common import (
    Extracted,
    Unreadable,
    author,
    clean,
    first_text,
    iso_date,
    language_tag,
    local_name,
    member,
    open_zip,
    paragraphs,
    parse_xml,
)

XHTML_BLOCKS = frozenset("p div li h1 h2 h3 h4 h5 h6 blockquote pre dt dd td th tr caption figcaption section".split())
XHTML_SKIP = frozenset("script style nav head".split())


def extract_epub(data: bytes) -> Extracted:
    """An EPUB's chapters in reading order (the OPF spine) and its Dublin Core title, creator, date, language."""
    archive = open_zip(data, "EPUB")
    container = parse_xml(member(archive, "META-INF/container.xml", "EPUB"), "EPUB", "META-INF/container.xml")
    rootfile = next((e.get("full-path") for e in container.iter() if local_name(e.tag) == "rootfile"), None)
    if not rootfile:
        raise Unreadable("EPUB without a package document (no rootfile in META-INF/container.xml)")
    package = parse_xml(member(archive, rootfile, "EPUB"), "EPUB", rootfile)
    base = posixpath.dirname(rootfile)
    # The navigation document (a table of contents) is no part of the text, even when the spine lists it.
    manifest = {
        e.get("id"): e.get("href")
        for e in package.iter()
        if local_name(e.tag) == "item" and "nav" not in (e.get("properties") or "").split()
    }
    chapters = []
    for itemref in (e for e in package.iter() if local_name(e.tag) == "itemref" and e.get("linear") != "no"):
        href = manifest.get(itemref.get("idref"))
        if not href:
            continue
        name = posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0])))
        chapters.append(_xhtml_text(member(archive, name, "EPUB")))
    return Extracted(
        text="\n\n".join(c for c in chapters if c),
        title=clean(first_text(package, "title")),
        source=author(first_text(package, "creator")),
        date=iso_date(first_text(package, "date")),
        language=language_tag(first_text(package, "language")),
    )


# The HTML parser reads no DTD: an internal subset (`<!DOCTYPE html [<!ENTITY …>]>`) would be left as text.
DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(?:\[.*?\]\s*)?>", re.IGNORECASE | re.DOTALL)


def _without_doctype(data: bytes) -> bytes:
    """The chapter without its document type declaration, which only ever comes before the root element."""
    at = data[:4096].upper().find(b"<!DOCTYPE")
    if at < 0:
        return data
    found = DOCTYPE.match(data, at)
    return data[:at] + data[found.end() :] if found else data


def _xhtml_text(data: bytes) -> str:
    """The text of an XHTML chapter, one paragraph per block element, headings marked as headings."""
    import lxml.html

    try:
        root = lxml.html.document_fromstring(_without_doctype(data))
    except Exception:  # lxml raises a handful of types for markup it cannot make a tree of
        return ""
    for element in list(root.iter()):
        name = local_name(element.tag).lower()
        if name in XHTML_SKIP and element.getparent() is not None:
            element.drop_tree()
    for element in root.iter():
        name = local_name(element.tag).lower()
        if name in XHTML_BLOCKS or name == "br":
            prefix = "# " if name in {"h1", "h2", "h3", "h4", "h5", "h6"} else ""
            element.text = "\n\n" + prefix + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
    body = root.find("body")
    content = (body if body is not None else root).text_content()
    return paragraphs(re.split(r"\n\s*\n", content))
