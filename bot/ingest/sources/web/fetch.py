"""The web source's HTTP client: timeouts, a size cap, redirects kept within the site, compressed answers.

Every connection goes through `safety.VettedBackend`, so each hop of a redirect is vetted too; no proxy from
the environment is used (it would connect for us to addresses never vetted).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from bot import __version__
from bot.ingest.sources.web.safety import Refused, VettedBackend, check_scheme

REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Limits:
    """How long, how large and how far a fetch may go."""

    timeout: float = 20.0  # seconds for the whole answer, and for each wait within it
    max_bytes: int = 10 * 2**20  # of the body, decompressed
    max_redirects: int = 5


class FetchError(Exception):
    """A fetch that failed, with a reason fit for the sync report ("timed out after 20 s", "redirect loop"…)."""


@dataclass(frozen=True)
class Response:
    """An answer: its final URL and status, the body (decompressed) and the headers a sync uses."""

    url: str
    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""
    charset: str | None = None
    retry_after: float | None = None
    location: str | None = None  # where a redirect points
    wire_bytes: int = 0  # as sent over the network, compressed
    requests: int = 1  # redirects included


def user_agent(contact: str = "") -> str:
    """The User-Agent: citebot and its version, and the contact URL when one is set."""
    return f"citebot/{__version__}" + (f" (+{contact.strip()})" if contact.strip() else "")


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same site: the same host, `www.` aside."""
    host_a, host_b = (urlsplit(u).hostname or "" for u in (a, b))
    return host_a.removeprefix("www.") == host_b.removeprefix("www.") and bool(host_a)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait (a number or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass
class Fetcher:
    """One HTTP client for a sync; `get` fetches a URL within the limits and the site."""

    agent: str = field(default_factory=user_agent)
    allow_private: bool = False
    limits: Limits = field(default_factory=Limits)
    delay: float = 0.0  # seconds between two requests: one at a time per site, and not in a rush
    requests: int = 0
    wire_bytes: int = 0
    _last: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        transport = httpx.HTTPTransport(trust_env=False, retries=0)
        # httpx takes no network backend, so its pool is rebuilt on one that vets every address it connects to.
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=8,
            max_keepalive_connections=8,
            network_backend=VettedBackend(self.allow_private),
        )
        self.client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(self.limits.timeout),
            headers={"User-Agent": self.agent},
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def get(self, url: str, headers: dict[str, str] | None = None, max_bytes: int | None = None) -> Response:
        """GET `url`, following redirects within its site; FetchError or Refused on failure."""
        seen = {url}
        wire = 0
        for hop in range(self.limits.max_redirects + 1):
            check_scheme(url)
            self._pace()
            try:
                response = self._get_once(url, headers or {}, max_bytes or self.limits.max_bytes)
            finally:
                self.requests += 1
                self._last = time.monotonic()
            wire += response.wire_bytes
            self.wire_bytes += response.wire_bytes
            if response.location is None:
                return replace(response, wire_bytes=wire, requests=hop + 1)
            target = urljoin(url, response.location)
            if not same_site(url, target):
                raise FetchError(f"redirected off the site (to {urlsplit(target).hostname})")
            if target in seen:
                raise FetchError("redirect loop")
            seen.add(target)
            url = target
        raise FetchError(f"more than {self.limits.max_redirects} redirects")

    def _pace(self) -> None:
        wait = self._last + self.delay - time.monotonic()
        if self._last and wait > 0:
            time.sleep(wait)

    def _get_once(self, url: str, headers: dict[str, str], max_bytes: int) -> Response:
        deadline = time.monotonic() + self.limits.timeout
        try:
            with self.client.stream("GET", url, headers=headers) as answer:
                if answer.status_code in REDIRECTS:
                    return Response(url, answer.status_code, location=answer.headers.get("location", ""))
                declared = answer.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes and answer.status_code == 200:
                    raise FetchError(f"larger than {_mb(max_bytes)} (Content-Length {_mb(int(declared))})")
                body = bytearray()
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"larger than {_mb(max_bytes)}")
                    if time.monotonic() > deadline:
                        raise FetchError(f"no complete answer within {self.limits.timeout:g} s")
                return Response(
                    url=str(answer.url),
                    status=answer.status_code,
                    body=bytes(body),
                    etag=answer.headers.get("etag"),
                    last_modified=answer.headers.get("last-modified"),
                    content_type=answer.headers.get("content-type", "").split(";")[0].strip().lower(),
                    charset=answer.charset_encoding,
                    retry_after=retry_after(answer.headers.get("retry-after")),
                    wire_bytes=answer.num_bytes_downloaded,
                )
        except Refused:
            raise
        except httpx.TimeoutException:
            raise FetchError(f"no answer within {self.limits.timeout:g} s") from None
        except httpx.ConnectError as exc:
            text = str(exc)
            kind = "TLS error" if "SSL" in text or "CERTIFICATE" in text.upper() else "cannot connect"
            raise FetchError(f"{kind} ({text[:200]})") from None
        except httpx.DecodingError:
            raise FetchError("a compressed answer that does not decompress") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__} ({str(exc)[:200]})") from None


def _mb(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{size // 1024} KB"
