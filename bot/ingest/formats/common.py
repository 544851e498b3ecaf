"""What every format's extractor shares: the result, the error, metadata clean-up and zip containers."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import Any

TITLE_CHARS = 200
# Zip members larger than this (uncompressed) are not read: no EPUB chapter or ODT content is that big.
MAX_MEMBER_BYTES = 64 << 20
MAX_ZIP_BYTES = 256 << 20
# Titles that document generators write when the author wrote none.
GENERATED_TITLE = re.compile(
    r"^(?:microsoft (?:word|powerpoint|excel) - |untitled|document\d*$|slide \d|powerpoint presentation$)"
    r"|\.(?:docx?|pdf|indd|odt|rtf|pptx?|xlsx?|txt|qxd|tex|dvi)$",
    re.IGNORECASE,
)
# Authors that office software fills in by itself.
GENERATED_AUTHORS = frozenset(
    {"python-docx", "microsoft office user", "windows user", "administrator", "admin", "user", "author", "unknown"}
)


@dataclass(frozen=True)
class Extracted:
    """What a file says and how to cite it; `pages` holds the offset in `text` where each page starts."""

    text: str
    title: str | None = None
    source: str | None = None
    date: str | None = None
    url: str | None = None
    language: str | None = None
    pages: tuple[int, ...] = ()
    warning: str | None = None
    alternates: tuple[tuple[str, str], ...] = ()  # (language, url) of the same text in other languages


class Unreadable(Exception):
    """A file that cannot be read as its format: the message is the reason shown to the user."""


# --- helpers -----------------------------------------------------------------------------------------------------


def clean(value: object, chars: int = TITLE_CHARS) -> str | None:
    """A metadata value as one trimmed line, or None when it is empty or not text."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text[:chars] or None


def language_tag(value: object) -> str | None:
    """An ISO 639 code out of a language tag: `en-GB` → `en`."""
    text = clean(value)
    if not text:
        return None
    code = re.split(r"[-_]", text, maxsplit=1)[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None


def iso_date(value: object) -> str | None:
    """The date part of an ISO-8601 date or timestamp, or None."""
    text = clean(value)
    if not text:
        return None
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})", text)
    if match is None:
        return text if re.fullmatch(r"\d{4}", text) else None
    try:
        return dt.date(*map(int, match.groups())).isoformat()
    except ValueError:
        return None


def paragraphs(parts: Iterator[str] | list[str]) -> str:
    """Paragraphs joined by blank lines, each on one line."""
    return "\n\n".join(p for p in (" ".join(part.split()) for part in parts) if p)


def author(value: object) -> str | None:
    name = clean(value)
    return None if name is None or name.casefold() in GENERATED_AUTHORS else name


# --- EPUB and ODT: zip containers of XML -------------------------------------------------------------------------


def open_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise Unreadable(f"not a readable {kind} (not a zip container: {exc})") from None
    if sum(info.file_size for info in archive.infolist()) > MAX_ZIP_BYTES:
        raise Unreadable(f"{kind} unpacks to more than {MAX_ZIP_BYTES >> 20} MB (a zip bomb?)")
    return archive


def member(archive: zipfile.ZipFile, name: str, kind: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise Unreadable(f"{kind} without {name}") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise Unreadable(f"{kind} part {name} is larger than {MAX_MEMBER_BYTES >> 20} MB")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
        raise Unreadable(f"{kind} part {name} cannot be unpacked ({exc})") from None


def parse_xml(data: bytes, kind: str, name: str) -> Any:
    from lxml import etree

    # No entities, no DTDs, no network: a container's XML is data, never instructions to fetch or expand.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise Unreadable(f"{kind} part {name} is not well-formed XML ({exc})") from None


def local_name(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def first_text(root: Any, name: str) -> str | None:
    for element in root.iter():
        if local_name(element.tag) == name and (element.text or "").strip():
            return element.text
    return None
