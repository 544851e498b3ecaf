"""What the bot remembers per user, chat or group stays bounded: entries that are done with are dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

# Past this many entries, a map of users, chats or groups drops those that are done with before it grows.
MAX_REMEMBERED = 4096


def prune(mapping: dict[K, V], stale: Callable[[V], bool], limit: int = MAX_REMEMBERED) -> None:
    """When `mapping` holds more than `limit` entries, drop the ones `stale` says are done with."""
    if len(mapping) > limit:
        for key in [key for key, value in mapping.items() if stale(value)]:
            del mapping[key]
