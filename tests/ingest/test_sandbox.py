"""The extraction workers: what they inherit from the bot."""

from __future__ import annotations

import os

import pytest

from bot.ingest.sandbox import Sandbox


def test_a_worker_does_not_inherit_the_token_or_other_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRET-token")
    monkeypatch.setenv("CITEBOT_WEBHOOK_SECRET", "hunter2")
    monkeypatch.setenv("LANG_TEST_KEPT", "kept")
    with Sandbox() as sandbox:
        names = ("TELEGRAM_BOT_TOKEN", "CITEBOT_WEBHOOK_SECRET", "LANG_TEST_KEPT")
        seen = {name: sandbox.call(os.getenv, name, seconds=60) for name in names}
    assert seen == {"TELEGRAM_BOT_TOKEN": None, "CITEBOT_WEBHOOK_SECRET": None, "LANG_TEST_KEPT": "kept"}
    # The bot's own environment is as it was.
    assert os.environ["TELEGRAM_BOT_TOKEN"] == "123456:SECRET-token"
