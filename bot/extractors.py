"""Text and metadata out of saved web pages, PDF, DOCX, EPUB and ODT files, each through the library made for it.

Every function here takes a file's bytes and returns an `Extracted` or raises `Unreadable` with the reason.
Parsers of hostile input can hang or crash, so the loader calls `extract` through a `Sandbox`: a worker
process with a time and memory limit, which is killed and replaced when a file misbehaves.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import multiprocessing
import os
import posixpath
import queue
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from io import BytesIO
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

# Bump when any extractor's output changes: cached analyses of extracted files then stop matching.
EXTRACTOR_VERSION = 1
FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx", ".epub": "epub", ".odt": "odt"}
SIDECAR_SUFFIX = ".yml"
SIDECAR_FIELDS = ("title", "source", "date", "url", "language")
MAX_SIDECAR_BYTES = 64_000
# A worker gets this long per file, plus a second per megabyte; a file that takes longer is skipped.
BASE_SECONDS = 20.0
SECONDS_PER_MB = 1.0
# Address space of a worker: a zip or image bomb fails with MemoryError instead of swapping the machine.
WORKER_MEMORY = 3 << 30
# Zip members larger than this (uncompressed) are not read: no EPUB chapter or ODT content is that big.
MAX_MEMBER_BYTES = 64 << 20
MAX_ZIP_BYTES = 256 << 20
TITLE_CHARS = 200
# A site name with more words than this is a slogan or a sentence ("The official website of…"), not a name.
SITE_NAME_WORDS = 5
# Running headers and footers: lines at the top or bottom of at least this share of pages (and 3 pages).
RUNNING_SHARE = 0.5
RUNNING_MIN_PAGES = 3
EDGE_LINES = 2
# A line that is only a page number: "14", "- 14 -", "Page 3 of 20", "стр. 5".
PAGE_NUMBER = re.compile(
    r"^\W*(?:page|p\.|стр\.?|страница)?\s*\d{1,4}(?:\s*(?:of|/|из)\s*\d{1,4})?\W*$", re.IGNORECASE
)
# PDFium marks a hyphen it saw at a line end with U+FFFE (older builds: U+0002) instead of a line break.
SOFT_HYPHENS = "\ufffe\x02"
SENTENCE_END = re.compile(r"[.!?:;…»\"”)]$")
LIST_START = re.compile(r"^(?:[•▪●◦‣·–—-]\s|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s)")
# Publication dates from the page's markup only: a date guessed from the text is as often a date it mentions.
DATE_SEARCH = {"extensive_search": False, "original_date": True}
SAVED_FROM = re.compile(rb"<!--\s*saved from url=\(\d+\)\s*(\S+?)\s*-->", re.IGNORECASE)
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


class Unreadable(Exception):
    """A file that cannot be read as its format: the message is the reason shown to the user."""


def format_of(path: str) -> str | None:
    """The extracted format a file name asks for ("pdf", "html", …), or None for plain text and the rest."""
    suffix = posixpath.splitext(path.lower())[1]
    return FORMATS.get(suffix)


def extract(kind: str, data: bytes) -> Extracted:
    """Turn a file's bytes into text and metadata by its format; raise Unreadable with the reason."""
    readers: dict[str, Callable[[bytes], Extracted]] = {
        "html": extract_html, "pdf": extract_pdf, "docx": extract_docx, "epub": extract_epub, "odt": extract_odt,
    }
    if not data.strip():
        raise Unreadable("empty file")
    extracted = readers[kind](data)
    if not extracted.text.strip():
        raise Unreadable("no text found")
    return extracted


# --- helpers -----------------------------------------------------------------------------------------------------


def _clean(value: object, chars: int = TITLE_CHARS) -> str | None:
    """A metadata value as one trimmed line, or None when it is empty or not text."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text[:chars] or None


def _language(value: object) -> str | None:
    """An ISO 639 code out of a language tag: `en-GB` → `en`."""
    text = _clean(value)
    if not text:
        return None
    code = re.split(r"[-_]", text, maxsplit=1)[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None


def _iso_date(value: object) -> str | None:
    """The date part of an ISO-8601 date or timestamp, or None."""
    text = _clean(value)
    if not text:
        return None
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})", text)
    if match is None:
        return text if re.fullmatch(r"\d{4}", text) else None
    try:
        return dt.date(*map(int, match.groups())).isoformat()
    except ValueError:
        return None


def _paragraphs(parts: Iterator[str] | list[str]) -> str:
    """Paragraphs joined by blank lines, each on one line."""
    return "\n\n".join(p for p in (" ".join(part.split()) for part in parts) if p)


def _author(value: object) -> str | None:
    name = _clean(value)
    return None if name is None or name.casefold() in GENERATED_AUTHORS else name


# --- HTML --------------------------------------------------------------------------------------------------------


def extract_html(data: bytes) -> Extracted:
    """A saved web page's main text (trafilatura, precision first) and its title, site, date, url and language."""
    import trafilatura
    from trafilatura.utils import load_html

    # Raw bytes: trafilatura finds the charset itself, from the meta tag or by detection.
    tree = load_html(data)
    if tree is None:
        raise Unreadable("not an HTML page trafilatura can parse")
    language = _language(tree.get("lang")) or _language(_meta(tree, "http-equiv", "content-language"))
    url = _page_url(tree, data)
    found = trafilatura.bare_extraction(
        tree, url=url, favor_precision=True, with_metadata=True, include_comments=False, include_tables=True,
        deduplicate=False, date_extraction_params=DATE_SEARCH,
    )
    if found is None or not (found.text or "").strip():
        raise Unreadable("no main text found in the page")
    site = _clean(found.sitename)
    host = _host(url or found.url) or _clean(found.hostname)
    if site is None or len(site.split()) > SITE_NAME_WORDS or site.endswith((".", "!", "?")):
        site = host
    title = _clean(found.title)
    # trafilatura puts each paragraph, heading or list item on a line of its own.
    lines = found.text.split("\n")
    if title and lines and " ".join(lines[0].split()).casefold() == title.casefold():
        lines = lines[1:]  # the headline is the title: cited with every quote, never quoted as an answer itself
    text = _paragraphs(lines)
    return Extracted(
        text=text, title=title, source=site, date=_iso_date(found.date), url=url or _clean(found.url),
        language=language or _language(found.language),
    )


def _meta(tree: Any, attribute: str, value: str) -> str | None:
    for element in tree.iter("meta"):
        if (element.get(attribute) or "").strip().lower() == value:
            return element.get("content")
    return None


def _web_url(value: object) -> str | None:
    url = _clean(value, 2000)
    return url if url and url.startswith(("http://", "https://")) and _host(url) else None


def _page_url(tree: Any, data: bytes) -> str | None:
    """The page's own address: canonical link, og:url, JSON-LD, then a browser's "saved from" comment."""
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and _web_url(link.get("href")):
            return _web_url(link.get("href"))
    og = _web_url(_meta(tree, "property", "og:url"))
    if og:
        return og
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json":
            url = _json_ld_url(script.text or "")
            if url:
                return url
    saved = SAVED_FROM.search(data[:4096])
    return _web_url(saved.group(1).decode("ascii", "replace")) if saved else None


def _json_ld_url(text: str) -> str | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    items = value if isinstance(value, list) else [value]
    if isinstance(value, dict) and isinstance(value.get("@graph"), list):
        items = value["@graph"]
    for item in items:
        if isinstance(item, dict):
            page = item.get("mainEntityOfPage")
            for candidate in (item.get("url"), page.get("@id") if isinstance(page, dict) else page):
                if _web_url(candidate):
                    return _web_url(candidate)
    return None


def _host(url: str | None) -> str | None:
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:  # "http://[not-an-address]/": a page with a broken link is still a page
        return None
    return host.removeprefix("www.") if host else None


# --- PDF ---------------------------------------------------------------------------------------------------------


def extract_pdf(data: bytes) -> Extracted:
    """A PDF's text page by page (PDFium), hyphenation undone, running headers and footers dropped."""
    import pypdfium2 as pdfium

    head = data[:1024]
    if b"%PDF-" not in head:
        if re.search(rb"<(?:!doctype html|html|head|body)\b", head, re.IGNORECASE):
            raise Unreadable("not a PDF: an HTML page saved with a .pdf name")
        raise Unreadable("not a PDF (no %PDF header)")
    if b"%%EOF" not in data[-2048:]:
        raise Unreadable("truncated PDF (no end-of-file marker): the file was cut short")
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise Unreadable(_pdfium_reason(exc)) from None
    try:
        pages = [_page_lines(document[i]) for i in range(len(document))]
        metadata = document.get_metadata_dict(skip_empty=True)
    finally:
        document.close()
    if not any(line.strip() for lines in pages for line in lines):
        raise Unreadable("no text layer (scanned?)")
    hyphenated = set(HYPHENATED_WORD.findall(" ".join(line for lines in pages for line in lines).casefold()))
    pages = _drop_running_lines(pages)
    text, starts = _join_pages([_rebuild(lines, hyphenated) for lines in pages], hyphenated)
    if not re.search(r"\w{2}", text):
        raise Unreadable("no text layer (scanned?)")
    return Extracted(text=text, title=_pdf_title(metadata.get("Title"), text[:5000]), pages=tuple(starts))


def _pdfium_reason(exc: Exception) -> str:
    code = getattr(exc, "err_code", None)
    reasons = {
        2: "PDF cannot be opened (file error)",
        3: "damaged PDF (PDFium: data format error)",
        4: "password-protected PDF: it cannot be read without the password",
        5: "PDF with an unsupported security handler",
        6: "damaged PDF (PDFium: page error)",
    }
    return reasons.get(code, f"damaged PDF ({exc})")


def _page_lines(page: Any) -> list[str]:
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_range()
    finally:
        textpage.close()
        page.close()
    return raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _edge_key(line: str) -> str:
    # Page numbers change from page to page; the rest of a running header does not.
    return re.sub(r"\d+", "#", " ".join(line.casefold().split()))


def _edges(lines: list[str]) -> tuple[list[int], list[int]]:
    """Where a page's running lines could be: its first and last lines, never the body of a short page."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    edge = min(EDGE_LINES, len(filled) // 3)
    return filled[:edge], filled[len(filled) - edge :]


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Pages without running headers and footers (repeated at the top or bottom of most pages) or page numbers."""
    tops: Counter[str] = Counter()
    bottoms: Counter[str] = Counter()
    for lines in pages:
        top, bottom = _edges(lines)
        tops.update({_edge_key(lines[i]) for i in top})
        bottoms.update({_edge_key(lines[i]) for i in bottom})
    need = max(RUNNING_MIN_PAGES, RUNNING_SHARE * len(pages))
    running_top = {key for key, n in tops.items() if n >= need}
    running_bottom = {key for key, n in bottoms.items() if n >= need}
    cleaned = []
    for lines in pages:
        top, bottom = _edges(lines)
        drop = {i for i in top if _edge_key(lines[i]) in running_top}
        drop |= {i for i in bottom if _edge_key(lines[i]) in running_bottom}
        drop |= {i for i in top + bottom if PAGE_NUMBER.match(lines[i].strip())}
        cleaned.append([line for i, line in enumerate(lines) if i not in drop])
    return cleaned


def _rebuild(lines: list[str], hyphenated: set[str]) -> list[str]:
    """One page's lines joined into paragraphs: a short line that ends a sentence, or a heading, ends one."""
    lines = [line.strip() for line in lines]
    lengths = [len(line) for line in lines if line]
    if not lengths:
        return []
    # The width of a full line: most lines of a page are full, and a page with few lines has at least one.
    width = sorted(lengths)[round(0.8 * (len(lengths) - 1))]
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if current and (not line or LIST_START.match(line)):
            paragraphs.append(current)
            current = ""
        if not line:
            continue
        current = f"{current[:-1]}{SOFT_HYPHENS[0]}{line}" if _hyphen_at_end(current) else f"{current} {line}".lstrip()
        # A short line closes its paragraph when it ends a sentence, or when it is shorter still: a heading.
        short = len(line) < 0.75 * width
        if (short and _ends_sentence(line)) or (len(line) < 0.4 * width and not _hyphen_at_end(line)):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    # A soft hyphen left over is one PDFium saw without a word on both sides: show it as the hyphen it was.
    return [_rejoin_words(p, hyphenated).replace("\ufffe", "-").replace("\x02", "-") for p in paragraphs]


def _hyphen_at_end(text: str) -> bool:
    # Only the last two characters are looked at: a pattern anchored at the end still scans the whole text.
    return HYPHEN_AT_END.fullmatch(text[-2:]) is not None


def _ends_sentence(text: str) -> bool:
    return SENTENCE_END.search(text[-1:]) is not None


HYPHEN_AT_END = re.compile(r"\w[-\ufffe\x02]")
LAST_WORD = re.compile(r"(\w+)[-\ufffe\x02]$")
# Patterns over whole paragraphs start at a word boundary: from inside a long run of letters each would rescan it.
SOFT_SPLIT = re.compile(r"\b(\w+)[\ufffe\x02](\w*)")
HYPHENATED_WORD = re.compile(r"\b\w+-\w+")


def _word_pair(left: str, right: str, hyphenated: set[str]) -> str:
    # A capital after the hyphen is a compound name; a form the document also writes hyphenated keeps its hyphen.
    if not right or right[:1].isupper() or right[:1].isdigit() or f"{left}-{right}".casefold() in hyphenated:
        return f"{left}-{right}"
    return left + right


def _rejoin_words(text: str, hyphenated: set[str]) -> str:
    """Words split at a line end rejoined: `electri-city` → `electricity`; `Ust-Kamenogorsk`, `well-known` stay."""
    return SOFT_SPLIT.sub(lambda m: _word_pair(m[1], m[2], hyphenated), text)


def _join_pages(pages: list[list[str]], hyphenated: set[str]) -> tuple[str, list[int]]:
    """The pages' paragraphs as one text, and where each page starts; a sentence cut by a page break is rejoined."""
    text = ""
    starts = []
    for paragraphs in pages:
        if not paragraphs:
            starts.append(len(text))
            continue
        body = "\n\n".join(paragraphs)
        split = LAST_WORD.search(text[-100:]) if _hyphen_at_end(text) else None
        following = re.match(r"\w+", body)
        if split and following:
            # A word hyphenated across the page break is rejoined; the page starts after it.
            text = text[: len(text) - len(split[0])] + _word_pair(split[1], following[0], hyphenated)
            starts.append(len(text))
            text += body[following.end() :]
            continue
        joiner = " " if text and not _ends_sentence(text) and body[:1].islower() else "\n\n" if text else ""
        starts.append(len(text) + len(joiner))
        text += joiner + body
    return text, starts


def _pdf_title(value: object, opening: str) -> str | None:
    """The /Title entry, if it is a real title: not a file name or a generator's default, and found in the text."""
    title = _clean(value)
    if title is None or GENERATED_TITLE.search(title) or not re.search(r"\w\w", title):
        return None
    words = re.findall(r"\w+", title.casefold())
    found = set(re.findall(r"\w+", opening.casefold()))
    # Templates leave titles of documents long gone; a real one is mostly found on the first pages.
    return title if sum(w in found for w in words) >= len(words) / 2 else None


# --- DOCX --------------------------------------------------------------------------------------------------------


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
        text=_paragraphs(parts), title=_clean(core.title) or first_heading, source=_author(core.author),
        language=_language(core.language),
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


# --- EPUB and ODT: zip containers of XML -------------------------------------------------------------------------


def _open_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise Unreadable(f"not a readable {kind} (not a zip container: {exc})") from None
    if sum(info.file_size for info in archive.infolist()) > MAX_ZIP_BYTES:
        raise Unreadable(f"{kind} unpacks to more than {MAX_ZIP_BYTES >> 20} MB (a zip bomb?)")
    return archive


def _member(archive: zipfile.ZipFile, name: str, kind: str) -> bytes:
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


def _xml(data: bytes, kind: str, name: str) -> Any:
    from lxml import etree

    # No entities, no DTDs, no network: a container's XML is data, never instructions to fetch or expand.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise Unreadable(f"{kind} part {name} is not well-formed XML ({exc})") from None


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _first_text(root: Any, name: str) -> str | None:
    for element in root.iter():
        if _local(element.tag) == name and (element.text or "").strip():
            return element.text
    return None


XHTML_BLOCKS = frozenset("p div li h1 h2 h3 h4 h5 h6 blockquote pre dt dd td th tr caption figcaption section".split())
XHTML_SKIP = frozenset("script style nav head".split())


def extract_epub(data: bytes) -> Extracted:
    """An EPUB's chapters in reading order (the OPF spine) and its Dublin Core title, creator, date, language."""
    archive = _open_zip(data, "EPUB")
    container = _xml(_member(archive, "META-INF/container.xml", "EPUB"), "EPUB", "META-INF/container.xml")
    rootfile = next((e.get("full-path") for e in container.iter() if _local(e.tag) == "rootfile"), None)
    if not rootfile:
        raise Unreadable("EPUB without a package document (no rootfile in META-INF/container.xml)")
    package = _xml(_member(archive, rootfile, "EPUB"), "EPUB", rootfile)
    base = posixpath.dirname(rootfile)
    # The navigation document (a table of contents) is no part of the text, even when the spine lists it.
    manifest = {
        e.get("id"): e.get("href") for e in package.iter()
        if _local(e.tag) == "item" and "nav" not in (e.get("properties") or "").split()
    }
    chapters = []
    for itemref in (e for e in package.iter() if _local(e.tag) == "itemref" and e.get("linear") != "no"):
        href = manifest.get(itemref.get("idref"))
        if not href:
            continue
        name = posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0])))
        chapters.append(_xhtml_text(_member(archive, name, "EPUB")))
    return Extracted(
        text="\n\n".join(c for c in chapters if c), title=_clean(_first_text(package, "title")),
        source=_author(_first_text(package, "creator")), date=_iso_date(_first_text(package, "date")),
        language=_language(_first_text(package, "language")),
    )


def _xhtml_text(data: bytes) -> str:
    """The text of an XHTML chapter, one paragraph per block element, headings marked as headings."""
    import lxml.html

    try:
        root = lxml.html.document_fromstring(data)
    except Exception:  # lxml raises a handful of types for markup it cannot make a tree of
        return ""
    for element in list(root.iter()):
        name = _local(element.tag).lower()
        if name in XHTML_SKIP and element.getparent() is not None:
            element.drop_tree()
    for element in root.iter():
        name = _local(element.tag).lower()
        if name in XHTML_BLOCKS or name == "br":
            prefix = "# " if name in {"h1", "h2", "h3", "h4", "h5", "h6"} else ""
            element.text = "\n\n" + prefix + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
    body = root.find("body")
    content = (body if body is not None else root).text_content()
    return _paragraphs(re.split(r"\n\s*\n", content))


def extract_odt(data: bytes) -> Extracted:
    """An OpenDocument text's headings, paragraphs, lists and tables in order, and its title and language."""
    archive = _open_zip(data, "ODT")
    content = _xml(_member(archive, "content.xml", "ODT"), "ODT", "content.xml")
    parts: list[str] = []
    body = next((e for e in content.iter("{*}text") if _local(e.getparent().tag) == "body"), None)
    if body is not None:
        _odt_blocks(body, parts)
    meta = _xml(_member(archive, "meta.xml", "ODT"), "ODT", "meta.xml") if "meta.xml" in archive.namelist() else None
    found = (lambda name: _first_text(meta, name)) if meta is not None else (lambda name: None)
    first_heading = next((p[2:] for p in parts if p.startswith("# ")), None)
    # meta.xml's dates are the file's creation and last save, not a publication date: left out.
    return Extracted(
        text=_paragraphs(parts), title=_clean(found("title")) or first_heading,
        source=_author(found("initial-creator")), language=_language(found("language")),
    )


def _odt_blocks(element: Any, parts: list[str]) -> None:
    for child in element:
        name = _local(child.tag)
        if name == "h":
            parts.append("# " + _odt_inline(child))
        elif name == "p":
            parts.append(_odt_inline(child))
        elif name == "table":
            for row in (e for e in child.iter() if _local(e.tag) == "table-row"):
                cells = [" ".join(_odt_inline(p) for p in c if _local(p.tag) in {"p", "h"}) for c in row
                         if _local(c.tag) == "table-cell"]
                line = " | ".join(c for c in (" ".join(c.split()) for c in cells) if c)
                parts.append(line)
        elif name in {"list", "list-item", "list-header", "section", "index-body"} or name.endswith("-index"):
            _odt_blocks(child, parts)


def _odt_inline(element: Any) -> str:
    """A paragraph's text: spans followed, `<text:s text:c="3"/>` as spaces, notes and annotations left out."""
    out = [element.text or ""]
    for child in element:
        name = _local(child.tag)
        if name == "s":
            out.append(" " * int(child.get("{urn:oasis:names:tc:opendocument:xmlns:text:1.0}c", "1") or 1))
        elif name in {"tab", "line-break"}:
            out.append(" ")
        elif name not in {"note", "annotation", "bookmark", "bookmark-start", "bookmark-end"}:
            out.append(_odt_inline(child))
        out.append(child.tail or "")
    return "".join(out)


# --- sidecar -----------------------------------------------------------------------------------------------------


def read_sidecar(data: bytes) -> tuple[dict[str, str], str | None]:
    """The metadata of a `report.pdf.yml` sidecar (text and date values only) and a warning, if any."""
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
    fields: dict[str, str] = {}
    ignored = []
    for name in SIDECAR_FIELDS:
        value = loaded.get(name)
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            value = value.isoformat()
        if value is None:
            continue
        text = _clean(value, 2000)
        if text is None:
            ignored.append(name)
            continue
        fields[name] = _language(text) or text if name == "language" else text
    return fields, f"sidecar {', '.join(ignored)} ignored (not text)" if ignored else None


def with_sidecar(extracted: Extracted, data: bytes) -> Extracted:
    """The extraction with the sidecar's fields put over what the file itself said."""
    fields, warning = read_sidecar(data)
    notes = "; ".join(n for n in (extracted.warning, warning) if n) or None
    return replace(extracted, **fields, warning=notes)  # type: ignore[arg-type]


# --- pages -------------------------------------------------------------------------------------------------------


def page_at(pages: tuple[int, ...], offset: int) -> int | None:
    """The 1-based page on which a character offset of the text falls, or None for a text without pages."""
    if not pages:
        return None
    return max(1, bisect.bisect_right(pages, offset))


# --- the sandbox -------------------------------------------------------------------------------------------------


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the time limit still holds


def _serve(connection: Connection) -> None:
    """The worker's loop: run each (function, arguments) it is sent and send back ("ok", result) or ("error", why)."""
    _limit_memory()
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        function, arguments = task
        try:
            reply: tuple[str, object] = ("ok", function(*arguments))
        except Unreadable as exc:
            reply = ("error", str(exc))
        except MemoryError:
            reply = ("error", "too large to read within the memory limit")
        except RecursionError:
            reply = ("error", "nested too deeply to read")
        except Exception as exc:  # a parser's own bug on a hostile file: that file is skipped, the worker lives
            reply = ("error", f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})")
        try:
            connection.send(reply)
        except Exception as exc:  # an unpicklable result
            connection.send(("error", f"cannot be read ({type(exc).__name__})"))


def time_limit(size: int) -> float:
    """Seconds a worker may spend on a file of this many bytes."""
    return BASE_SECONDS + SECONDS_PER_MB * size / 1e6


class Sandbox:
    """A worker process that runs extractors under a time and memory limit; a hung or crashed one is replaced."""

    def __init__(self) -> None:
        self._process: Any = None
        self._connection: Connection | None = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> Connection:
        if self._connection is None:
            # spawn, not fork: the bot may hold threads and a large library, neither of which a worker needs.
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child,), daemon=True, name="citebot-extract")
            self._process.start()
            child.close()
            self._connection = parent
        return self._connection

    def call(self, function: Callable[..., Any], *arguments: Any, seconds: float) -> Any:
        """Run function(*arguments) in the worker; raise Unreadable with the reason if it fails, hangs or crashes."""
        connection = self._start()
        try:
            connection.send((function, arguments))
            if not connection.poll(seconds):
                self._kill()
                raise Unreadable(f"took longer than {seconds:g} s to read (a hostile or huge file?)")
            status, value = connection.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = self._kill()
            raise Unreadable(f"the reader crashed on this file (exit code {code})") from None
        if status == "error":
            raise Unreadable(str(value))
        return value

    def extract(self, kind: str, data: bytes) -> Extracted:
        """`extract(kind, data)` in the worker, with a time limit that grows with the file."""
        return self.call(extract, kind, data, seconds=time_limit(len(data)))

    def _kill(self) -> int | None:
        process, self._process = self._process, None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if process is None:
            return None
        process.kill()
        process.join(5)
        return process.exitcode

    def close(self) -> None:
        """Stop the worker, asking first and killing if it does not go."""
        if self._connection is not None:
            try:
                self._connection.send(None)
            except OSError:
                pass
        if self._process is not None:
            self._process.join(2)
        self._kill()


class Readers:
    """Sandboxes that extract files side by side, one worker process per core; each is started when first needed."""

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers if workers > 0 else os.cpu_count() or 1
        self._idle: queue.SimpleQueue[Sandbox] = queue.SimpleQueue()
        self._all: list[Sandbox] = []
        self._threads: ThreadPoolExecutor | None = None

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, kind: str, data: bytes) -> Future[Extracted]:
        """Extract a file in the next free sandbox; the future raises Unreadable with the reason."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="citebot-extract")
        return self._threads.submit(self._extract, kind, data)

    def extract(self, kind: str, data: bytes) -> Extracted:
        """Extract a file and wait for it."""
        return self.submit(kind, data).result()

    def _extract(self, kind: str, data: bytes) -> Extracted:
        try:
            sandbox = self._idle.get_nowait()
        except queue.Empty:
            sandbox = Sandbox()  # never more than one per thread: a thread returns its sandbox before taking a file
            self._all.append(sandbox)
        try:
            return sandbox.extract(kind, data)
        finally:
            self._idle.put(sandbox)

    def close(self) -> None:
        """Stop the threads and every worker process."""
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None
        for sandbox in self._all:
            sandbox.close()
        self._all.clear()
