"""Websites as a source: a small site on 127.0.0.1 synced into a corpus folder, politely and incrementally."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml

from bot.index.loader import load_library
from bot.ingest.sources.web.discover import SitemapLimits, SitemapReader
from bot.ingest.sources.web.fetch import Fetcher, Limits
from bot.ingest.sources.web.safety import Refused, is_public
from bot.ingest.sources.web.sync import Options, Site, SyncReport, sync
from tests.websites import Site as WebSite
from tests.websites import article, gzipped, index, rss, serving, urlset

ARTICLES = {
    "/en/news/budget": (
        "Budget approved",
        "The government approved the budget for the water pipelines in Turkestan.",
    ),
    "/ru/news/budget": ("Бюджет утверждён", "Правительство утвердило бюджет на водопроводы в Туркестане."),
    "/en/news/roads": ("Rural roads", "Four hundred kilometres of rural roads will be repaired this summer."),
    "/en/news/schools": ("New schools", "Twelve new schools open in September in the Almaty region."),
}


def build_site(site: WebSite) -> None:
    """The test site: robots, a home page with two feeds, a sitemap index, articles and misbehaving pages."""
    base = site.base
    robots = f"User-agent: *\nDisallow: /private/\nSitemap: {base}/sitemap.xml\n"
    site.page("/robots.txt", robots.encode(), "text/plain")
    feeds = '<link rel="alternate" type="application/rss+xml" href="/feed.xml">'
    feeds += '<link rel="alternate" type="application/rss+xml" href="/broken-feed.xml">'
    site.page("/", article("Home", "Welcome to the ministry.", links=feeds))
    site.page("/feed.xml", rss(base, ["/en/news/roads", "/en/news/schools"]), "application/rss+xml")
    site.page("/broken-feed.xml", b"this is { not xml at all", "application/rss+xml")
    listed = ["/en/news/budget", "/ru/news/budget", "/private/secret", "/slow", "/huge", "/loop", "/busy", "/cp1251"]
    news = urlset([base + p for p in listed] + ["https://elsewhere.example/en/news/x"])
    site.page("/news.xml.gz", gzipped(news), "application/gzip")
    bomb = gzipped(b"<urlset>" + b" " * (3 * 2**20) + b"</urlset>")
    site.page("/bomb.xml.gz", bomb, "application/gzip")
    site.page("/sitemap.xml", index([f"{base}/news.xml.gz", f"{base}/sitemap.xml", f"{base}/bomb.xml.gz"]), "text/xml")
    for path, (title, text) in ARTICLES.items():
        lang = path.split("/")[1]
        other = path.replace(f"/{lang}/", "/ru/" if lang == "en" else "/en/")
        pair = f'<link rel="alternate" hreflang="{lang}" href="{path}">'
        pair += f'<link rel="alternate" hreflang="{"ru" if lang == "en" else "en"}" href="{other}">'
        site.page(path, article(title, text, lang, links=pair if path.endswith("budget") else ""))
    site.page("/slow", article("Slow", "This page answers too late."))
    site.set("/loop", 302, Location="/loop2")
    site.set("/loop2", 302, Location="/loop")
    site.set("/busy", 429, b"slow down", **{"Retry-After": "3600"})
    cyrillic = "<html><body><p>Министр встретился с делегацией из Астаны.</p></body></html>".encode("cp1251")
    site.page("/cp1251", cyrillic, "text/html; charset=utf-8")  # declared wrong


def options(tmp_path: Path, **changes: object) -> Options:
    values: dict[str, object] = {
        "corpus": tmp_path / "corpus",
        "cache": tmp_path / "cache",
        "agent": "citebot/test",
        "allow_private": True,
        "delay": 0.0,
        "limits": Limits(timeout=1.0, max_bytes=2**20),
        "sitemaps": SitemapLimits(max_bytes=2**20),
    }
    return Options(**(values | changes))  # type: ignore[arg-type]


def corpus_texts(tmp_path: Path) -> dict[str | None, str]:
    """Each document's url and text, as the corpus folder loads."""
    library = load_library(tmp_path / "corpus", tmp_path / "cache" / "index")
    return {entry.document.url: " ".join(entry.sentences) for entry in library.entries}


def reasons(report: SyncReport) -> dict[str, str]:
    return {url.split("/", 3)[-1]: reason for url, reason in report.sites[0].skipped}


@pytest.fixture
def website() -> WebSite:
    with serving(WebSite(slow_seconds=2.0)) as site:
        build_site(site)
        yield site


def test_a_site_is_synced_into_the_corpus_with_each_bad_page_skipped_and_named(
    website: WebSite, tmp_path: Path
) -> None:
    report = sync([Site(website.base + "/")], options(tmp_path))
    site = report.sites[0]
    assert site.refused is None
    assert sorted(url.removeprefix(website.base) for url in site.added) == sorted([*ARTICLES, "/cp1251"])
    why = reasons(report)
    assert "not an RSS or Atom feed" in why["broken-feed.xml"]
    assert why["private/secret"] == "disallowed by robots.txt"
    assert "within 1 s" in why["slow"]
    assert "larger than 1 MB" in why["huge"]
    assert why["loop"] == "redirect loop"
    assert why["busy"].startswith("HTTP 429, Retry-After 3600 s")
    assert "larger than 1 MB decompressed" in why["bomb.xml.gz"]
    assert "listed twice" in why["sitemap.xml"]
    assert "off the site" in why["en/news/x"]
    assert website.hits["/private/secret"] == 0 and website.hits["/loop"] == 1 and website.hits["/busy"] == 1


def test_saved_pages_carry_their_sidecar_and_load_as_documents(website: WebSite, tmp_path: Path) -> None:
    sync([Site(website.base + "/", name="Ministry")], options(tmp_path))
    saved = sorted((tmp_path / "corpus" / "web" / "127.0.0.1").glob("*.html"))
    sidecars = {yaml.safe_load(p.with_name(p.name + ".yml").read_text())["url"]: p for p in saved}
    budget = yaml.safe_load(sidecars[website.base + "/ru/news/budget"].with_suffix(".html.yml").read_text())
    assert budget["source"] == "Ministry" and budget["language"] == "ru" and budget["date"] == "2025-06-01"
    assert budget["alternates"] == {"ru": website.base + "/ru/news/budget", "en": website.base + "/en/news/budget"}
    texts = corpus_texts(tmp_path)
    assert "водопроводы" in texts[website.base + "/ru/news/budget"]
    assert "делегацией из Астаны" in texts[website.base + "/cp1251"]  # the wrong charset did not win


def test_an_unchanged_site_costs_conditional_gets_answered_304(website: WebSite, tmp_path: Path) -> None:
    sync([Site(website.base + "/")], options(tmp_path))
    website.answers.clear()
    again = sync([Site(website.base + "/")], options(tmp_path)).sites[0]
    assert (again.added, again.changed, again.removed, again.unchanged) == ((), (), (), 5)
    for path in ARTICLES:
        assert website.answers[path, 304] == 1 and website.answers[path, 200] == 0


def test_changed_and_vanished_pages(website: WebSite, tmp_path: Path) -> None:
    sync([Site(website.base + "/")], options(tmp_path))
    website.page("/en/news/roads", article("Rural roads", "Nine hundred kilometres of rural roads will be repaired."))
    website.set("/en/news/schools", 404)
    website.set("/cp1251", 410)
    website.page("/feed.xml", rss(website.base, []), "application/rss+xml")  # dropped from the feed, still served
    second = sync([Site(website.base + "/")], options(tmp_path)).sites[0]
    base = website.base
    assert second.changed == (base + "/en/news/roads",) and second.removed == (base + "/cp1251",)
    assert "removed if it answers 404 at the next sync too" in reasons(SyncReport((second,)))["en/news/schools"]
    third = sync([Site(website.base + "/")], options(tmp_path)).sites[0]
    assert third.removed == (base + "/en/news/schools",)
    texts = corpus_texts(tmp_path)
    assert base + "/cp1251" not in texts and base + "/en/news/schools" not in texts
    assert "Nine hundred" in texts[base + "/en/news/roads"]
    assert len(list((tmp_path / "corpus").rglob("*.yml"))) == len(texts) == 3


def boilerplate_page(title: str, text: str) -> bytes:
    """A page whose teaser and advertisement sit in the article's own block, as trafilatura keeps them."""
    return (
        f"<html lang=en><head><title>{title}</title></head><body><div class=content><h1>{title}</h1><p>{text}</p>"
        "<p>Read also: the ministry opened a new office in Taraz this week</p>"
        "<p>Advertisement: open a savings account with Qazaq Bank today</p></div></body></html>"
    ).encode()


def test_repeated_paragraphs_are_cut_as_boilerplate(tmp_path: Path) -> None:
    from bot.ingest.formats.html import extract_html

    stories = {
        "/a": "The minister of energy opened the solar plant near Balkhash on Monday.",
        "/b": "Wheat exports grew by a fifth.",
        "/c": "The new terminal at Shymkent airport serves two million passengers a year, twice the old one.",
        "/d": "A reserve was created.",
    }
    pages = {path: boilerplate_page(f"Story {path}", text) for path, text in stories.items()}
    assert "Advertisement" in extract_html(pages["/b"]).text  # trafilatura alone lets it in
    with serving(WebSite()) as site:
        for path, body in pages.items():
            site.page(path, body)
        site.page("/sitemap.xml", urlset([site.base + p for p in stories]), "text/xml")
        sync([Site(site.base + "/sitemap.xml")], options(tmp_path))
    text = " ".join(corpus_texts(tmp_path).values())
    assert all(story in text for story in stories.values())
    assert "Advertisement" not in text and "Read also" not in text


def test_the_fetcher_refuses_loopback_before_connecting(website: WebSite) -> None:
    fetcher = Fetcher(allow_private=False)
    for url in (website.base + "/", f"http://localhost:{website.port}/"):
        with pytest.raises(Refused, match="private address"):
            fetcher.get(url)
    assert website.connections == 0


def test_a_refused_source_says_why(website: WebSite, tmp_path: Path) -> None:
    report = sync([Site(website.base + "/"), Site("ftp://example.org/feed")], options(tmp_path, allow_private=False))
    assert "resolves to a private address (127.0.0.1)" in (report.sites[0].refused or "")
    assert report.sites[1].refused == "not http or https: ftp"
    assert website.connections == 0 and not (tmp_path / "corpus").exists()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        *[(private, False) for private in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "0.0.0.0")],
        *[(private, False) for private in ("::1", "fe80::1", "::ffff:127.0.0.1", "224.0.0.1", "100.64.0.1")],
        ("8.8.8.8", True),
        ("2a00:1450:4001::1", True),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_a_sitemap_of_many_urls_is_capped(tmp_path: Path) -> None:
    with serving(WebSite()) as site:
        site.page("/big.txt", "".join(f"{site.base}/p{i}\n" for i in range(5000)).encode(), "text/plain")
        reader = SitemapReader(Fetcher(allow_private=True), SitemapLimits(max_urls=1000))
        entries = reader.read([site.base + "/big.txt"])
    assert len(entries) == 1000 and "more than 1000 URLs" in reader.problems[0][1]


def test_two_syncs_at_once_take_turns(website: WebSite, tmp_path: Path) -> None:
    reports: list[SyncReport] = []

    def run() -> None:
        reports.append(sync([Site(website.base + "/")], options(tmp_path)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    added = sorted(len(r.sites[0].added) for r in reports)
    assert added == [0, 5]  # the second saw the first's pages: they did not run together


def test_citebot_sync_prints_what_it_did(
    website: WebSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.setenv("CITEBOT_ALLOW_PRIVATE_ADDRESSES", "true")
    monkeypatch.setenv("CITEBOT_SYNC_DELAY", "0")
    monkeypatch.setenv("CITEBOT_CACHE_DIR", str(tmp_path / "cache"))
    sources = tmp_path / "sites.yml"
    sources.write_text(f"sites:\n  - url: {website.base}/feed.xml\n    name: Ministry\n  - url: gopher://old.example\n")
    assert main(["sync", "--sources", str(sources), "--corpus", str(tmp_path / "corpus")]) == 0
    out = capsys.readouterr().out
    assert f"Ministry ({website.base}/feed.xml): 2 added, 0 changed, 0 removed, 0 unchanged, 0 skipped" in out
    assert f"added {website.base}/en/news/roads" in out
    assert "old.example (gopher://old.example): refused: not http or https: gopher" in out
    assert len(list((tmp_path / "corpus" / "web").rglob("*.html"))) == 2


def test_citebot_sync_without_a_sources_file_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["sync"]) == 1
    assert "no sources file sources.yml" in capsys.readouterr().err


def test_an_article_is_cited_in_the_askers_language_and_its_view_offers_the_others(
    website: WebSite, tmp_path: Path
) -> None:
    from bot.chat.render import html_messages, plain_messages, source_view
    from bot.ranking.answer import answer

    sync([Site(website.base + "/")], options(tmp_path))
    library = load_library(tmp_path / "corpus", tmp_path / "cache" / "index")
    result = answer(library, "Which budget was approved for the water pipelines in Turkestan?")
    english, russian = website.base + "/en/news/budget", website.base + "/ru/news/budget"
    assert result.answered and result.sources[0].url == english
    assert result.sources[0].alternates == (("en", english), ("ru", russian))
    assert f"— {russian}" in plain_messages(result, lang="ru")[-1]
    assert f"— {english}" in plain_messages(result, lang="en")[-1]
    assert f'<a href="{russian}">' in html_messages(result, lang="ru")[-1]
    again = load_library(tmp_path / "corpus", tmp_path / "cache" / "index")  # from the snapshot and the cache
    entry = next(e for e in again.entries if e.document.url == english)
    assert entry.document.alternates == (("en", english), ("ru", russian))
    view = source_view(entry.document, entry.sentences, 0)
    assert f'🌐 <a href="{russian}">ru</a>' in view and f'<a href="{english}">en</a>' not in view.split("🌐")[1]


def test_a_paragraph_that_becomes_common_is_cut_from_the_pages_saved_before(tmp_path: Path) -> None:
    with serving(WebSite()) as site:
        for path in ("/a", "/b", "/c"):
            site.page(path, boilerplate_page(path, f"Story {path} of the solar plant near Balkhash."))
        site.page("/sitemap.xml", urlset([site.base + "/a", site.base + "/b"]), "text/xml")
        sync([Site(site.base + "/sitemap.xml")], options(tmp_path))
        assert "Advertisement" in corpus_texts(tmp_path)[site.base + "/a"]  # on two pages: not yet boilerplate
        site.page("/sitemap.xml", urlset([site.base + p for p in ("/a", "/b", "/c")]), "text/xml")
        second = sync([Site(site.base + "/sitemap.xml")], options(tmp_path)).sites[0]
        texts = corpus_texts(tmp_path)
    assert second.added == (site.base + "/c",) and second.unchanged == 2
    assert all("Advertisement" not in text and "Balkhash" in text for text in texts.values())


def test_the_address_connected_to_is_checked_again(website: WebSite, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.ingest.sources.web import safety

    # A resolver that vets an address the socket then does not reach (DNS rebinding): the peer check refuses it.
    monkeypatch.setattr(safety, "vetted_addresses", lambda host, port: [(2, "127.0.0.1")])
    with pytest.raises(Refused, match=r"connected to a private address \(127.0.0.1\)"):
        Fetcher(allow_private=False).get(f"http://public.example:{website.port}/")
    assert website.hits["/"] == 0  # connected, but no request was sent


def test_a_short_retry_after_is_waited_out(website: WebSite, tmp_path: Path) -> None:
    answers = iter([(429, {"Retry-After": "0"}, b""), (200, {"Content-Type": "text/html"}, article("Ok", "Fine."))])
    website.routes["/later"] = lambda: next(answers)
    items = [{"url": website.base + "/later", "date_published": "2025-06-05T10:00:00Z"}]
    feed = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items})
    website.page("/feed.json", feed.encode(), "application/feed+json")
    report = sync([Site(website.base + "/feed.json")], options(tmp_path)).sites[0]
    assert report.added == (website.base + "/later",) and website.hits["/later"] == 2


def test_a_tls_error_is_named(website: WebSite) -> None:
    from bot.ingest.sources.web.fetch import FetchError

    with pytest.raises(FetchError, match="TLS error"):
        Fetcher(allow_private=True).get(f"https://127.0.0.1:{website.port}/")


def test_a_running_sync_is_seen_from_outside(tmp_path: Path) -> None:
    from bot.ingest.sources.web.state import sync_lock, sync_running

    assert not sync_running(tmp_path)
    with sync_lock(tmp_path):
        assert sync_running(tmp_path)
    assert not sync_running(tmp_path)
