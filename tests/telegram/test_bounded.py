"""Maps of users, chats and groups stay bounded: past the limit, entries that are done with are dropped."""

from __future__ import annotations

import pytest

from bot.telegram.bounded import prune


@pytest.mark.parametrize(
    ("size", "limit", "left"),
    [
        (10, 20, 10),  # under the limit: nothing is dropped, stale or not
        (30, 20, 15),  # over it: the stale (odd) entries go, the live ones stay
    ],
)
def test_prune_drops_only_stale_entries_and_only_past_the_limit(size: int, limit: int, left: int) -> None:
    mapping = {key: key for key in range(size)}
    prune(mapping, lambda value: value % 2 == 1, limit=limit)
    assert len(mapping) == left
    assert all(value % 2 == 0 for value in mapping.values()) or size <= limit
