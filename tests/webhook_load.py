"""The webhook's memory while oversized bodies arrive, and its descriptors while idle connections pile up.

Runs `citebot run` in webhook mode against the Bot API stand-in on 127.0.0.1, then: twelve connections at
once each send a 90 MB body with a wrong secret; then 1,100 connections are opened and left idle. Prints the
bot's RSS before and after the bodies, how many idle connections it still holds after its idle timeout, and
whether it answers an update meanwhile (a measurement, not a test). Run: `.venv/bin/python -m tests.webhook_load`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bot.telegram import webhook
from tests.botapi import serve
from tests.telegram_setup import DOCUMENTS, TOKEN, USER, write_corpus

BODY_MB = 90
SENDERS = 12
IDLE = 1100


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def oversized(port: int, results: list[str]) -> None:
    """POST a 90 MB body with a wrong secret, as fast as the server takes it; record the status line."""
    head = (
        f"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {BODY_MB * 2**20}\r\n"
        "X-Telegram-Bot-Api-Secret-Token: wrong\r\n\r\n"
    ).encode()
    chunk = b"x" * 2**20
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        try:
            connection.sendall(head)
            for _ in range(BODY_MB):
                connection.sendall(chunk)
        except OSError:
            pass  # refused and closed before the body was all sent
        try:
            results.append(connection.recv(200).split(b"\r\n")[0].decode())
        except OSError as exc:
            results.append(f"no reply ({exc})")


def update(port: int, secret: str) -> int:
    body = json.dumps(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": USER, "type": "private"},
                "from": {"id": USER, "is_bot": False, "first_name": "U"},
                "text": "What is the capital of Freedonia?",
            },
        }
    ).encode()
    head = (
        f"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + body)
        return int(connection.recv(200).split()[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, serve(TOKEN) as api:
        corpus = write_corpus(Path(folder) / "corpus", DOCUMENTS)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "CITEBOT_"))}
        env |= {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": api.base_url,
            "CITEBOT_CORPUS_DIR": str(corpus),
            "CITEBOT_CACHE_DIR": str(Path(folder) / "cache"),
            "CITEBOT_WEBHOOK_URL": "https://bot.example.org/hook",
            "CITEBOT_WEBHOOK_SECRET": "s3cret",
            "CITEBOT_WEBHOOK_PORT": str(port),
        }
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=folder, env=env, stdout=subprocess.DEVNULL)
        try:
            api.wait_for(lambda: api.webhook, timeout=60)
            time.sleep(1)
            process = psutil.Process(bot.pid)
            before = process.memory_info().rss / 2**20
            results: list[str] = []
            threads = [threading.Thread(target=oversized, args=(port, results)) for _ in range(SENDERS)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            peak = before
            while any(t.is_alive() for t in threads):
                peak = max(peak, process.memory_info().rss / 2**20)
                time.sleep(0.05)
            took = time.monotonic() - started
            print(
                f"{SENDERS} × {BODY_MB} MB with a wrong secret: {sorted(set(results))} in {took:.2f} s; "
                f"RSS {before:.0f} MiB before, {peak:.0f} MiB at most",
                flush=True,
            )
            idle = []
            for _ in range(IDLE):
                try:
                    idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                except OSError:
                    break
            held = lambda: sum(1 for c in process.net_connections() if c.status == "ESTABLISHED")  # noqa: E731
            print(f"{len(idle)} idle connections opened; the bot holds {held()}", flush=True)
            status = update(port, "s3cret")
            answered = api.wait_for(lambda: api.sent(USER), timeout=30)
            print(f"an update meanwhile: HTTP {status}, answered: {bool(answered)}", flush=True)
            time.sleep(webhook.IDLE_TIMEOUT + 2)
            print(f"after the {webhook.IDLE_TIMEOUT:.0f} s idle timeout the bot holds {held()}", flush=True)
            for connection in idle:
                connection.close()
        finally:
            bot.terminate()
            bot.wait(15)


if __name__ == "__main__":
    main()
