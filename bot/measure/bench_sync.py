"""`citebot bench-sync`: sync a synthetic site served on loopback, then re-sync it unchanged; speed, memory, cost.

The site (a sitemap and N article pages with ETags, shared menus and teasers) is served by a separate process on
127.0.0.1, so the peak RSS measured is the sync's own. The delay between requests is 0 here (the default, 1 s,
is politeness, not work).
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import random
import resource
import socket
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bot.ingest.sources.web.fetch import user_agent
from bot.ingest.sources.web.sync import Options, Site, SiteReport, sync

PAGES = 2000
WORDS = (
    "budget region water road school minister energy export grain railway hospital solar airport reserve "
    "plant village district programme council agreement investment citizens summer winter"
).split()
MENU = "".join(f"<li><a href='/section/{i}'>Section number {i} of the ministry site</a></li>" for i in range(12))


def page(number: int) -> bytes:
    """Article `number`: a headline, six paragraphs of its own, the menu and teasers every page has."""
    rng = random.Random(number)
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(60)).capitalize() + ".</p>" for _ in range(6)
    )
    teasers = "".join(f"<li>Read also: the story of the week number {i}</li>" for i in range(5))
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Article {number}</title>"
        f"<meta property='article:published_time' content='2025-06-{1 + number % 28:02d}'></head><body>"
        f"<nav><ul>{MENU}</ul></nav><article><h1>Article {number}</h1>{paragraphs}</article>"
        f"<aside><ul>{teasers}</ul></aside><footer>Copyright the ministry press office, all rights reserved</footer>"
        "</body></html>"
    ).encode()


def sitemap(port: int, pages: int) -> bytes:
    """The sitemap listing every article."""
    urls = "".join(f"<url><loc>http://127.0.0.1:{port}/news/{n}</loc></url>" for n in range(pages))
    return f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{urls}</urlset>".encode()


def serve(port_out: multiprocessing.Queue, pages: int) -> None:
    """Serve the site until killed, telling the parent the port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms to each page.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            path = self.path
            if path == "/sitemap.xml":
                # The connection's local port is the server's (server_address is typed for every socket family).
                body, kind = sitemap(self.request.getsockname()[1], pages), "application/xml"
            elif path.startswith("/news/") and path[6:].isdigit() and int(path[6:]) < pages:
                body, kind = page(int(path[6:])), "text/html; charset=utf-8"
            else:
                body, kind = b"", "text/plain"
            status = 200 if body or path == "/robots.txt" else 404
            etag = '"' + hashlib.md5(body).hexdigest() + '"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.put(server.server_address[1])
    server.serve_forever()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(workdir: Path, pages: int) -> list[tuple[str, SiteReport, float]]:
    """The first sync and the re-sync, each with the peak RSS after it."""
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, pages), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=30)
        options = Options(workdir / "corpus", workdir / "cache", user_agent(), allow_private=True, delay=0.0)
        site = Site(f"http://127.0.0.1:{port}/sitemap.xml", max_pages=pages)
        results = []
        for name in ("first sync", "re-sync, unchanged"):
            [report] = sync([site], options).sites
            results.append((name, report, _rss_mb()))
        return results
    finally:
        server.kill()
        server.join()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--pages", type=int, default=PAGES, help=f"article pages on the site (default {PAGES})")
    parser.add_argument("--workdir", type=Path, default=None, help="where corpus and cache go (default: a temp folder)")


def run(args: argparse.Namespace) -> int:
    """Run both syncs and print a Markdown table."""
    started_rss = _rss_mb()
    with tempfile.TemporaryDirectory(prefix="citebot-bench-sync-") as temporary:
        workdir = args.workdir or Path(temporary)
        results = measure(workdir, args.pages)
        saved = len(list((workdir / "corpus").rglob("*.html")))
    print(f"site: {args.pages} pages on 127.0.0.1, delay 0 s; RSS before: {started_rss:.0f} MB; pages saved: {saved}\n")
    print("| run | added | unchanged | skipped | requests | bytes | seconds | pages/s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, report, rss in results:
        pages = len(report.added) + len(report.changed) + report.unchanged
        print(
            f"| {name} | {len(report.added)} | {report.unchanged} | {len(report.skipped)} | {report.requests} "
            f"| {report.wire_bytes:,} | {report.seconds:.1f} | {pages / report.seconds:.0f} | {rss:.0f} |"
        )
    return 0
