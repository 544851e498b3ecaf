"""Sidecar metadata: a `report.pdf.yml` beside a file gives or corrects its title, source, date, url and language."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import yaml

from bot.ingest.corpus import Document
from bot.ingest.formats.common import Extracted, clean, language_tag

SIDECAR_SUFFIX = ".yml"
SIDECAR_FIELDS = ("title", "source", "date", "url", "language")
MAX_SIDECAR_BYTES = 64_000


def read_sidecar(data: bytes) -> tuple[dict[str, Any], str | None]:
    """The metadata of a `report.pdf.yml` sidecar (text and date values, alternates) and a warning, if any."""
    if len(data) > MAX_SIDECAR_BYTES:
        return {}, f"sidecar ignored (larger than {MAX_SIDECAR_BYTES // 1000} KB)"
    try:
        loaded = yaml.safe_load(data.decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        return {}, f"sidecar ignored ({type(exc).__name__})"
    if loaded is None:
        return {}, None
    if not isinstance(loaded, dict):
        return {}, "sidecar ignored (not key: value pairs)"
    fields: dict[str, Any] = {}
    if isinstance(loaded.get("alternates"), dict):
        fields["alternates"] = alternates(loaded["alternates"])
    ignored = []
    for name in SIDECAR_FIELDS:
        value = loaded.get(name)
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            value = value.isoformat()
        if value is None:
            continue
        text = clean(value, 2000)
        if text is None:
            ignored.append(name)
            continue
        fields[name] = language_tag(text) or text if name == "language" else text
    return fields, f"sidecar {', '.join(ignored)} ignored (not text)" if ignored else None


def alternates(value: dict[Any, Any]) -> tuple[tuple[str, str], ...]:
    """An `alternates: {ru: https://…}` mapping as sorted (language, url) pairs; anything else left out."""
    pairs = {}
    for language, url in value.items():
        code, link = language_tag(language), clean(url, 2000)
        if code and link and link.startswith(("http://", "https://")):
            pairs[code] = link
    return tuple(sorted(pairs.items()))


def with_sidecar(extracted: Extracted, data: bytes) -> Extracted:
    """The extraction with the sidecar's fields put over what the file itself said."""
    fields, warning = read_sidecar(data)
    notes = "; ".join(n for n in (extracted.warning, warning) if n) or None
    # `fields` holds only Extracted's text fields (read_sidecar keeps SIDECAR_FIELDS), each a str.
    return replace(extracted, **fields, warning=notes)


def document_with_sidecar(document: Document, data: bytes) -> tuple[Document, str | None]:
    """A text file's Document with the sidecar's fields put over its front matter, and the sidecar's warning."""
    fields, warning = read_sidecar(data)
    made = document.title_made and "title" not in fields
    return replace(document, **fields, title_made=made), warning
