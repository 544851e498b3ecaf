"""Word documents (DOCX) through python-docx: paragraphs and table rows, the core properties."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from io import BytesIO
from typing import Any

from bot.ingest.formats.common import (
    Extracted,
    Unreadable,
    author,
    clean,
    language_tag,
    paragraphs,
)


def extract_docx(data: bytes) -> Extracted:
    """A Word document's paragraphs and tables in order (python-docx), Heading styles kept as headings."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Unreadable(f"not a readable DOCX ({type(exc).__name__}: {exc})") from None
    parts: list[str] = []
    first_heading = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            parts.extend(_docx_rows(block))
            continue
        text = " ".join(block.text.split())
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        if style == "Title" or style.startswith("Heading"):
            first_heading = first_heading or text
            text = "# " + text  # a heading stands as a sentence of its own (see text.blocks)
        parts.append(text)
    core = document.core_properties
    # Core dates are when the file (or the template it came from) was made, not when the text was published.
    return Extracted(
        text=paragraphs(parts),
        title=clean(core.title) or first_heading,
        source=author(core.author),
        language=language_tag(core.language),
    )


def _docx_rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            # A merged cell comes back once per grid column it spans.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            yield " | ".join(cells)
