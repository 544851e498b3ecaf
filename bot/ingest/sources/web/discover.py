"""Which pages a site offers: its feeds (RSS, Atom, JSON Feed) and sitemaps (XML, index, gzipped, txt), bounded.

A sitemap is parsed as it is decompressed, a chunk at a time, and reading stops at a byte cap and a URL cap, so
a gzip that expands to a gigabyte, an index that points at itself or a million URLs cost bounded time and memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

import feedparser
import lxml.etree
import lxml.html

from bot.ingest.sources.web.fetch import Fetcher, FetchError
from bot.ingest.sources.web.safety import Refused

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json")
ROOT_TAG = re.compile(rb"<\s*([A-Za-z_][\w.:-]*)")
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Entry:
    """A page a feed or sitemap lists, with the date it gives (ISO 8601), if any."""

    url: str
    date: str | None = None


@dataclass(frozen=True)
class SitemapLimits:
    """How much of a site's sitemaps is read."""

    max_bytes: int = 50 * 2**20  # decompressed, per sitemap (the protocol's own limit)
    max_urls: int = 50_000  # over all sitemaps of a site
    max_sitemaps: int = 50
    max_depth: int = 3  # an index of indexes of sitemaps


class NotReadable(Exception):
    """A feed or sitemap that cannot be read, with why ("not XML: …")."""


def kind_of(body: bytes, content_type: str = "") -> str:
    """What a fetched body is: "gzip", "sitemap", "feed", "json", "text" (a txt sitemap) or "html"."""
    if body[:2] == b"\x1f\x8b":
        return "gzip"
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")) or "json" in content_type:
        return "json"
    for match in ROOT_TAG.finditer(head):
        tag = match.group(1).split(b":")[-1].lower()
        if tag in (b"urlset", b"sitemapindex"):
            return "sitemap"
        if tag in (b"rss", b"feed", b"rdf"):
            return "feed"
        if tag in (b"html", b"head", b"body", b"doctype"):
            return "html"
    if head.startswith((b"http://", b"https://")):
        return "text"
    return "feed" if "xml" in content_type else "html"


def read_feed(body: bytes) -> list[Entry]:
    """The entries of an RSS or Atom feed (feedparser) or a JSON Feed, newest first as the feed lists them."""
    if kind_of(body) == "json":
        return _json_feed(body)
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version"):
        problem = parsed.get("bozo_exception")
        raise NotReadable(f"not an RSS or Atom feed ({'not XML: ' + str(problem)[:120] if problem else 'no entries'})")
    entries = []
    for item in parsed.entries:
        link = item.get("link")
        stamp = item.get("published_parsed") or item.get("updated_parsed")
        if isinstance(link, str) and link:
            entries.append(Entry(link, time.strftime("%Y-%m-%d", stamp) if stamp else None))
    return entries


def _json_feed(body: bytes) -> list[Entry]:
    try:
        feed = json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise NotReadable(f"not a JSON Feed ({type(exc).__name__})") from None
    items = feed.get("items") if isinstance(feed, dict) else None
    if not isinstance(items, list):
        raise NotReadable("not a JSON Feed (no items)")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        url = item.get("url") or item.get("external_url")
        date = item.get("date_published") or item.get("date_modified")
        if isinstance(url, str) and url:
            entries.append(Entry(url, _iso_day(date)))
    return entries


def feed_links(body: bytes, base: str) -> list[str]:
    """The feeds a page links to (`<link rel="alternate" type="application/rss+xml">` and the like)."""
    try:
        tree = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError):
        return []
    found = []
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().strip()
        if "alternate" in rel and kind in FEED_TYPES and link.get("href"):
            found.append(urljoin(base, link.get("href").strip()))
    return list(dict.fromkeys(found))


@dataclass
class SitemapReader:
    """Reads a site's sitemaps breadth first, within `limits`; each problem noted as (url, reason)."""

    fetcher: Fetcher
    limits: SitemapLimits = field(default_factory=SitemapLimits)
    entries: list[Entry] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def read(self, roots: list[str], first: bytes | None = None) -> list[Entry]:
        """Every page the sitemaps at `roots` list (`first`: the first root's body, fetched already)."""
        queue = [(url, 0) for url in roots]
        seen: set[str] = set()
        while queue and len(seen) < self.limits.max_sitemaps and len(self.entries) < self.limits.max_urls:
            url, depth = queue.pop(0)
            if url in seen:
                self.problems.append((url, "sitemap listed twice (an index pointing at itself?), read once"))
                continue
            seen.add(url)
            body = first if first is not None and url == roots[0] and len(seen) == 1 else self._fetch(url)
            if body is None:
                continue
            for child in self._parse(url, body):
                if depth + 1 > self.limits.max_depth:
                    self.problems.append((child, f"sitemap nested deeper than {self.limits.max_depth}, not read"))
                elif child not in seen:
                    queue.append((child, depth + 1))
                else:
                    self.problems.append((child, "sitemap listed twice (an index pointing at itself?), read once"))
        if queue:
            self.problems.append((queue[0][0], f"{len(queue)} more sitemaps not read (caps reached)"))
        return self.entries

    def _fetch(self, url: str) -> bytes | None:
        try:
            answer = self.fetcher.get(url)
        except (FetchError, Refused) as exc:
            self.problems.append((url, str(exc)))
            return None
        if answer.status != 200:
            self.problems.append((url, f"HTTP {answer.status}"))
            return None
        return answer.body

    def _parse(self, url: str, body: bytes) -> list[str]:
        """Add the pages a sitemap lists to `entries`; return the sitemaps it lists (an index)."""
        chunks = _gunzip(body) if body[:2] == b"\x1f\x8b" else iter([body])
        children: list[str] = []
        try:
            first = next(chunks, b"")
            if kind_of(first) == "text":
                self._text(url, _capped(_chain(first, chunks), self.limits.max_bytes))
            else:
                self._xml(url, _capped(_chain(first, chunks), self.limits.max_bytes), children)
        except (zlib.error, EOFError) as exc:
            self.problems.append((url, f"a gzip that does not decompress ({exc})"))
        except _TooLarge:
            size = self.limits.max_bytes / 2**20
            self.problems.append((url, f"sitemap larger than {size:g} MB decompressed: read up to there"))
        return children

    def _xml(self, url: str, chunks: Iterator[bytes], children: list[str]) -> None:
        parser = lxml.etree.XMLPullParser(
            events=("end",), resolve_entities=False, no_network=True, huge_tree=False, recover=True
        )
        for chunk in chunks:
            parser.feed(chunk)
            if not self._take(parser, url, children):
                return
        with contextlib.suppress(lxml.etree.XMLSyntaxError):
            parser.close()
        self._take(parser, url, children)

    def _take(self, parser: lxml.etree.XMLPullParser, url: str, children: list[str]) -> bool:
        """Take the <url> and <sitemap> elements parsed so far; False once the URL cap is reached."""
        for _, element in parser.read_events():
            tag = lxml.etree.QName(element).localname if isinstance(element.tag, str) else ""
            if tag not in ("url", "sitemap"):
                continue
            loc = date = None
            for part in element:
                name = lxml.etree.QName(part).localname if isinstance(part.tag, str) else ""
                if name == "loc":
                    loc = (part.text or "").strip()
                elif name == "lastmod":
                    date = _iso_day(part.text)
            element.clear()
            while element.getprevious() is not None:  # what is read is dropped: memory stays bounded
                del element.getparent()[0]
            if not loc:
                continue
            if tag == "sitemap":
                children.append(urljoin(url, loc))
            elif len(self.entries) < self.limits.max_urls:
                self.entries.append(Entry(urljoin(url, loc), date))
            else:
                self.problems.append((url, f"more than {self.limits.max_urls} URLs: the rest not read"))
                return False
        return True

    def _text(self, url: str, chunks: Iterator[bytes]) -> None:
        pending = b""
        for chunk in chunks:
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if not self._add_line(url, line):
                    return
        self._add_line(url, pending)

    def _add_line(self, url: str, line: bytes) -> bool:
        text = line.strip().decode("utf-8", errors="replace")
        if not text.startswith(("http://", "https://")):
            return True
        if len(self.entries) >= self.limits.max_urls:
            self.problems.append((url, f"more than {self.limits.max_urls} URLs: the rest not read"))
            return False
        self.entries.append(Entry(text))
        return True


class _TooLarge(Exception):
    pass


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _gunzip(body: bytes) -> Iterator[bytes]:
    """Decompress a gzip a chunk at a time: never more than CHUNK bytes out of one call."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = body
    while data:
        out = inflater.decompress(data, CHUNK)
        data = inflater.unconsumed_tail
        if out:
            yield out
        if inflater.eof:
            return
    tail = inflater.flush()
    if tail:
        yield tail


def _capped(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise _TooLarge
        yield chunk


def _iso_day(value: object) -> str | None:
    """The day of an ISO 8601 date or datetime ("2025-06-01T10:00:00+05:00" → "2025-06-01"), or None."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return None
