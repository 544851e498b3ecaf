"""What the Telegram tests share: the Bot API stand-in on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.botapi import BotApi, serve
from tests.telegram_setup import TOKEN


@pytest.fixture
def api() -> Iterator[BotApi]:
    """A Bot API stand-in for the test token, served on 127.0.0.1 for the test's length."""
    with serve(TOKEN) as api:
        yield api
