"""A sync: each site's feeds and sitemaps read, its pages fetched politely and incrementally, the corpus updated.

Per site, one request at a time with a delay (robots.txt's Crawl-delay, else the default); a conditional GET for
every page known from an earlier sync; a page answering 410, or 404 on two syncs in a row, leaves the corpus; a
page no longer listed but still served stays. Sites run side by side, one thread each; a second sync waits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.ingest.sources.web import pages
from bot.ingest.sources.web.discover import (
    Entry,
    NotReadable,
    SitemapLimits,
    SitemapReader,
    feed_links,
    kind_of,
    read_feed,
)
from bot.ingest.sources.web.fetch import Fetcher, FetchError, Limits, Response, same_site
from bot.ingest.sources.web.robots import Robots, read_robots
from bot.ingest.sources.web.safety import Refused, check_scheme
from bot.ingest.sources.web.state import (
    load_state,
    raw_folder,
    remove,
    save_state,
    slug,
    state_path,
    sync_lock,
)
from bot.ingest.sources.writing import atomic_write

WEB_FOLDER = "web"
HTML_TYPES = ("text/html", "application/xhtml+xml", "")
MAX_SITES_AT_ONCE = 4
WRITERS = 8
RETRIES = 2  # a 429 or 503 is retried this many times, when its Retry-After is within the bound


class SourcesError(ValueError):
    """A sources file citebot cannot use, with why."""


@dataclass(frozen=True)
class Site:
    """A source of sources.yml: a feed, a sitemap or a page of the site; which paths to keep; how many pages."""

    url: str
    include: tuple[str, ...] = ()
    max_pages: int = 2000
    name: str | None = None

    @property
    def label(self) -> str:
        """The site's name in reports and sidecars: as given, else its host."""
        return self.name or (urlsplit(self.url).hostname or self.url).removeprefix("www.")


@dataclass(frozen=True)
class Options:
    """How a sync runs: where it writes, who it says it is, and how politely and within what limits it fetches."""

    corpus: Path
    cache: Path
    agent: str
    allow_private: bool = False
    delay: float = 1.0  # seconds between two requests to a site, unless its robots.txt asks more
    limits: Limits = field(default_factory=Limits)
    sitemaps: SitemapLimits = field(default_factory=SitemapLimits)
    max_retry_wait: float = 30.0


@dataclass(frozen=True)
class SiteReport:
    """What a sync did to one source."""

    name: str
    url: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    refused: str | None = None
    requests: int = 0
    wire_bytes: int = 0
    seconds: float = 0.0
    finished: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The report as kept in the state file (lists cut to counts past a few)."""
        return {
            "name": self.name,
            "url": self.url,
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "refused": self.refused,
            "requests": self.requests,
            "bytes": self.wire_bytes,
            "seconds": round(self.seconds, 2),
            "finished": self.finished,
        }


@dataclass(frozen=True)
class SyncReport:
    """What a sync did, source by source."""

    sites: tuple[SiteReport, ...]

    @property
    def changed_files(self) -> bool:
        """Whether any corpus file was written or removed."""
        return any(s.added or s.changed or s.removed for s in self.sites)


def read_sources(path: Path) -> list[Site]:
    """The sites of a sources file (`sites:` a list of url, include, max_pages, name)."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourcesError(f"no sources file {path} (write one with a `sites:` list of urls)") from None
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SourcesError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    entries = loaded.get("sites") if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        raise SourcesError(f"{path}: expected `sites:` with a list of sites")
    sites = []
    for number, entry in enumerate(entries, 1):
        entry = {"url": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise SourcesError(f"{path}: site {number} has no url")
        include = entry.get("include") or ()
        include = (include,) if isinstance(include, str) else include
        max_pages = entry.get("max_pages", 2000)
        if not isinstance(max_pages, int) or max_pages < 1 or not all(isinstance(p, str) for p in include):
            raise SourcesError(f"{path}: site {number}: include is a list of paths, max_pages a positive number")
        name = entry.get("name")
        sites.append(Site(entry["url"].strip(), tuple(include), max_pages, name if isinstance(name, str) else None))
    return sites


def sync(sites: list[Site], options: Options) -> SyncReport:
    """Sync every site, the sites of one host one after another and the hosts side by side; a second sync waits."""
    with sync_lock(options.cache):
        by_host: dict[str, list[Site]] = {}
        for site in sites:
            by_host.setdefault((urlsplit(site.url).hostname or "").removeprefix("www."), []).append(site)
        groups = list(by_host.values())
        if not groups:
            return SyncReport(())
        with ThreadPoolExecutor(min(MAX_SITES_AT_ONCE, len(groups)), thread_name_prefix="citebot-sync") as pool:
            done = pool.map(lambda group: [sync_site(site, options) for site in group], groups)
            reports = {id(site): report for group, found in zip(groups, done) for site, report in zip(group, found)}
    return SyncReport(tuple(reports[id(site)] for site in sites))


def sync_site(site: Site, options: Options) -> SiteReport:
    """Sync one site; whatever goes wrong, what is in the corpus stays and the report says why."""
    started = time.perf_counter()
    fetcher = Fetcher(agent=options.agent, allow_private=options.allow_private, limits=options.limits)
    run = SiteRun(site, options, fetcher, load_state(state_path(options.cache, site.url)))
    try:
        run.run()
    except Refused as exc:
        run.refused = str(exc)
    finally:
        fetcher.close()
    report = run.report(time.perf_counter() - started)
    run.state["last"] = report.as_dict()
    save_state(state_path(options.cache, site.url), run.state)
    return report


@dataclass
class SiteRun:
    """One site's sync while it runs: what it found, fetched and decided."""

    site: Site
    options: Options
    fetcher: Fetcher
    state: dict[str, Any]
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: str | None = None
    fresh: set[str] = field(default_factory=set)  # pages fetched anew this sync, to be (re)written
    listed_dates: dict[str, str | None] = field(default_factory=dict)
    last_request: float = 0.0

    def report(self, seconds: float) -> SiteReport:
        """What this run did."""
        return SiteReport(
            name=self.site.label,
            url=self.site.url,
            added=tuple(self.added),
            changed=tuple(self.changed),
            removed=tuple(self.removed),
            unchanged=self.unchanged,
            skipped=tuple(self.skipped),
            refused=self.refused,
            requests=self.fetcher.requests,
            wire_bytes=self.fetcher.wire_bytes,
            seconds=seconds,
            finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )

    def run(self) -> None:
        """Robots, discovery, every page, then the corpus files."""
        check_scheme(self.site.url)
        parts = urlsplit(self.site.url)
        robots = read_robots(self.fetcher, f"{parts.scheme}://{parts.netloc}")
        if robots.refused:
            self.refused = robots.refused
            return
        if not robots.allowed(self.site.url):
            self.refused = "robots.txt disallows this URL for citebot"
            return
        self.fetcher.delay = max(self.options.delay, robots.crawl_delay() or 0.0)
        entries = self.discover(robots)
        if entries is None:
            return
        known = self.state["pages"]
        for url in self.candidates(entries, robots) + [u for u in known if u not in self.listed_dates]:
            self.visit(url)
        self.write_corpus()

    def discover(self, robots: Robots) -> list[Entry] | None:
        """The pages the source lists: it is a feed or a sitemap, or a page linking feeds (and robots' sitemaps)."""
        answer = self.fetcher.get(self.site.url)
        if answer.status != 200:
            self.refused = f"the source URL answered HTTP {answer.status}"
            return None
        kind = kind_of(answer.body, answer.content_type)
        if kind in ("gzip", "sitemap", "text"):
            return self.read_sitemaps([self.site.url], answer.body)
        if kind in ("feed", "json"):
            try:
                return read_feed(answer.body)
            except NotReadable as exc:
                self.refused = str(exc)
                return None
        entries: list[Entry] = []
        for feed in feed_links(answer.body, answer.url):
            entries += self.read_linked_feed(feed)
        if robots.sitemaps():
            entries += self.read_sitemaps(robots.sitemaps(), None)
        if not entries and not self.state["pages"]:
            self.refused = "no feed or sitemap found (none linked from the page, none in robots.txt)"
            return None
        return entries

    def read_linked_feed(self, url: str) -> list[Entry]:
        """The entries of a feed the page links to; a feed that cannot be read is skipped with why."""
        if not same_site(self.site.url, url):
            self.skipped.append((url, "feed off the site, not followed"))
            return []
        try:
            answer = self.fetcher.get(url)
            if answer.status != 200:
                raise NotReadable(f"feed answered HTTP {answer.status}")
            return read_feed(answer.body)
        except (NotReadable, FetchError) as exc:
            self.skipped.append((url, str(exc)))
            return []

    def read_sitemaps(self, roots: list[str], first: bytes | None) -> list[Entry]:
        """The pages the sitemaps list, within the caps; each sitemap problem skipped with why."""
        reader = SitemapReader(self.fetcher, self.options.sitemaps)
        entries = reader.read([r for r in roots if same_site(self.site.url, r)], first)
        self.skipped += reader.problems
        return entries

    def candidates(self, entries: list[Entry], robots: Robots) -> list[str]:
        """The listed pages to fetch: on the site, under `include`, allowed by robots, newest first, capped."""
        wanted: dict[str, str | None] = {}
        for entry in entries:
            url = entry.url.split("#", 1)[0]
            if url in wanted:
                continue
            if not same_site(self.site.url, url) or urlsplit(url).scheme not in ("http", "https"):
                self.skipped.append((url, "off the site, not followed"))
            elif self.site.include and not urlsplit(url).path.startswith(self.site.include):
                continue  # outside what this source follows: not a problem, not worth a line
            elif not robots.allowed(url):
                self.skipped.append((url, "disallowed by robots.txt"))
            else:
                wanted[url] = entry.date
        ordered = sorted(wanted, key=lambda url: wanted[url] or "", reverse=True)
        if len(ordered) > self.site.max_pages:
            self.skipped.append((self.site.url, f"{len(ordered) - self.site.max_pages} pages past max_pages"))
            ordered = ordered[: self.site.max_pages]
        self.listed_dates = {url: wanted[url] for url in ordered}
        return ordered

    def visit(self, url: str) -> None:
        """Fetch one page (conditionally when known) and record what became of it."""
        known = self.state["pages"].get(url)
        headers = {}
        if known and known.get("etag"):
            headers["If-None-Match"] = known["etag"]
        if known and known.get("modified"):
            headers["If-Modified-Since"] = known["modified"]
        try:
            answer = self.get_patiently(url, headers)
        except (FetchError, Refused) as exc:
            self.skipped.append((url, str(exc)))
            return
        if answer is None:
            return
        if answer.status == 304 and known:
            known["missing"] = 0
            self.unchanged += 1
        elif answer.status == 200:
            self.take(url, answer, known)
        elif answer.status in (404, 410):
            self.gone(url, answer.status, known)
        else:
            self.skipped.append((url, f"HTTP {answer.status}"))

    def get_patiently(self, url: str, headers: dict[str, str]) -> Response | None:
        """GET, waiting out a 429 or 503 whose Retry-After is within the bound; None (skipped) past it."""
        for attempt in range(RETRIES + 1):
            answer = self.fetcher.get(url, headers)
            if answer.status not in (429, 503):
                return answer
            wait = answer.retry_after
            if wait is None or wait > self.options.max_retry_wait or attempt == RETRIES:
                asked = f", Retry-After {wait:g} s" if wait is not None else ""
                self.skipped.append((url, f"HTTP {answer.status}{asked}: skipped for this sync"))
                return None
            time.sleep(wait)
        return None

    def take(self, url: str, answer: Response, known: dict[str, Any] | None) -> None:
        """A page served: keep it (added or changed), or count it unchanged when its bytes are the same."""
        if answer.content_type not in HTML_TYPES:
            self.skipped.append((url, f"not an HTML page ({answer.content_type})"))
            return
        digest = hashlib.blake2b(answer.body, digest_size=16).hexdigest()
        entry = known or {
            "url": url,
            "path": f"{WEB_FOLDER}/{(urlsplit(url).hostname or 'site').lower()}/{slug(url)}.html",
        }
        entry.update(etag=answer.etag, modified=answer.last_modified, missing=0)
        if known and known.get("hash") == digest:
            self.unchanged += 1
            return
        try:
            text = pages.decode(answer.body, answer.charset)
            parsed = pages.read(pages.parse(text), answer.url)
        except ValueError as exc:
            self.skipped.append((url, str(exc)))
            return
        # The copy boilerplate is cut from: not fsynced, as a lost one only means the page is fetched anew.
        raw = raw_folder(self.options.cache, self.site.url) / Path(entry["path"]).name
        atomic_write(raw, text.encode("utf-8"), durable=False)
        listed = self.listed_dates.get(url) or (known or {}).get("listed")
        entry.update(
            hash=digest,
            paragraphs=sorted(parsed.paragraphs),
            date=parsed.date or listed,
            listed=listed,
            language=parsed.language,
            alternates=parsed.alternates,
            cleaned=None,
        )
        self.state["pages"][url] = entry
        self.fresh.add(url)
        (self.changed if known else self.added).append(url)

    def gone(self, url: str, status: int, known: dict[str, Any] | None) -> None:
        """A 410, or a second 404 in a row: the page leaves the corpus. A first 404 only counts."""
        if known is None:
            self.skipped.append((url, f"HTTP {status}"))
            return
        known["missing"] = known.get("missing", 0) + 1
        if status == 410 or known["missing"] >= 2:
            self.drop(url)
        else:
            self.skipped.append((url, "HTTP 404 (removed if it answers 404 at the next sync too)"))

    def drop(self, url: str) -> None:
        """Remove a page's corpus file, its sidecar and the copy kept, and forget it."""
        entry = self.state["pages"].pop(url)
        path = self.options.corpus / entry["path"]
        remove(path)
        remove(path.with_name(path.name + ".yml"))
        remove(raw_folder(self.options.cache, self.site.url) / path.name)
        self.removed.append(url)

    def write_corpus(self) -> None:
        """Write every page whose text changed or whose boilerplate did, its repeated paragraphs cut."""
        known = self.state["pages"]
        repeated = pages.boilerplate(entry.get("paragraphs", ()) for entry in known.values())
        due = []
        for url, entry in known.items():
            cut = frozenset(repeated.intersection(entry.get("paragraphs", ())))
            signature = hashlib.blake2b(" ".join(sorted(cut)).encode(), digest_size=8).hexdigest()
            target = self.options.corpus / entry["path"]
            if url in self.fresh or entry.get("cleaned") != signature or not target.exists():
                due.append((url, entry, cut, signature))
        # Each file is fsynced before its rename; a few at once, so that one disk flush waits on another.
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="citebot-write") as pool:
            for url, problem in zip([d[0] for d in due], pool.map(lambda d: self.write_page(*d[1:]), due)):
                if problem is not None:
                    self.skipped.append((url, f"not saved ({problem})"))
                    known[url].pop("hash", None)  # fetched in full at the next sync

    def write_page(self, entry: dict[str, Any], cut: frozenset[str], signature: str) -> str | None:
        """Write a page and its sidecar; None, or why it could not be written."""
        target = self.options.corpus / entry["path"]
        try:
            text = (raw_folder(self.options.cache, self.site.url) / target.name).read_text(encoding="utf-8")
            atomic_write(target, pages.cleaned(text, cut))
            atomic_write(target.with_name(target.name + ".yml"), self.sidecar(entry))
        except (OSError, ValueError) as exc:
            return str(exc)
        entry["cleaned"] = signature
        return None

    def sidecar(self, entry: dict[str, Any]) -> bytes:
        """The page's sidecar: url, date, source, language and its language versions."""
        fields = {
            "url": entry["url"],
            "source": self.site.label,
            "date": entry.get("date"),
            "language": entry.get("language"),
        }
        if entry.get("alternates"):
            fields["alternates"] = entry["alternates"]
        kept = {key: value for key, value in fields.items() if value}
        return yaml.safe_dump(kept, allow_unicode=True, sort_keys=False).encode("utf-8")
