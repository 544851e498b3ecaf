"""A fetched page as the corpus keeps it: decoded whatever its charset claims, its repeated paragraphs removed.

Boilerplate is measured over a site's saved pages: a paragraph (a block of text: p, li, a heading, a cell…)
found on at least MIN_PAGES pages and at least MIN_SHARE of them is a menu, teaser, cookie or newsletter box,
and is cut from every page before it is saved. trafilatura then extracts the rest with favor_precision.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin

import lxml.etree
import lxml.html
from charset_normalizer import from_bytes

from bot.ingest.formats.common import language_tag

BLOCKS = frozenset(
    {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "dd", "dt", "td", "th", "blockquote", "figcaption", "caption"}
)
# A div or section holding text of its own and no block inside is a paragraph too (ads and boxes often are).
CONTAINERS = frozenset({"div", "section", "aside", "span", "a", "footer", "header", "nav", "form"})
MIN_CHARS = 12  # shorter blocks ("Share", "Menu") are left to trafilatura
MIN_PAGES = 3
MIN_SHARE = 0.3
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Parsed:
    """What a sync learns from a page: its paragraphs (as hashes), language, date and language versions."""

    paragraphs: frozenset[str]
    language: str | None
    date: str | None
    alternates: dict[str, str]


def decode(body: bytes, declared: str | None) -> str:
    """The page's text: UTF-8 when it is valid UTF-8, else the declared charset if it fits, else detected."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    meta = META_CHARSET.search(body[:4096])
    for charset in (declared, meta.group(1).decode("ascii", "replace") if meta else None):
        if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
            try:
                return body.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
    best = from_bytes(body[: 2**20]).best()
    return body.decode(best.encoding if best else "utf-8", errors="replace")


def parse(text: str) -> lxml.html.HtmlElement:
    """The page's tree (raises ValueError when there is none)."""
    try:
        return lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ValueError(f"not an HTML page ({exc})") from None


def blocks(tree: lxml.html.HtmlElement) -> Iterable[tuple[lxml.html.HtmlElement, str]]:
    """Each paragraph-like element of the body and the hash of its normalised text."""
    body = tree.find("body")
    for element in (body if body is not None else tree).iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag in CONTAINERS:
            if not (element.text or "").strip() or any(
                isinstance(c.tag, str) and c.tag.lower() in BLOCKS | CONTAINERS - {"a", "span"} for c in element
            ):
                continue
        elif tag not in BLOCKS:
            continue
        words = " ".join(element.text_content().split()).casefold()
        if len(words) >= MIN_CHARS:
            yield element, hashlib.blake2b(words.encode(), digest_size=8).hexdigest()


def read(tree: lxml.html.HtmlElement, url: str) -> Parsed:
    """The paragraphs, language, date and hreflang versions of a page."""
    from htmldate import find_date

    alternates = {}
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        lang = language_tag(link.get("hreflang"))
        if "alternate" in rel and lang and link.get("href"):
            alternates[lang] = urljoin(url, link.get("href").strip())
    try:
        date = find_date(tree, extensive_search=False, original_date=True, outputformat="%Y-%m-%d")
    except Exception:  # htmldate on hostile markup: a page without a date is still a page
        date = None
    return Parsed(
        paragraphs=frozenset(hash_ for _, hash_ in blocks(tree)),
        language=language_tag(tree.get("lang")),
        date=date,
        alternates=alternates,
    )


def boilerplate(pages: Iterable[Iterable[str]]) -> frozenset[str]:
    """The paragraphs (hashes) found on at least MIN_PAGES pages and MIN_SHARE of a site's pages."""
    counts: Counter[str] = Counter()
    total = 0
    for paragraphs in pages:
        total += 1
        counts.update(set(paragraphs))
    floor = max(MIN_PAGES, MIN_SHARE * total)
    return frozenset(hash_ for hash_, count in counts.items() if count >= floor)


def cleaned(text: str, remove: frozenset[str]) -> bytes:
    """The page as UTF-8 HTML, its boilerplate paragraphs cut and its charset declared as UTF-8."""
    tree = parse(text)
    for element, hash_ in list(blocks(tree)):
        if hash_ in remove and element.getparent() is not None:
            element.drop_tree()
    for meta in list(tree.iter("meta")):
        if meta.get("charset") is not None or (meta.get("http-equiv") or "").lower() == "content-type":
            meta.drop_tree()
    head = tree.find("head")
    if head is None:
        head = lxml.html.Element("head")
        tree.insert(0, head)
    head.insert(0, lxml.html.Element("meta", charset="utf-8"))
    return b"<!DOCTYPE html>\n" + lxml.html.tostring(tree, encoding="utf-8")
