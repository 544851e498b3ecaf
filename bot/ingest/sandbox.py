"""Extraction in worker processes with a time and memory limit, killed and replaced when a file misbehaves."""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from bot.ingest.formats import Extracted, Unreadable, extract

# A worker gets this long per file, plus a second per megabyte; a file that takes longer is skipped.
BASE_SECONDS = 20.0
SECONDS_PER_MB = 1.0
# Address space of a worker: a zip or image bomb fails with MemoryError instead of swapping the machine.
WORKER_MEMORY = 3 << 30


# Variables a worker is started without: the token and every setting (a worker reads hostile files, and needs none).
SECRET_PREFIXES = ("TELEGRAM_", "CITEBOT_")
# A spawned process takes the environment of the moment it starts; workers start one at a time while it is scrubbed.
_STARTING = threading.Lock()


@contextmanager
def _scrubbed_environment() -> Iterator[None]:
    """os.environ without the secrets for the moment a worker starts, then as it was."""
    with _STARTING:
        removed = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith(SECRET_PREFIXES)}
        try:
            yield
        finally:
            os.environ.update(removed)


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the time limit still holds


def _serve(connection: Connection) -> None:
    """The worker's loop: run each (function, arguments) it is sent and send back ("ok", result) or ("error", why)."""
    _limit_memory()
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        function, arguments = task
        try:
            reply: tuple[str, object] = ("ok", function(*arguments))
        except Unreadable as exc:
            reply = ("error", str(exc))
        except MemoryError:
            reply = ("error", "too large to read within the memory limit")
        except RecursionError:
            reply = ("error", "nested too deeply to read")
        except Exception as exc:  # a parser's own bug on a hostile file: that file is skipped, the worker lives
            reply = ("error", f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})")
        try:
            connection.send(reply)
        except Exception as exc:  # an unpicklable result
            connection.send(("error", f"cannot be read ({type(exc).__name__})"))


def time_limit(size: int) -> float:
    """Seconds a worker may spend on a file of this many bytes."""
    return BASE_SECONDS + SECONDS_PER_MB * size / 1e6


class Sandbox:
    """A worker process that runs extractors under a time and memory limit; a hung or crashed one is replaced."""

    def __init__(self) -> None:
        self._process: Any = None
        self._connection: Connection | None = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> Connection:
        if self._connection is None:
            # spawn, not fork: the bot may hold threads and a large library, neither of which a worker needs.
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child,), daemon=True, name="citebot-extract")
            with _scrubbed_environment():
                self._process.start()
            child.close()
            self._connection = parent
        return self._connection

    def call(self, function: Callable[..., Any], *arguments: Any, seconds: float) -> Any:
        """Run function(*arguments) in the worker; raise Unreadable with the reason if it fails, hangs or crashes."""
        connection = self._start()
        try:
            connection.send((function, arguments))
            if not connection.poll(seconds):
                self._kill()
                raise Unreadable(f"took longer than {seconds:g} s to read (a hostile or huge file?)")
            status, value = connection.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = self._kill()
            raise Unreadable(f"the reader crashed on this file (exit code {code})") from None
        if status == "error":
            raise Unreadable(str(value))
        return value

    def extract(self, kind: str, data: bytes) -> Extracted:
        """`extract(kind, data)` in the worker, with a time limit that grows with the file."""
        return self.call(extract, kind, data, seconds=time_limit(len(data)))

    def _kill(self) -> int | None:
        process, self._process = self._process, None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if process is None:
            return None
        process.kill()
        process.join(5)
        return process.exitcode

    def close(self) -> None:
        """Stop the worker, asking first and killing if it does not go."""
        if self._connection is not None:
            try:
                self._connection.send(None)
            except OSError:
                pass
        if self._process is not None:
            self._process.join(2)
        self._kill()


class SandboxPool:
    """Sandboxes that extract files side by side, one worker process per core; each is started when first needed."""

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers if workers > 0 else os.cpu_count() or 1
        self._idle: queue.SimpleQueue[Sandbox] = queue.SimpleQueue()
        self._all: list[Sandbox] = []
        self._threads: ThreadPoolExecutor | None = None

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, kind: str, data: bytes) -> Future[Extracted]:
        """Extract a file in the next free sandbox; the future raises Unreadable with the reason."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="citebot-extract")
        return self._threads.submit(self._extract, kind, data)

    def extract(self, kind: str, data: bytes) -> Extracted:
        """Extract a file and wait for it."""
        return self.submit(kind, data).result()

    def run(self, function: Callable[..., Any], *arguments: Any, seconds: float) -> Any:
        """function(*arguments) in a free sandbox, and wait for it; Unreadable with the reason if it fails."""
        sandbox = self._take()
        try:
            return sandbox.call(function, *arguments, seconds=seconds)
        finally:
            self._idle.put(sandbox)

    def _take(self) -> Sandbox:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            sandbox = Sandbox()  # never more than one per thread: a thread returns its sandbox before taking a file
            self._all.append(sandbox)
            return sandbox

    def _extract(self, kind: str, data: bytes) -> Extracted:
        sandbox = self._take()
        try:
            return sandbox.extract(kind, data)
        finally:
            self._idle.put(sandbox)

    def close(self) -> None:
        """Stop the threads and every worker process."""
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None
        for sandbox in self._all:
            sandbox.close()
        self._all.clear()
