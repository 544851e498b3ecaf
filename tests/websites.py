"""A small website served on 127.0.0.1 for the web source's tests: pages, feeds, sitemaps and misbehaviour."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = tuple[int, dict[str, str], bytes]


def article(title: str, text: str, lang: str = "en", links: str = "", extra: str = "") -> bytes:
    """An article page: a headline, a few paragraphs, and whatever `links` and `extra` add."""
    paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>{links}'
        f'<meta property="article:published_time" content="2025-06-01"></head>'
        f"<body>{extra}<article><h1>{title}</h1>{paragraphs}</article></body></html>"
    ).encode()


def rss(base: str, paths: list[str]) -> bytes:
    """An RSS 2.0 feed listing `paths` under `base`."""
    items = "".join(
        f"<item><title>{p}</title><link>{base}{p}</link><pubDate>Mon, 02 Jun 2025 10:00:00 GMT</pubDate></item>"
        for p in paths
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{items}</channel></rss>'.encode()


def urlset(urls: list[str]) -> bytes:
    """A sitemap listing `urls`."""
    body = "".join(f"<url><loc>{u}</loc><lastmod>2025-06-03</lastmod></url>" for u in urls)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'.encode()


def index(urls: list[str]) -> bytes:
    """A sitemap index listing the sitemaps at `urls`."""
    body = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    namespace = "http://www.sitemaps.org/schemas/sitemap/0.9"
    return f'<?xml version="1.0"?><sitemapindex xmlns="{namespace}">{body}</sitemapindex>'.encode()


@dataclass
class Site:
    """The routes a test sets (path → status, headers, body, or a callable giving them) and what was asked."""

    routes: dict[str, Route | Callable[[], Route]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    connections: int = 0
    port: int = 0
    slow_seconds: float = 3.0

    @property
    def base(self) -> str:
        """http://127.0.0.1:port"""
        return f"http://127.0.0.1:{self.port}"

    def page(self, path: str, body: bytes, content_type: str = "text/html; charset=utf-8", **headers: str) -> None:
        """Serve `body` at `path` with an ETag (and 304 to a matching If-None-Match)."""
        self.routes[path] = (200, {"Content-Type": content_type, **headers}, body)

    def set(self, path: str, status: int, body: bytes = b"", **headers: str) -> None:
        """Answer `path` with this status."""
        self.routes[path] = (status, headers, body)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def setup(self) -> None:
            site.connections += 1
            super().setup()
            # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms to each page.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            site.hits[path] += 1
            route = site.routes.get(path)
            if callable(route):
                route = route()
            if route is None:
                route = (404, {"Content-Type": "text/plain"}, b"not found")
            status, headers, body = route
            if path == "/slow":
                time.sleep(site.slow_seconds)
            if path == "/huge":
                return self._stream_huge()
            etag = f'"{hashlib.md5(body).hexdigest()}"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
            site.answers[path, status] += 1
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status in (200, 304):
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a cap, a timeout): what the test wanted

        def _stream_huge(self) -> None:
            # No Content-Length: the cap must stop the read, not the header.
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"<p>" + b"lorem ipsum " * 8000 + b"</p>"
            try:
                for _ in range(400):
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True

    return Handler


@contextmanager
def serving(site: Site) -> Iterator[Site]:
    """Serve `site` on 127.0.0.1 (a free port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def gzipped(data: bytes) -> bytes:
    """`data` gzipped."""
    return gzip.compress(data)
