"""What a sync remembers of each site (a JSON file under the cache folder), and the sync lock."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.ingest.sources.writing import atomic_write

STATE_FOLDER = "web"
LOCK_NAME = ".sync.lock"


def remove(path: Path) -> None:
    """Delete a file if it is there."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def site_key(url: str) -> str:
    """A file name for a source: its host and a short hash of its URL."""
    host = (urlsplit(url).hostname or "site").lower()
    return f"{host}-{hashlib.blake2b(url.encode(), digest_size=4).hexdigest()}"


def slug(url: str) -> str:
    """A file name for a page: its path's words and a short hash of the whole URL (query included)."""
    parts = urlsplit(url)
    words = re.sub(r"[^\w-]+", "-", parts.path.strip("/").lower(), flags=re.UNICODE).strip("-")[:80] or "index"
    return f"{words}-{hashlib.blake2b(url.encode(), digest_size=4).hexdigest()}"


def state_path(cache: Path, url: str) -> Path:
    """Where the state of the source at `url` is kept."""
    return cache / STATE_FOLDER / f"{site_key(url)}.json"


def raw_folder(cache: Path, url: str) -> Path:
    """Where the pages of the source at `url` are kept as fetched (boilerplate is cut from these copies)."""
    return cache / STATE_FOLDER / site_key(url)


def load_state(path: Path) -> dict[str, Any]:
    """A site's state: {"pages": {url: {...}}, "last": {...}}; empty when missing or unreadable."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"pages": {}}
    if not isinstance(state, dict) or not isinstance(state.get("pages"), dict):
        return {"pages": {}}
    return state


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write a site's state atomically."""
    atomic_write(path, json.dumps(state, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"))


def known_states(cache: Path) -> list[dict[str, Any]]:
    """The state of every source synced so far."""
    folder = cache / STATE_FOLDER
    return [load_state(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def sync_running(cache: Path) -> bool:
    """Whether a sync holds the lock over this cache folder now (in this process or another)."""
    path = cache / STATE_FOLDER / LOCK_NAME
    if not path.exists():
        return False
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def sync_lock(cache: Path) -> Iterator[None]:
    """One sync at a time over a cache folder, across threads and processes: a second one waits."""
    folder = cache / STATE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    # flock belongs to the open file: two opens conflict even within one process, so threads wait too.
    with open(folder / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
