"""Saved web pages: the main text (trafilatura, precision first) and the page's title, site, date, url and language."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from bot.ingest.formats.common import (
    Extracted,
    Unreadable,
    clean,
    iso_date,
    language_tag,
    paragraphs,
)

# A site name with more words than this is a slogan or a sentence ("The official website of…"), not a name.
SITE_NAME_WORDS = 5
# Publication dates from the page's markup only: a date guessed from the text is as often a date it mentions.
DATE_SEARCH = {"extensive_search": False, "original_date": True}
SAVED_FROM = re.compile(rb"<!--\s*saved from url=\(\d+\)\s*(\S+?)\s*-->", re.IGNORECASE)


def extract_html(data: bytes) -> Extracted:
    """A saved web page's main text (trafilatura, precision first) and its title, site, date, url and language."""
    import trafilatura
    from trafilatura.settings import Document
    from trafilatura.utils import load_html

    # Raw bytes: trafilatura finds the charset itself, from the meta tag or by detection.
    tree = load_html(data)
    if tree is None:
        raise Unreadable("not an HTML page trafilatura can parse")
    language = language_tag(tree.get("lang")) or language_tag(_meta(tree, "http-equiv", "content-language"))
    url = _page_url(tree, data)
    found = trafilatura.bare_extraction(
        tree,
        url=url,
        favor_precision=True,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
        date_extraction_params=DATE_SEARCH,
    )
    # A Document, as as_dict is left False; the check tells the type checker so.
    if not isinstance(found, Document) or not found.text or not found.text.strip():
        raise Unreadable("no main text found in the page")
    site = clean(found.sitename)
    host = _host(url or found.url) or clean(found.hostname)
    if site is None or len(site.split()) > SITE_NAME_WORDS or site.endswith((".", "!", "?")):
        site = host
    title = clean(found.title)
    # trafilatura puts each paragraph, heading or list item on a line of its own.
    lines = found.text.split("\n")
    if title and lines and " ".join(lines[0].split()).casefold() == title.casefold():
        lines = lines[1:]  # the headline is the title: cited with every quote, never quoted as an answer itself
    text = paragraphs(lines)
    return Extracted(
        text=text,
        title=title,
        source=site,
        date=iso_date(found.date),
        url=url or clean(found.url),
        language=language or language_tag(found.language),
    )


def _meta(tree: Any, attribute: str, value: str) -> str | None:
    for element in tree.iter("meta"):
        if (element.get(attribute) or "").strip().lower() == value:
            return element.get("content")
    return None


def _web_url(value: object) -> str | None:
    url = clean(value, 2000)
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
