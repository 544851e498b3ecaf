"""The central error handler: an update without what its handler needs is one log line, with no reply."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from telegram import Update

from bot.telegram.errors import on_error
from bot.telegram.state import MissingField, message_of


async def test_an_update_without_a_message_is_one_warning_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    update = Update(update_id=7)
    with pytest.raises(MissingField) as raised:
        message_of(update)
    with caplog.at_level(logging.WARNING, logger="bot.telegram.errors"):
        await on_error(update, SimpleNamespace(error=raised.value))
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "update 7 has no message" in record.getMessage()
