"""OpenDocument text (ODT): paragraphs, headings and lists of content.xml, the metadata of meta.xml."""

from __future__ import annotations

from typing import Any

from bot.ingest.formats.common import (
    Extracted,
    author,
    clean,
    first_text,
    language_tag,
    local_name,
    member,
    open_zip,
    paragraphs,
    parse_xml,
)


def extract_odt(data: bytes) -> Extracted:
    """An OpenDocument text's headings, paragraphs, lists and tables in order, and its title and language."""
    archive = open_zip(data, "ODT")
    content = parse_xml(member(archive, "content.xml", "ODT"), "ODT", "content.xml")
    parts: list[str] = []
    body = next((e for e in content.iter("{*}text") if local_name(e.getparent().tag) == "body"), None)
    if body is not None:
        _odt_blocks(body, parts)
    meta = (
        parse_xml(member(archive, "meta.xml", "ODT"), "ODT", "meta.xml") if "meta.xml" in archive.namelist() else None
    )
    found = (lambda name: first_text(meta, name)) if meta is not None else (lambda name: None)
    first_heading = next((p[2:] for p in parts if p.startswith("# ")), None)
    # meta.xml's dates are the file's creation and last save, not a publication date: left out.
    return Extracted(
        text=paragraphs(parts),
        title=clean(found("title")) or first_heading,
        source=author(found("initial-creator")),
        language=language_tag(found("language")),
    )


def _odt_blocks(element: Any, parts: list[str]) -> None:
    for child in element:
        name = local_name(child.tag)
        if name == "h":
            parts.append("# " + _odt_inline(child))
        elif name == "p":
            parts.append(_odt_inline(child))
        elif name == "table":
            for row in (e for e in child.iter() if local_name(e.tag) == "table-row"):
                cells = [
                    " ".join(_odt_inline(p) for p in c if local_name(p.tag) in {"p", "h"})
                    for c in row
                    if local_name(c.tag) == "table-cell"
                ]
                line = " | ".join(c for c in (" ".join(c.split()) for c in cells) if c)
                parts.append(line)
        elif name in {"list", "list-item", "list-header", "section", "index-body"} or name.endswith("-index"):
            _odt_blocks(child, parts)


def _odt_inline(element: Any) -> str:
    """A paragraph's text: spans followed, `<text:s text:c="3"/>` as spaces, notes and annotations left out."""
    out = [element.text or ""]
    for child in element:
        name = local_name(child.tag)
        if name == "s":
            out.append(" " * int(child.get("{urn:oasis:names:tc:opendocument:xmlns:text:1.0}c", "1") or 1))
        elif name in {"tab", "line-break"}:
            out.append(" ")
        elif name not in {"note", "annotation", "bookmark", "bookmark-start", "bookmark-end"}:
            out.append(_odt_inline(child))
        out.append(child.tail or "")
    return "".join(out)
