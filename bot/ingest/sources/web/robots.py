"""robots.txt (protego): which paths citebot may fetch, how long to wait between requests, the sitemaps it lists."""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

from bot.ingest.sources.web.fetch import Fetcher, FetchError
from bot.ingest.sources.web.safety import Refused

ROBOTS_BYTES = 512 * 1024  # Google reads the first 500 KiB of a robots.txt; past it no rule counts
AGENT = "citebot"
MAX_CRAWL_DELAY = 60.0  # a site asking more is waited on this long, not stalled for hours


@dataclass(frozen=True)
class Robots:
    """A site's robots.txt as it applies to citebot."""

    rules: Protego | None = None  # None: no rules, everything may be fetched
    refused: str | None = None  # set when the whole site must be left alone this sync, with why

    def allowed(self, url: str) -> bool:
        """Whether citebot may fetch the URL."""
        return self.refused is None and (self.rules is None or self.rules.can_fetch(url, AGENT))

    def crawl_delay(self) -> float | None:
        """The Crawl-delay asked of citebot, bounded, or None."""
        delay = self.rules.crawl_delay(AGENT) if self.rules is not None else None
        return min(float(delay), MAX_CRAWL_DELAY) if delay is not None else None

    def sitemaps(self) -> list[str]:
        """The Sitemap: lines."""
        return list(self.rules.sitemaps) if self.rules is not None else []


def read_robots(fetcher: Fetcher, root: str) -> Robots:
    """Fetch and parse `root`/robots.txt; missing means no rules, a server error means no fetching this sync."""
    try:
        answer = fetcher.get(root.rstrip("/") + "/robots.txt", max_bytes=8 * ROBOTS_BYTES)
    except Refused:
        raise
    except FetchError as exc:
        return Robots(refused=f"robots.txt could not be read: {exc}")
    if answer.status >= 500 or answer.status == 429:
        # As search engines do: a site that cannot say what it allows is not crawled until it can.
        return Robots(refused=f"robots.txt answered HTTP {answer.status}")
    if answer.status != 200:
        return Robots()
    text = answer.body[:ROBOTS_BYTES].decode("utf-8", errors="replace")
    return Robots(rules=Protego.parse(text))
