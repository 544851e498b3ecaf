"""The webhook server under abuse: wrong secrets with huge bodies, oversized bodies, idle connections."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import tornado.web

from bot.telegram import webhook
from tests.botapi import BotApi
from tests.telegram_setup import DOCUMENTS, USER, make_settings, running, write_corpus

SECRET = "right_secret-1"
PATH = "/tg-hook"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def port(api: BotApi, tmp_path: Path) -> AsyncIterator[int]:
    port = free_port()
    corpus = write_corpus(tmp_path / "corpus", DOCUMENTS)
    settings = make_settings(
        api,
        corpus,
        webhook_url=f"https://bot.example.org{PATH}",
        webhook_secret=SECRET,
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    async with running(settings):
        yield port


def head(secret: str | None, length: int, path: str = PATH, chunked: bool = False) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    if secret is not None:
        lines.append(f"X-Telegram-Bot-Api-Secret-Token: {secret}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(port: int, request: bytes, body: bytes = b"", timeout: float = 5.0) -> int:
    """Send a request's head (and some body) and read the status line; the rest of a large body is never sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request + body)
        reply = connection.recv(4096)
    return int(reply.split()[1])


@pytest.mark.parametrize(
    ("secret", "path", "status"),
    [("wrong", PATH, 403), (None, PATH, 403), (SECRET, PATH, 413), ("wrong", "/elsewhere", 404)],
    ids=["wrong-secret", "no-secret", "right-secret-too-large", "wrong-path"],
)
async def test_a_huge_body_is_refused_from_its_headers_without_being_read(
    port: int, secret: str | None, path: str, status: int
) -> None:
    # 90 MB announced, 64 KB sent: an answer now means nobody waited to read (or buffer) the rest.
    request = head(secret, 90 * 2**20, path)
    assert await asyncio.to_thread(status_of, port, request, b"x" * 65536) == status


async def test_a_chunked_body_past_the_cap_is_refused(port: int) -> None:
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    request = head(SECRET, 0, chunked=True)
    status = await asyncio.to_thread(status_of, port, request, chunk * (webhook.MAX_BODY // 65536 + 2))
    assert status == 413


async def test_a_real_update_is_still_taken(api: BotApi, port: int) -> None:
    body = (
        b'{"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": %d, "type": "private"},'
        b' "from": {"id": %d, "is_bot": false, "first_name": "U"}, "text": "What is the capital of Freedonia?"}}'
        % (USER, USER)
    )
    assert await asyncio.to_thread(status_of, port, head(SECRET, len(body)), body) == 200
    [reply] = await api.replies(USER)
    assert "Fredville" in reply.params["text"]


def closed_within(connection: socket.socket, seconds: float) -> bool:
    """Whether the server closes a connection we send nothing on within `seconds`."""
    connection.settimeout(seconds)
    try:
        return connection.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook, "IDLE_TIMEOUT", 0.5)
    monkeypatch.setattr(webhook, "MAX_CONNECTIONS", 3)


async def test_idle_connections_are_closed_and_their_number_bounded(short_timeouts: None, port: int) -> None:
    connections = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
    try:
        started = time.monotonic()
        closed = await asyncio.gather(*(asyncio.to_thread(closed_within, c, 10) for c in connections))
        took = time.monotonic() - started
    finally:
        for connection in connections:
            connection.close()
    assert all(closed), "an idle connection stayed open"
    assert took < 10


class Exhausted:
    """A listening socket whose accept() fails as it does once the process has no file descriptor left."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.calls = 0

    def fileno(self) -> int:
        return self.listener.fileno()

    def accept(self) -> tuple[socket.socket, object]:
        self.calls += 1
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self) -> None:
        self.listener.close()


async def test_running_out_of_descriptors_pauses_accepting_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(webhook, "ACCEPT_PAUSE", 0.05)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    exhausted = Exhausted(listener)
    server = webhook.Server(tornado.web.Application())
    server.serve([exhausted])  # type: ignore[list-item]
    with socket.create_connection(listener.getsockname()), caplog.at_level(logging.ERROR):
        await asyncio.sleep(0.5)  # a connection waits to be accepted all along: the socket stays readable
        await server.close()
    # Tried again after each pause, not thousands of times a second; one log line, not one per try.
    assert 2 <= exhausted.calls <= 12
    assert caplog.text.count("cannot accept connections") == 1
