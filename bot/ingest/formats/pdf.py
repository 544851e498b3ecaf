"""PDF files through PDFium: page text without running headers, footers and page numbers, words rejoined."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from bot.ingest.formats.common import (
    GENERATED_TITLE,
    Extracted,
    Unreadable,
    clean,
)

# Running headers and footers: lines at the top or bottom of at least this share of pages (and 3 pages), or of
# every page of a document of 2 pages or more.
RUNNING_SHARE = 0.5
RUNNING_MIN_PAGES = 3
EDGE_LINES = 2
# A line that is only a page number: "14", "- 14 -", "Page 3 of 20", "стр. 5".
PAGE_NUMBER = re.compile(r"^\W*(?:page|p\.|стр\.?|страница)?\s*\d{1,4}(?:\s*(?:of|/|из)\s*\d{1,4})?\W*$", re.IGNORECASE)
# PDFium marks a hyphen it saw at a line end with U+FFFE (older builds: U+0002) instead of a line break.
SOFT_HYPHENS = "\ufffe\x02"
# A page's last paragraph this long that stops without a sentence end was cut off by the page break.
CUT_PARAGRAPH_CHARS = 40
SENTENCE_END = re.compile(r"[.!?:;…»\"”)]$")
LIST_START = re.compile(r"^(?:[•▪●◦‣·–—-]\s|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s)")


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
    reasons: dict[object, str] = {
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
    if len(pages) >= 2:
        need = min(need, len(pages))  # on every page: running, however few pages there are
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
        joiner = " " if text and _continues(text, body) else "\n\n" if text else ""
        starts.append(len(text) + len(joiner))
        text += joiner + body
    return text, starts


def _continues(text: str, body: str) -> bool:
    """Whether a page's text carries on the sentence the page before left open.

    A lowercase start does; so does any word when the page before stopped mid-sentence in a paragraph of body
    text ("…was built by the" / "Engineer Firefly…"). A short last line is a heading ("Results"), not cut off.
    """
    if _ends_sentence(text) or not body[:1].isalnum():
        return False
    last = text[text.rfind("\n") + 1 :]
    return body[:1].islower() or len(last) >= CUT_PARAGRAPH_CHARS


def _pdf_title(value: object, opening: str) -> str | None:
    """The /Title entry, if it is a real title: not a file name or a generator's default, and found in the text."""
    title = clean(value)
    if title is None or GENERATED_TITLE.search(title) or not re.search(r"\w\w", title):
        return None
    words = re.findall(r"\w+", title.casefold())
    found = set(re.findall(r"\w+", opening.casefold()))
    # Templates leave titles of documents long gone; a real one is mostly found on the first pages.
    return title if sum(w in found for w in words) >= len(words) / 2 else None
