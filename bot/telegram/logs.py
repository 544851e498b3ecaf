"""Logging that never writes the bot token."""

from __future__ import annotations

import logging

from bot.config import Settings


class _RedactToken(logging.Filter):
    """Replace the bot token in any record (message, arguments, traceback) before it is written."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


def configure_logging(settings: Settings) -> None:
    """Set up logging (if nobody has) so that request URLs, which carry the token, are never written."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=settings.log_level)
    # httpx logs every request URL at INFO, and the URL is https://api.telegram.org/bot<TOKEN>/...
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    if settings.telegram_bot_token is not None:
        redact = _RedactToken(settings.telegram_bot_token.get_secret_value())
        for handler in root.handlers:
            handler.addFilter(redact)
