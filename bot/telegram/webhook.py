"""The webhook server: updates Telegram pushes to CITEBOT_WEBHOOK_URL, taken into the Application's queue.

Our own small tornado server rather than PTB's, because PTB's reads a whole body (up to 100 MB) before it
looks at the secret, keeps idle connections for an hour and bounds nothing. Here a request is judged on
its headers: a wrong secret, path, type or size is refused before any of its body is read, bodies are
capped at MAX_BODY, connections that send nothing are closed after IDLE_TIMEOUT and at most
MAX_CONNECTIONS are open at once; running out of file descriptors pauses accepting instead of spinning.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import logging
import re
import socket
import time
from collections import OrderedDict
from http import HTTPStatus
from typing import Any

import tornado.web
from telegram import Update
from telegram.ext import Application
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets

log = logging.getLogger(__name__)

# Telegram's updates are a few kilobytes; a megabyte is ample.
MAX_BODY = 2**20
MAX_HEADERS = 16 * 1024
# A connection that sends no request (or no whole header) for this long is closed; so is a body this slow.
IDLE_TIMEOUT = 30.0
BODY_TIMEOUT = 30.0
# Telegram opens at most 100 connections per bot (40 by default); past this many the oldest is closed.
MAX_CONNECTIONS = 200
# When the process runs out of file descriptors, accepting pauses this long; the error is logged once a minute.
ACCEPT_PAUSE = 1.0
FD_LOG_PERIOD = 60.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@tornado.web.stream_request_body
class Refused(tornado.web.RequestHandler):
    """Any path but the webhook's: 404 from the headers, the body never read."""

    def prepare(self) -> None:
        """Refuse before the body."""
        raise tornado.web.HTTPError(HTTPStatus.NOT_FOUND)

    def log_exception(self, *args: Any) -> None:
        """Refusals are not errors worth a traceback."""


@tornado.web.stream_request_body
class Updates(tornado.web.RequestHandler):
    """POSTs of updates: the secret, type and size checked from the headers, then the body read up to MAX_BODY."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, bot_application: Application, secret: str) -> None:
        """Tornado's per-request set-up: the Application updates go to, and the secret they must carry."""
        self.application_ = bot_application
        self.secret = secret
        self.body = bytearray()

    def prepare(self) -> None:
        """Judge the request on its headers, before any of its body is read."""
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.secret.encode()):
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        if self.request.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise tornado.web.HTTPError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        length = self.request.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise tornado.web.HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)

    def data_received(self, chunk: bytes) -> None:
        """Collect the body; past MAX_BODY (a chunked body says no length) refuse and read no more."""
        if self._finished:
            return
        if len(self.body) + len(chunk) > MAX_BODY:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return
        self.body += chunk

    async def post(self) -> None:
        """Put the update in the Application's queue."""
        try:
            update = Update.de_json(json.loads(self.body), self.application_.bot)
        except Exception:  # noqa: BLE001 - whatever the sender got wrong, it is their 400
            log.warning("Webhook: a request with the right secret held no update; refused")
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST) from None
        if update is not None:
            await self.application_.update_queue.put(update)

    def log_exception(self, *args: Any) -> None:
        """Refusals are not errors worth a traceback."""


class Server(HTTPServer):
    """Tornado's HTTP server with a bound on open connections and an accept loop that survives EMFILE."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """Tornado's set-up, plus the counters."""
        super().initialize(*args, **kwargs)
        self.streams: OrderedDict[IOStream, None] = OrderedDict()  # open connections, oldest first
        self.sockets: list[socket.socket] = []
        self._last_fd_log = -FD_LOG_PERIOD

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        """A new connection: served; with MAX_CONNECTIONS open already, the oldest is closed to make room (a
        flood of idle connections then delays a real update by reconnecting it, rather than shutting it out)."""
        while len(self.streams) >= MAX_CONNECTIONS:
            oldest, _ = self.streams.popitem(last=False)
            oldest.close()
        self.streams[stream] = None
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        """A connection closed."""
        self.streams.pop(getattr(server_conn, "stream", None), None)  # type: ignore[arg-type]
        super().on_close(server_conn)

    def serve(self, sockets: list[socket.socket]) -> None:
        """Accept connections on these listening sockets."""
        loop = asyncio.get_running_loop()
        for sock in sockets:
            self.sockets.append(sock)
            loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(128):  # a burst at a time, as tornado does, then back to the loop
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause(sock, exc)
                    return
                raise
            connection.setblocking(False)
            self.handle_stream(IOStream(connection, max_buffer_size=MAX_BODY + MAX_HEADERS), address)

    def _pause(self, sock: socket.socket, exc: OSError) -> None:
        """Out of descriptors: stop accepting for a moment (else the loop spins on the ready socket)."""
        now = time.monotonic()
        if now - self._last_fd_log >= FD_LOG_PERIOD:
            log.error(
                "Webhook: cannot accept connections (%s); %d open, pausing %.0f s (raise LimitNOFILE?)",
                exc.strerror,
                len(self.streams),
                ACCEPT_PAUSE,
            )
            self._last_fd_log = now
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())
        loop.call_later(ACCEPT_PAUSE, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if sock in self.sockets:
            asyncio.get_running_loop().add_reader(sock.fileno(), self._accept, sock)

    async def close(self) -> None:
        """Stop accepting and close every connection."""
        loop = asyncio.get_running_loop()
        for sock in self.sockets:
            loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets = []
        await self.close_all_connections()


def start(application: Application, path: str, secret: str, listen: str, port: int) -> Server:
    """Serve `path` on listen:port for updates carrying `secret`; every other path gets 404."""
    app = tornado.web.Application(
        [(rf"{re.escape(path.rstrip('/'))}/?", Updates, {"bot_application": application, "secret": secret})],
        default_handler_class=Refused,
        log_function=lambda handler: None,  # a flood of refusals must not become a flood of log lines
    )
    server = Server(
        app,
        # The handlers judge sizes from the headers themselves; tornado's own check would answer 400 besides.
        max_body_size=2**40,
        max_header_size=MAX_HEADERS,
        idle_connection_timeout=IDLE_TIMEOUT,
        body_timeout=BODY_TIMEOUT,
        decompress_request=False,
    )
    server.serve(bind_sockets(port, address=listen, backlog=128))
    return server
