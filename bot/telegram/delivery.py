"""Sending within Telegram's rates, retrying the failures that pass, and the getUpdates client.

`Delivery` decides what is retried when Telegram fails, `Polling` how a failed getUpdates is waited out;
`undeliverable` and `transient` tell the error handler which failures are worth telling a user about.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import warnings
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.constants import FloodLimit
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.telegram.bounded import prune

log = logging.getLogger(__name__)

# Pauses before retrying a request that failed for a reason that passes (5xx, timeout, network): 3 retries in 10 s.
SEND_BACKOFF = (1.0, 3.0, 6.0)
# Most seconds one request spends waiting out 429s (however many) before it is given up.
FLOOD_BUDGET = 300.0
# Longest pause between failed polls; the pause doubles from 1 s up to this.
POLL_BACKOFF_MAX = 30.0

# A BadRequest with one of these means the chat cannot take our messages at all; retrying or apologising is useless.
UNDELIVERABLE = (
    "chat not found",
    "user not found",
    "bot was blocked",
    "bot was kicked",
    "user is deactivated",
    "not enough rights",
    "have no rights",
    "chat_write_forbidden",
    "topic_closed",
    "peer_id_invalid",
)


def _retry_after(exc: RetryAfter) -> float:
    """The seconds a 429 asks to wait (PTB 22 gives an int and warns it will become a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class Delivery(BaseRateLimiter[None]):
    """Sends requests within Telegram's rates and retries the failures that pass.

    A 429 is waited out for its retry_after, all requests pausing meanwhile, as long as `flood_budget`
    allows; a 5xx, timeout or dropped connection is retried after each pause in `backoff`; any other
    error (a 4xx: bad request, bot blocked, chat not found) is final. PTB's AIORateLimiter only retries
    429s, a fixed number of times, so this keeps its limits (30 messages/s, 20 per minute per group)
    and adds the rest. `sleep` is injectable so tests need not wait.
    """

    def __init__(
        self,
        backoff: Sequence[float] = SEND_BACKOFF,
        flood_budget: float = FLOOD_BUDGET,
        sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
    ) -> None:
        self.backoff = tuple(backoff)
        self.flood_budget = flood_budget
        self._sleep = sleep
        self._overall = AsyncLimiter(FloodLimit.MESSAGES_PER_SECOND, 1)
        self._groups: dict[int | str, AsyncLimiter] = {}
        self._resume = asyncio.Event()
        self._resume.set()

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Make one Bot API request within the rate limits, retrying 429s and transient failures."""
        pauses = iter(self.backoff)
        flooded = 0.0
        while True:
            try:
                return await self._throttled(callback, args, kwargs, data.get("chat_id"))
            except RetryAfter as exc:
                wait = _retry_after(exc) + 0.1
                if flooded + wait > self.flood_budget:
                    log.warning(
                        "%s: Telegram asks for %.0f s more after %.0f s of flood waits; giving up",
                        endpoint,
                        wait,
                        flooded,
                    )
                    raise
                flooded += wait
                log.info("%s: flood control, retrying in %.1f s", endpoint, wait)
                await self._pause_all(wait)
            except BadRequest:
                raise  # PTB makes it a NetworkError, but the same request will be refused again
            except NetworkError as exc:
                pause = next(pauses, None)
                if pause is None:
                    raise
                log.warning("%s failed (%s); retrying in %.0f s", endpoint, exc, pause)
                await self._sleep(pause)

    async def _throttled(
        self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any, kwargs: dict[str, Any], chat_id: object
    ) -> Any:
        overall = self._overall if chat_id is not None else contextlib.nullcontext()
        async with self._group(chat_id), overall:
            await self._resume.wait()
            return await callback(*args, **kwargs)

    def _group(self, chat_id: object) -> contextlib.AbstractAsyncContextManager[Any]:
        """The per-group limiter: groups have negative ids, channels may be named by @username."""
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)  # type: ignore[call-overload]  # any id PTB takes; a non-number is kept
        if not (isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)):
            return contextlib.nullcontext()
        # Groups whose allowance has fully refilled are forgotten; they start afresh anyway.
        prune(self._groups, lambda old: old.has_capacity(old.max_rate))
        if chat_id not in self._groups:
            self._groups[chat_id] = AsyncLimiter(FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP, 60)
        return self._groups[chat_id]

    async def _pause_all(self, seconds: float) -> None:
        # Telegram's flood control is per bot: sending anything else meanwhile only extends the wait.
        self._resume.clear()
        try:
            await self._sleep(seconds)
        finally:
            self._resume.set()


class Polling(HTTPXRequest):
    """The HTTP client of getUpdates: a failed poll is logged in one line and waited out inside the request.

    Waiting here rather than in PTB's retry loop means stopping interrupts the wait at once: PTB sleeps
    through a 429's retry_after (a minute or more) before it looks at its stop signal again, and logs
    every other failure with a traceback.
    """

    def __init__(self) -> None:
        super().__init__(connection_pool_size=1)
        self.failures = 0
        self.stopping = False

    # PTB marks post() final to keep its error handling in one place; this override wraps it, keeping that handling.
    async def post(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        """Fetch updates; after a failure, pause (1 s doubling to 30 s, or the 429's retry_after) and return none."""
        try:
            result = await super().post(*args, **kwargs)
        except (InvalidToken, TimedOut):
            raise  # a revoked token ends polling; a long poll that timed out is simply repeated by PTB
        except TelegramError as exc:
            return await self._wait_out(exc)
        self.failures = 0
        return result

    async def _wait_out(self, exc: TelegramError) -> list[Any]:
        if self.stopping:
            log.warning(
                "Could not confirm the last updates to Telegram (%s); they may come again at the next start", exc
            )
            return []
        if isinstance(exc, RetryAfter):
            pause = _retry_after(exc)
        else:
            pause = min(POLL_BACKOFF_MAX, 2.0**self.failures)
            self.failures += 1
        log.warning("Polling Telegram failed (%s); retrying in %.0f s", exc, pause)
        await asyncio.sleep(pause)
        return []


def undeliverable(error: BaseException) -> bool:
    """Whether the chat cannot take messages at all: the bot was blocked or removed, the chat is gone."""
    if isinstance(error, Forbidden | ChatMigrated):
        return True
    return isinstance(error, BadRequest) and any(text in error.message.lower() for text in UNDELIVERABLE)


def transient(error: BaseException) -> bool:
    """Whether Telegram could not be reached (still, after the retries), rather than refusing the request."""
    return isinstance(error, RetryAfter) or (isinstance(error, NetworkError) and not isinstance(error, BadRequest))
