"""The Telegram layer: handlers, the Application that runs them, and `run` for `citebot run`.

This is the only module of citebot that imports `telegram`. Everything CPU-bound (loading the
corpus, scoring a question) runs in worker threads so the event loop keeps serving other chats.
`Delivery` decides what is retried when Telegram fails, `Polling` how a failed getUpdates is waited
out, and `serve` how the bot starts and stops (SIGTERM, SIGINT) and reloads (SIGHUP).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import mimetypes
import re
import signal
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiolimiter import AsyncLimiter
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType, FloodLimit, ParseMode
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
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseRateLimiter,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot import messages, refs, render, uploads
from bot.answer import Answer, Quote, answer
from bot.config import Settings
from bot.corpus import CorpusError, Skipped
from bot.feedback import Feedback, feedback_report, gaps_report, shown_sentences
from bot.languages import Languages
from bot.library import Library
from bot.serving import load_for

log = logging.getLogger(__name__)

# The command menu (setMyCommands, in each interface language) and /help; README.md documents every one of them.
COMMAND_NAMES = ("start", "help", "ask", "reload", "stats", "feedback", "gaps", "remove")
COMMANDS: list[tuple[str, str]] = [(name, messages.text(f"command_{name}")) for name in COMMAND_NAMES]
ADMIN_COMMANDS = frozenset({"reload", "stats", "feedback", "gaps", "remove"})
# The Bot API hands bots files of up to 20 MB (getFile); a larger one cannot be fetched however the bot is set.
DOWNLOAD_LIMIT = 20 * 2**20

# Only new messages matter (edits would answer the same question twice), besides button presses and inline queries.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]
# How polling starts, shared by `serve` and the tests.
POLLING: dict[str, Any] = {"allowed_updates": ALLOWED_UPDATES, "drop_pending_updates": False}
# Seconds a getUpdates long poll stays open when there is nothing to fetch.
POLL_TIMEOUT = 10
# BM25 gains nothing from a wall of text; a question this long is almost always a paste by mistake.
MAX_QUESTION_LENGTH = 1000
# Bounded so a burst of updates cannot spawn unbounded tasks and threads.
CONCURRENT_UPDATES = 32
# Pauses before retrying a request that failed for a reason that passes (5xx, timeout, network): 3 retries in 10 s.
SEND_BACKOFF = (1.0, 3.0, 6.0)
# Most seconds one request spends waiting out 429s (however many) before it is given up.
FLOOD_BUDGET = 300.0
# Longest pause between failed polls; the pause doubles from 1 s up to this.
POLL_BACKOFF_MAX = 30.0
# On SIGTERM the bot is gone within this many seconds; answers in hand get whatever time is left.
STOP_WITHIN = 6.0
# Confirming the updates already fetched, the first step of stopping, gets at most this long.
STOP_POLLING = 2.0
# How long a getChatMember answer is trusted: a member stays one, a stranger may join any moment.
MEMBER_TTL = 600.0
NON_MEMBER_TTL = 60.0
MEMBER_STATUSES = frozenset({ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
# A BadRequest with one of these means the chat cannot take our messages at all; retrying or apologising is useless.
UNDELIVERABLE = ("chat not found", "user not found", "bot was blocked", "bot was kicked", "user is deactivated",
                 "not enough rights", "have no rights", "chat_write_forbidden", "topic_closed", "peer_id_invalid")
# A /reload report lists up to this many problem files one by one; past that it groups them by reason,
# naming REPORT_NAMES files for each of up to REPORT_REASONS reasons and counting the rest.
REPORT_FILES = 10
REPORT_NAMES = 3
REPORT_REASONS = 8
STATE = "citebot"
# Inline results are cached by Telegram this long, per user (allowlists differ between users).
INLINE_CACHE_SECONDS = 30
INLINE_TITLE_CHARS = 100
# Source buttons per keyboard row.
ROW = 4

T = TypeVar("T")


# ---- delivery: rates, retries and the getUpdates client ----------------------------------------


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
                    log.warning("%s: Telegram asks for %.0f s more after %.0f s of flood waits; giving up",
                                endpoint, wait, flooded)
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
            chat_id = int(chat_id)  # type: ignore[call-overload]
        if not (isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0)):
            return contextlib.nullcontext()
        if len(self._groups) > 512:
            # Forget groups whose allowance has fully refilled; they start afresh anyway.
            for key, old in list(self._groups.items()):
                if old.has_capacity(old.max_rate):
                    del self._groups[key]
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

    async def post(self, *args: Any, **kwargs: Any) -> Any:
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
            log.warning("Could not confirm the last updates to Telegram (%s); they may come again at the next start", exc)
            return []
        if isinstance(exc, RetryAfter):
            pause = _retry_after(exc)
        else:
            pause = min(POLL_BACKOFF_MAX, 2.0**self.failures)
            self.failures += 1
        log.warning("Polling Telegram failed (%s); retrying in %.0f s", exc, pause)
        await asyncio.sleep(pause)
        return []


def _undeliverable(error: BaseException) -> bool:
    """Whether the chat cannot take messages at all: the bot was blocked or removed, the chat is gone."""
    if isinstance(error, Forbidden | ChatMigrated):
        return True
    return isinstance(error, BadRequest) and any(text in error.message.lower() for text in UNDELIVERABLE)


def _transient(error: BaseException) -> bool:
    """Whether Telegram could not be reached (still, after the retries), rather than refusing the request."""
    return isinstance(error, RetryAfter) or (isinstance(error, NetworkError) and not isinstance(error, BadRequest))


# ---- state shared by the handlers ----------------------------------------------------------------


@dataclass
class Refusals:
    """When each stranger was last refused, so a refusal goes out once per period and then silence."""

    period: float
    _last: dict[tuple[int | None, int | None], float] = field(default_factory=dict)

    def due(self, chat_id: int | None, user_id: int | None) -> bool:
        """True if this stranger in this chat has not been refused within the period (and count it as refused now)."""
        now = time.monotonic()
        last = self._last.get((chat_id, user_id))
        if last is not None and now - last < self.period:
            return False
        if len(self._last) > 4096:
            self._last = {key: at for key, at in self._last.items() if now - at < self.period}
        self._last[chat_id, user_id] = now
        return True


@dataclass
class Membership:
    """Whether a user belongs to one of the allowed chats: asked of Telegram (getChatMember) and remembered."""

    chat_ids: frozenset[int]
    _known: dict[int, tuple[float, bool]] = field(default_factory=dict)
    _asking: dict[int, asyncio.Task[bool]] = field(default_factory=dict)

    async def includes(self, bot: Bot, user_id: int) -> bool:
        """True if the user is a member of any allowed chat; one lookup per user at a time, then cached."""
        known = self._known.get(user_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        task = self._asking.get(user_id)
        if task is None:
            task = self._asking[user_id] = asyncio.create_task(self._ask(bot, user_id))
        # Shielded: one asker giving up must not cancel the lookup the others are waiting for.
        return await asyncio.shield(task)

    async def _ask(self, bot: Bot, user_id: int) -> bool:
        try:
            member = False
            for chat_id in sorted(self.chat_ids):
                if await _is_member(bot, chat_id, user_id):
                    member = True
                    break
            now = time.monotonic()
            if len(self._known) > 4096:
                self._known = {key: value for key, value in self._known.items() if value[0] > now}
            self._known[user_id] = (now + (MEMBER_TTL if member else NON_MEMBER_TTL), member)
            return member
        finally:
            del self._asking[user_id]


async def _is_member(bot: Bot, chat_id: int, user_id: int) -> bool:
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramError as exc:
        # The bot is no longer in the chat, or the chat is gone: nobody counts as its member.
        log.warning("Cannot check who is in chat %s (%s); treating user %s as not a member", chat_id, exc, user_id)
        return False
    if member.status == ChatMemberStatus.RESTRICTED:
        return bool(getattr(member, "is_member", False))
    return member.status in MEMBER_STATUSES


@dataclass
class BotState:
    """What the handlers share: the current library, counters, and the per-user flood guards."""

    settings: Settings
    library: Library
    polling: Polling = field(default_factory=Polling)
    feedback: Feedback | None = None
    key: bytes = b""  # signs the buttons' callback data
    started: float = field(default_factory=time.monotonic)
    answered: int = 0
    not_found: int = 0
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refusals: Refusals = field(init=False)
    members: Membership = field(init=False)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    _limiters: dict[int, AsyncLimiter] = field(default_factory=dict)
    _warned: set[int] = field(default_factory=set)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _waiting: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.refusals = Refusals(self.settings.user_rate_period)
        self.members = Membership(self.settings.allowed_chat_ids)

    async def admit(self, user_id: int) -> bool:
        """Take one question from the user's allowance; False if they are over their rate limit."""
        limiter = self._limiters.get(user_id)
        if limiter is None:
            if len(self._limiters) > 1024:
                # Forget users whose bucket has fully drained; they start afresh anyway.
                for key, old in list(self._limiters.items()):
                    if old.has_capacity(old.max_rate):
                        del self._limiters[key]
            limiter = self._limiters[user_id] = AsyncLimiter(
                self.settings.user_rate_limit, self.settings.user_rate_period
            )
        if not limiter.has_capacity():
            return False
        # has_capacity() just said yes, so this takes the slot without waiting.
        await limiter.acquire()
        self._warned.discard(user_id)
        return True

    def first_refusal(self, user_id: int) -> bool:
        """True the first time a flooding user is refused, so the slow-down note is sent once."""
        if user_id in self._warned:
            return False
        self._warned.add(user_id)
        return True

    @contextlib.asynccontextmanager
    async def one_at_a_time(self, user_id: int) -> AsyncIterator[None]:
        """Serialize one user's questions so a burst from them takes one worker, not all."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        self._waiting[user_id] = self._waiting.get(user_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[user_id] -= 1
            if not self._waiting[user_id]:
                del self._waiting[user_id], self._locks[user_id]


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The handlers' context, with the state they share typed (as in PTB's contexttypesbot example)."""

    @property
    def state(self) -> BotState:
        """The library, the feedback database, the counters and the flood guards."""
        return self.bot_data[STATE]


def _lang(update: Update) -> str:
    """The interface language of the user behind an update."""
    user = update.effective_user
    return messages.language(user.language_code if user is not None else None)


def _say(update: Update, key: str, **values: object) -> str:
    """A fixed text in the language of the user behind an update."""
    return messages.text(key, _lang(update), **values)


def _is_admin(update: Update, state: BotState) -> bool:
    return update.effective_user is not None and update.effective_user.id in state.settings.admin_ids


async def _is_allowed(update: Update, bot: Bot, state: BotState) -> bool:
    settings = state.settings
    if not settings.allowed_user_ids and not settings.allowed_chat_ids:
        return True
    user_id = update.effective_user.id if update.effective_user else None
    chat = update.effective_chat
    if user_id in settings.admin_ids or user_id in settings.allowed_user_ids:
        return True
    if chat is not None and chat.id in settings.allowed_chat_ids:
        return True
    # Members of the allowed chats may also ask in private and inline (where the answer goes only where they
    # send it); in other groups their answer would reach strangers.
    private = chat.type == ChatType.PRIVATE if chat is not None else update.inline_query is not None
    if not private or user_id is None or not settings.allowed_chat_ids:
        return False
    return await state.members.includes(bot, user_id)


def _mentions_bot(message: Message, username: str) -> bool:
    mentions = message.parse_entities([MessageEntity.MENTION]).values()
    return any(mention.lower() == f"@{username.lower()}" for mention in mentions)


def _replies_to_bot(message: Message, bot_id: int) -> bool:
    replied = message.reply_to_message
    return replied is not None and replied.from_user is not None and replied.from_user.id == bot_id


def _addressed_to_bot(message: Message, username: str, bot_id: int) -> bool:
    """Whether the bot is expected to say something: private chat, a command for it, a mention or a reply."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    text = message.text or ""
    if text.startswith("/"):
        _, _, target = text.split(maxsplit=1)[0].partition("@")
        return not target or target.lower() == username.lower()
    return _mentions_bot(message, username) or _replies_to_bot(message, bot_id)


async def _reply_plain(message: Message, text: str) -> None:
    for piece in render.split(text):
        await message.reply_text(piece)


# ---- the gate ------------------------------------------------------------------------------


async def gate(update: Update, context: Context) -> None:
    """Stop updates from users and chats outside the allowlists; refuse where addressed, once per period."""
    state = context.state
    if await _is_allowed(update, context.bot, state):
        return
    message = update.effective_message
    if update.callback_query is not None:
        # A press must be answered, or the button spins; a toast is no message in the chat.
        await update.callback_query.answer(_say(update, "refusal"), show_alert=True)
    elif update.inline_query is not None:
        await update.inline_query.answer(
            [], cache_time=INLINE_CACHE_SECONDS, is_personal=True,
            button=InlineQueryResultsButton(_say(update, "inline_refusal"), start_parameter="refused"),
        )
    elif message is not None and _addressed_to_bot(message, context.bot.username, context.bot.id):
        user_id = update.effective_user.id if update.effective_user else None
        # Refusing every message of a flood would be a flood of our own, and slow down everyone's answers.
        if state.refusals.due(message.chat.id, user_id):
            await message.reply_text(_say(update, "refusal"))
    raise ApplicationHandlerStop


# ---- commands ------------------------------------------------------------------------------


async def start(update: Update, context: Context) -> None:
    """Greet, say what the bot knows and how to ask it."""
    library = context.state.library
    await update.effective_message.reply_text(
        _say(
            update, "greeting", documents=len(library.documents), sentences=library.sentence_count,
            username=context.bot.username,
        )
    )


async def help_command(update: Update, context: Context) -> None:
    """List the commands (admin ones only to admins) and the ways to ask."""
    admin = _is_admin(update, context.state)
    lines = [f"/{name} - {_say(update, f'command_{name}')}" for name in COMMAND_NAMES if admin or name not in ADMIN_COMMANDS]
    if admin:
        limit = min(_upload_limit(context.state.settings), DOWNLOAD_LIMIT) / 2**20
        lines += ["", _say(update, "help_upload", limit=limit)]
    await update.effective_message.reply_text(
        _say(update, "help", username=context.bot.username, commands="\n".join(lines))
    )


async def ask(update: Update, context: Context) -> None:
    """Answer `/ask <question>`, the way to ask in groups."""
    parts = (update.effective_message.text or "").split(maxsplit=1)
    question = parts[1] if len(parts) > 1 else ""
    await answer_question(update, context, question, _say(update, "ask_usage"))


async def reload(update: Update, context: Context) -> None:
    """Admins: re-read the corpus off the event loop and swap the library in when it is ready."""
    state = context.state
    message = update.effective_message
    if state.reload_lock.locked():
        await message.reply_text(_say(update, "reload_running"))
    try:
        library, took = await reload_library(state)
    except CorpusError as exc:
        await _reply_plain(
            message,
            _say(
                update, "reload_failed", error=exc, documents=len(state.library.documents),
                sentences=state.library.sentence_count,
            ),
        )
        return
    await _reply_plain(message, reload_report(library, took, _lang(update)))


async def reload_library(state: BotState) -> tuple[Library, float]:
    """Re-read the corpus, one reload at a time, and swap the new library in; on CorpusError the old one stays."""
    async with state.reload_lock:
        started = time.perf_counter()
        settings = state.settings
        load = functools.partial(
            load_for,
            settings,
            state.library,
            background=True,  # the new snapshot is written while the new library already answers
        )
        try:
            # Questions keep being answered from the old library while this runs in a thread.
            library = await _in_daemon_thread(load)
        except CorpusError as exc:
            log.warning("Reload failed, keeping the previous library: %s", exc)
            raise
        state.library = library
        took = time.perf_counter() - started
    log.info("Reloaded %d documents, %d sentences in %.1f s", len(library.documents), library.sentence_count, took)
    return library, took


async def _in_daemon_thread(function: Callable[[], T]) -> T:
    """Run function in a daemon thread: unlike asyncio.to_thread, stopping the bot never waits for it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is None:
            future.set_result(result)  # type: ignore[arg-type]
        else:
            future.set_exception(error)

    def work() -> None:
        try:
            result, error = function(), None
        except BaseException as exc:  # handed to the awaiting coroutine, which decides
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="citebot-reload", daemon=True).start()
    return await future


def reload_report(library: Library, took: float, lang: str | None = None) -> str:
    """What /reload replies: the corpus size and the skipped files grouped by reason, short enough for one message."""
    sizes = {"documents": len(library.documents), "sentences": library.sentence_count}
    lines = [messages.text("reload_done", lang, seconds=took, **sizes)]
    skipped = [s for s in library.skipped if not s.kept]
    warned = [s for s in library.skipped if s.kept]
    if skipped:
        lines += ["", messages.text("reload_skipped", lang, count=len(skipped)), *_by_reason(skipped, lang)]
    if warned:
        lines += ["", messages.text("reload_warned", lang, count=len(warned)), *_by_reason(warned, lang)]
    report = "\n".join(lines)
    pieces = render.split(report)
    return pieces[0] if len(pieces) == 1 else pieces[0] + "\n…"


def _by_reason(files: list[Skipped], lang: str | None = None) -> list[str]:
    """A line per file when they are few, else per kind of reason, most common first: the count and a few names."""
    if len(files) <= REPORT_FILES:
        return [f"- {item.path}: {item.reason}" for item in files]
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for item in files:
        groups[_reason_kind(item.reason)].append(item.path)
    ranked = sorted(groups.items(), key=lambda group: (-len(group[1]), group[0]))
    lines = []
    for reason, paths in ranked[:REPORT_REASONS]:
        names = ", ".join(_short_name(path) for path in sorted(paths)[:REPORT_NAMES])
        if len(paths) > REPORT_NAMES:
            names += messages.text("reload_group_more", lang, count=len(paths) - REPORT_NAMES)
        lines.append(messages.text("reload_group", lang, reason=reason, count=len(paths), names=names))
    if len(ranked) > REPORT_REASONS:
        rest = ranked[REPORT_REASONS:]
        files_left = sum(len(paths) for _, paths in rest)
        lines.append(messages.text("reload_other_reasons", lang, count=len(rest), files=files_left))
    return lines


def _reason_kind(reason: str) -> str:
    # Details in brackets differ from file to file ("at byte 12, 40 bad bytes"); the kind before them does not.
    kind = re.sub(r"\s*\(.*", "", reason).strip() or reason
    return kind if len(kind) <= 150 else kind[:149] + "…"


def _short_name(path: str) -> str:
    """A file name short enough for a list of them in one message."""
    return path if len(path) <= 80 else "…" + path[-79:]
async def stats(update: Update, context: Context) -> None:
    """Admins: corpus size, uptime, and questions answered / not found since start."""
    state = context.state
    library = state.library
    await update.effective_message.reply_text(
        _say(
            update, "stats", documents=len(library.documents), sentences=library.sentence_count,
            skipped=len(library.skipped), uptime=_duration(time.monotonic() - state.started),
            answered=state.answered, not_found=state.not_found,
        )
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h {minutes} min"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


# ---- messages ------------------------------------------------------------------------------


async def private_text(update: Update, context: Context) -> None:
    """In a private chat every text message is a question."""
    await answer_question(update, context, update.effective_message.text or "", _say(update, "send_text"))


async def group_text(update: Update, context: Context) -> None:
    """In groups, answer only messages that mention the bot or reply to it; stay silent otherwise."""
    message = update.effective_message
    username = context.bot.username
    if _mentions_bot(message, username):
        question = message.text or ""
        for text in message.parse_entities([MessageEntity.MENTION]).values():
            if text.lower() == f"@{username.lower()}":
                question = question.replace(text, " ")
        await answer_question(update, context, question, _say(update, "mention_usage", username=username))
    elif _replies_to_bot(message, context.bot.id):
        await answer_question(update, context, message.text or "", _say(update, "send_text"))


async def non_text(update: Update, context: Context) -> None:
    """Stickers, photos, voice and the like in a private chat get a hint; groups never reach here."""
    await update.effective_message.reply_text(_say(update, "send_text"))


async def unknown_command(update: Update, context: Context) -> None:
    """Point private users who mistype a command at /help."""
    await update.effective_message.reply_text(_say(update, "unknown_command"))


async def answer_question(update: Update, context: Context, question: str, usage: str) -> None:
    """Rate-limit, score off the event loop, and send the rendered answer (HTML, plain text if rejected)."""
    state = context.state
    message = update.effective_message
    user_id = update.effective_user.id if update.effective_user else message.chat.id
    if not await state.admit(user_id):
        # One clear note per burst: answering every extra message would be a flood of our own.
        if state.first_refusal(user_id):
            await message.reply_text(_say(update, "slow_down"))
        return
    question = question.strip()
    if not question:
        await message.reply_text(usage)
        return
    if len(question) > MAX_QUESTION_LENGTH:
        await message.reply_text(_say(update, "too_long", limit=MAX_QUESTION_LENGTH))
        return
    async with state.one_at_a_time(user_id):
        with contextlib.suppress(TelegramError):  # the typing indicator is cosmetic
            await message.reply_chat_action(ChatAction.TYPING)
        # Read the library once: a reload may swap it while we score, and that's fine.
        result = await asyncio.to_thread(answer, state.library, question, **state.settings.answer_options())
        if result.answered:
            state.answered += 1
        else:
            state.not_found += 1
        answer_id = await _record(state, user_id, result)
        lang = _lang(update)
        await send_answer(message, result, _keyboard(state, result, answer_id, lang), lang)


async def _record(
    state: BotState, user_id: int, result: Answer, parent: int | None = None, via: str = "chat"
) -> int | None:
    """Record a question in the feedback database, off the event loop; its answer id, or None."""
    if state.feedback is None:
        return None
    return await asyncio.to_thread(
        state.feedback.record, user_id, result.question, result.answered, shown_sentences(result), parent=parent, via=via
    )


def _keyboard(state: BotState, result: Answer, answer_id: int | None, lang: str) -> InlineKeyboardMarkup | None:
    """📄 per cited document, then ➕ More, 👍 and 👎 when the answer is on record (they need its id)."""
    if not result.answered:
        return None
    firsts: dict[int, Quote] = {}
    for quote in result.quotes:
        firsts.setdefault(quote.citation, quote)
    sources = [
        InlineKeyboardButton(
            messages.text("button_source_n", lang, number=n) if len(firsts) > 1 else messages.text("button_source", lang),
            callback_data=refs.pack(
                refs.Source(refs.document_key(q.document.path), q.position, refs.text_digest(q.text)), state.key
            ),
        )
        for n, q in sorted(firsts.items())
    ]
    rows = [sources[i : i + ROW] for i in range(0, len(sources), ROW)]
    if answer_id is not None:
        more = messages.text("button_more", lang)
        rows.append(
            [
                InlineKeyboardButton(more, callback_data=refs.pack(refs.More(answer_id), state.key)),
                InlineKeyboardButton("👍", callback_data=refs.pack(refs.Vote(answer_id, up=True), state.key)),
                InlineKeyboardButton("👎", callback_data=refs.pack(refs.Vote(answer_id, up=False), state.key)),
            ]
        )
    return InlineKeyboardMarkup(rows)


async def send_answer(
    message: Message, result: Answer, keyboard: InlineKeyboardMarkup | None = None, lang: str | None = None
) -> None:
    """Reply with the answer as HTML, the keyboard under its last message; once Telegram rejects our markup,
    the rest of it goes as plain text."""
    as_html = True
    chunks = render.chunks(result, lang=lang)
    for number, chunk in enumerate(chunks):
        markup = keyboard if number == len(chunks) - 1 else None
        if as_html:
            try:
                await message.reply_html(chunk.html, reply_markup=markup)
                continue
            except BadRequest as exc:
                if "can't parse entities" not in exc.message.lower() and "too long" not in exc.message.lower():
                    raise
                log.warning("Telegram rejected an HTML answer (%s); sending the rest as plain text", exc.message)
                as_html = False
        # The chunks pair each HTML message with the same quotes in plain text: nothing delivered is sent twice.
        await message.reply_text(chunk.plain, reply_markup=markup)


# ---- buttons -------------------------------------------------------------------------------


async def button(update: Update, context: Context) -> None:
    """A press of 📄, ➕, 👍 or 👎: acknowledged at once with a toast; forged or stale data gets a polite one."""
    query = update.callback_query
    press = refs.unpack(query.data, context.state.key)
    if isinstance(press, refs.Source):
        await show_source(update, context, query, press)
    elif isinstance(press, refs.Vote):
        await vote(update, context, query, press)
    elif isinstance(press, refs.More):
        await more(update, context, query, press)
    else:
        log.info("Ignored a button press with data that is not ours: %r", (query.data or "")[:80])
        await query.answer(_say(update, "bad_button"), show_alert=True)


def _answer_message(query: CallbackQuery) -> Message | None:
    """The message the pressed button is under, if the bot can still reply to it."""
    return query.message if isinstance(query.message, Message) else None


async def show_source(update: Update, context: Context, query: CallbackQuery, press: refs.Source) -> None:
    """📄: the quoted sentence among its neighbours, with the document's title, source, date and link."""
    library = context.state.library
    try:
        found = refs.locate(library, press.document, press.position, press.digest)
    except refs.DocumentGone:
        await query.answer(_say(update, "document_gone"), show_alert=True)
        return
    except refs.SentenceGone:
        await query.answer(_say(update, "sentence_gone"), show_alert=True)
        return
    entry = library.entries[found.number]
    position = found.sentence_id - int(library.offsets[found.number])
    page = library.sentence(found.sentence_id).page
    view = render.source_view(entry.document, entry.sentences, position, page=page)
    await query.answer(_say(update, "source_sent"))
    message = _answer_message(query)
    if message is not None:
        await message.reply_html(view)


async def vote(update: Update, context: Context, query: CallbackQuery, press: refs.Vote) -> None:
    """👍/👎: written to the database before the toast says so; a second press changes the vote."""
    state = context.state
    outcome = "failed"
    if state.feedback is not None:
        outcome = await asyncio.to_thread(state.feedback.vote, press.answer_id, update.effective_user.id, press.up)
    key = {"recorded": "voted_up" if press.up else "voted_down", "unknown": "answer_gone"}.get(outcome, "vote_failed")
    await query.answer(_say(update, key))


async def more(update: Update, context: Context, query: CallbackQuery, press: refs.More) -> None:
    """➕: the next best passages not shown yet for the same question, under the same abstention bar."""
    state = context.state
    user_id = update.effective_user.id
    if not await state.admit(user_id):
        await query.answer(_say(update, "slow_down"), show_alert=True)
        return
    recorded = await asyncio.to_thread(state.feedback.answer, press.answer_id) if state.feedback else None
    if recorded is None:
        await query.answer(_say(update, "answer_gone"), show_alert=True)
        return
    async with state.one_at_a_time(user_id):
        library = state.library
        shown = refs.sentence_ids(library, list(recorded.shown))
        result = await asyncio.to_thread(
            answer, library, recorded.question, **state.settings.answer_options(), exclude=shown
        )
        message = _answer_message(query)
        if not result.answered:
            await query.answer(_say(update, "nothing_more"), show_alert=True)
            if message is not None:
                await _drop_more_button(message, state.key)
            return
        await query.answer(_say(update, "more_sent"))
        answer_id = await _record(state, user_id, result, parent=press.answer_id)
        if message is not None:
            lang = _lang(update)
            await _drop_more_button(message, state.key)
            await send_answer(message, result, _keyboard(state, result, answer_id, lang), lang)


async def _drop_more_button(message: Message, key: bytes) -> None:
    """Take ➕ off an answer whose continuation has been shown (or that has none)."""
    markup = message.reply_markup
    if markup is None:
        return
    rows = [
        [b for b in row if not isinstance(refs.unpack(b.callback_data if isinstance(b.callback_data, str) else None, key), refs.More)]
        for row in markup.inline_keyboard
    ]
    with contextlib.suppress(TelegramError):  # the buttons are a convenience; the answer stands without this edit
        await message.edit_reply_markup(InlineKeyboardMarkup([row for row in rows if row]))


# ---- admin reports -------------------------------------------------------------------------


async def feedback(update: Update, context: Context) -> None:
    """Admins: 👍/👎 over the last 7 days and the latest 👎 with each answer's first source."""
    await _database_report(update, context, Feedback.summary, feedback_report)


async def gaps(update: Update, context: Context) -> None:
    """Admins: the questions most often not found in the documents, with counts."""
    await _database_report(update, context, Feedback.gaps, gaps_report)


async def _database_report(
    update: Update, context: Context, query: Callable[[Feedback], Any], report: Callable[[Any, str], str]
) -> None:
    """Read the feedback database off the event loop and reply with the report, or say recording is off."""
    db = context.state.feedback
    if db is None:
        await update.effective_message.reply_text(_say(update, "feedback_disabled"))
        return
    found = await asyncio.to_thread(query, db)
    await _reply_plain(update.effective_message, report(found, _lang(update)))


async def not_admin(update: Update, context: Context) -> None:
    """An admin command from someone who is not an admin."""
    command = (update.effective_message.text or "/").split(maxsplit=1)[0][1:].partition("@")[0]
    await update.effective_message.reply_text(_say(update, "not_admin", command=command))


# ---- documents added by sending them -------------------------------------------------------


def _upload_limit(settings: Settings) -> int:
    """CITEBOT_MAX_UPLOAD_MB in bytes."""
    return int(settings.max_upload_mb * 2**20)


def _upload_name(message: Message) -> str:
    """The name a sent document is saved under: its own, cleaned; or one made from its type when it has none."""
    document = message.document
    name = document.file_name if document is not None else None
    if not name:
        mime = document.mime_type if document is not None else None
        name = "document" + ((mimetypes.guess_extension(mime) or "") if mime else "")
    return uploads.safe_name(name)


def _check_and_save(settings: Settings, name: str, data: bytes) -> str:
    """Check an upload and save it under uploads/ (in a worker thread: extraction blocks); its corpus path."""
    uploads.check(name, data, _upload_limit(settings), Languages.parse(settings.languages))
    return uploads.save(settings.corpus_dir, name, data)


async def upload(update: Update, context: Context) -> None:
    """Admins: a file sent in a private chat is checked, saved under uploads/, and loaded by an incremental reload."""
    state = context.state
    name = _upload_name(update.effective_message)
    data = await _download(update, state, name)
    if data is None:
        return
    try:
        path = await asyncio.to_thread(_check_and_save, state.settings, name, data)
    except uploads.Refused as refused:
        await _not_added(update, name, refused.say(_lang(update)))
        return
    except OSError as exc:
        log.warning("Could not save the upload %s: %s", name, exc)
        await _not_added(update, name, _say(update, "upload_not_saved", error=exc.strerror or exc))
        return
    log.info("Admin %s added %s (%d bytes)", update.effective_user.id, path, len(data))
    saved = _say(update, "upload_saved", path=path)
    await _reload_and_reply(update, state, saved, functools.partial(_added, update, path=path))


async def _download(update: Update, state: BotState, name: str) -> bytes | None:
    """The sent file's bytes; None, with the reply sent, when it is over our limit or Telegram's 20 MB."""
    message = update.effective_message
    size = message.document.file_size
    limit = _upload_limit(state.settings)
    if size is not None and size > min(limit, DOWNLOAD_LIMIT):
        # Refused before anything is fetched: Telegram would not hand over more than 20 MB anyway.
        reasons = [_say(update, "upload_refused_size", size=size / 2**20, limit=limit / 2**20)] if size > limit else []
        if size > DOWNLOAD_LIMIT:
            reasons.append(_say(update, "upload_download_limit"))
        await _not_added(update, name, "\n\n".join(reasons))
        return None
    with contextlib.suppress(TelegramError):  # the typing indicator is cosmetic
        await message.reply_chat_action(ChatAction.TYPING)
    try:
        telegram_file = await message.document.get_file()
    except BadRequest as exc:
        if "too big" not in exc.message.lower():
            raise
        # The message did not say how large the file is (the field is optional), so Telegram said it.
        await _not_added(update, name, _say(update, "upload_download_limit"))
        return None
    return bytes(await telegram_file.download_as_bytearray())


async def _not_added(update: Update, name: str, reason: str) -> None:
    await update.effective_message.reply_text(_say(update, "upload_not_added", name=name, reason=reason))


async def _reload_and_reply(update: Update, state: BotState, done: str, report: Callable[[Library], str]) -> None:
    """Reload after a change to the documents and reply with `report`; if the reload fails, say `done` and why."""
    message = update.effective_message
    if state.reload_lock.locked():
        await message.reply_text(_say(update, "reload_running"))
    try:
        library, _ = await reload_library(state)
    except CorpusError as exc:
        failed = _say(
            update, "reload_failed", error=exc, documents=len(state.library.documents),
            sentences=state.library.sentence_count,
        )
        await _reply_plain(message, f"{done}\n{failed}")
        return
    await _reply_plain(message, report(library))


def _added(update: Update, library: Library, *, path: str) -> str:
    """What an upload added: its title, sentences and pages; or why the reload left it out."""
    entry = next((e for e in library.entries if e.document.path == path), None)
    if entry is None:
        reason = next((s.reason for s in library.skipped if s.path == path), "?")
        return _say(update, "upload_left_out", path=path, reason=reason)
    pages = len(entry.document.pages)
    return _say(
        update, "upload_added", path=path, title=entry.document.title, sentences=len(entry.sentences),
        pages=_say(update, "upload_pages", pages=pages) if pages else "",
        documents=len(library.documents), total=library.sentence_count,
    )


async def upload_not_admin(update: Update, context: Context) -> None:
    """A file from someone who is not an admin: refused politely, never downloaded."""
    await update.effective_message.reply_text(_say(update, "upload_not_admin"))


async def remove(update: Update, context: Context) -> None:
    """Admins: `/remove <name>` deletes an uploaded document and reloads; `/remove` alone lists the uploads."""
    state = context.state
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=1)
    corpus_dir = state.settings.corpus_dir
    if len(parts) < 2:
        names = await asyncio.to_thread(uploads.uploaded, corpus_dir)
        listed = "\n".join(f"- {name}" for name in names)
        await _reply_plain(message, _say(update, "remove_list", names=listed) if names else _say(update, "remove_none"))
        return
    try:
        path = await asyncio.to_thread(uploads.remove, corpus_dir, parts[1].strip())
    except uploads.Refused as refused:
        await message.reply_text(_say(update, "remove_failed", reason=refused.say(_lang(update))))
        return
    log.info("Admin %s removed %s", update.effective_user.id, path)
    removed = _say(update, "remove_removed", path=path)
    await _reload_and_reply(update, state, removed, functools.partial(_removed, update, path=path))


def _removed(update: Update, library: Library, *, path: str) -> str:
    """What /remove replies once the library no longer holds the document."""
    return _say(update, "remove_done", path=path, documents=len(library.documents), sentences=library.sentence_count)


# ---- inline mode ---------------------------------------------------------------------------


async def inline_query(update: Update, context: Context) -> None:
    """`@bot question` in any chat: the answer as one article, or a button saying why there is none."""
    state = context.state
    query = update.inline_query
    question = query.query.strip()
    if not question or len(question) > MAX_QUESTION_LENGTH:
        await query.answer([], cache_time=INLINE_CACHE_SECONDS, is_personal=True)
        return
    if not await state.admit(query.from_user.id):
        await query.answer(
            [], cache_time=0, is_personal=True,
            button=InlineQueryResultsButton(_say(update, "inline_slow_down"), start_parameter="slow"),
        )
        return
    result = await asyncio.to_thread(answer, state.library, question, **state.settings.answer_options())
    answer_id = await _record(state, query.from_user.id, result, via="inline")
    if not result.answered:
        state.not_found += 1
        await query.answer(
            [], cache_time=INLINE_CACHE_SECONDS, is_personal=True,
            button=InlineQueryResultsButton(_say(update, "inline_not_found"), start_parameter="not_found"),
        )
        return
    state.answered += 1
    first = result.quotes[0]
    article = InlineQueryResultArticle(
        id=str(answer_id) if answer_id is not None else refs.text_digest(question),
        title=render.shorten(first.text, INLINE_TITLE_CHARS),
        description=render.source_line(first.citation, first.document),
        input_message_content=InputTextMessageContent(
            render.one_message(result, lang=_lang(update)), parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
    )
    await query.answer([article], cache_time=INLINE_CACHE_SECONDS, is_personal=True)


# ---- errors and start-up -------------------------------------------------------------------


async def on_error(update: object, context: Context) -> None:
    """Log a handler's failure; tell the user only when it was ours and their chat can still hear from us."""
    error = context.error
    chat_id = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    if _undeliverable(error):
        log.warning("Cannot send to chat %s (%s); giving up", chat_id, error)
        return
    if _transient(error):
        # Retried already (see Delivery); an apology would go through the same unreachable API.
        log.warning("Gave up sending to chat %s after retries: %s", chat_id, error)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("Exception while handling update %s", update_id, exc_info=error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(_say(update, "something_wrong"), show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(_say(update, "something_wrong"))
    except TelegramError:
        log.warning("Could not tell the user about the error either", exc_info=True)


async def register_commands(application: Application) -> None:
    """Register the command menu in each interface language: everyone sees the public commands, admins all of them."""
    state: BotState = application.bot_data[STATE]
    # English is the menu for every language Telegram has no list for; Russian and Kazakh have their own.
    for lang in messages.LANGUAGES:
        code = None if lang == messages.DEFAULT else lang
        menu = [BotCommand(name, messages.text(f"command_{name}", lang)) for name in COMMAND_NAMES]
        try:
            await application.bot.set_my_commands([c for c in menu if c.command not in ADMIN_COMMANDS], language_code=code)
        except TelegramError as exc:
            # The menu is a convenience: typed commands work without it, so it is no reason not to start.
            log.warning("Could not set the command menu: %s", exc)
        for admin_id in sorted(state.settings.admin_ids):
            try:
                await application.bot.set_my_commands(menu, scope=BotCommandScopeChat(admin_id), language_code=code)
            except TelegramError as exc:
                # Telegram refuses chat scopes for users who never opened the bot; not worth failing start-up.
                log.warning("Could not set the admin command menu for %s: %s", admin_id, exc)


def build_application(settings: Settings, library: Library, *, delivery: Delivery | None = None) -> Application:
    """Build the Application with every handler, the delivery rules and the error handler."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    path = settings.feedback_path()
    state = BotState(
        settings=settings,
        library=library,
        feedback=Feedback(path) if path is not None else None,
        key=refs.signing_key(settings.telegram_bot_token.get_secret_value()),
    )
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .defaults(
            Defaults(
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                # A deleted question should not make its answer fail.
                allow_sending_without_reply=True,
            )
        )
        .rate_limiter(delivery or Delivery())
        .get_updates_request(state.polling)
        .concurrent_updates(CONCURRENT_UPDATES)
        .context_types(ContextTypes(context=Context))
        .build()
    )
    application.bot_data[STATE] = state

    new_messages = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_handler(CommandHandler("start", start, filters=new_messages))
    application.add_handler(CommandHandler("help", help_command, filters=new_messages))
    application.add_handler(CommandHandler("ask", ask, filters=new_messages))
    # Admin commands run only for admins; anyone else who sends one reaches `not_admin`.
    admins = filters.User(user_id=settings.admin_ids)
    application.add_handler(CommandHandler("reload", reload, filters=new_messages & admins))
    application.add_handler(CommandHandler("stats", stats, filters=new_messages & admins))
    application.add_handler(CommandHandler("feedback", feedback, filters=new_messages & admins))
    application.add_handler(CommandHandler("gaps", gaps, filters=new_messages & admins))
    application.add_handler(CommandHandler("remove", remove, filters=new_messages & admins))
    application.add_handler(CommandHandler(sorted(ADMIN_COMMANDS), not_admin, filters=new_messages))
    application.add_handler(CallbackQueryHandler(button))
    application.add_handler(InlineQueryHandler(inline_query))
    application.add_handler(MessageHandler(new_messages & private & filters.TEXT & ~filters.COMMAND, private_text))
    application.add_handler(
        MessageHandler(
            new_messages
            & filters.ChatType.GROUPS
            & filters.TEXT
            & ~filters.COMMAND
            & (filters.Entity(MessageEntity.MENTION) | filters.REPLY),
            group_text,
        )
    )
    application.add_handler(MessageHandler(new_messages & private & filters.COMMAND, unknown_command))
    # Files are taken in private chats only: in a group a file is shared with people, not sent to the bot, so
    # documents there get no reply at all (nothing handles them).
    application.add_handler(MessageHandler(new_messages & private & filters.Document.ALL & admins, upload))
    application.add_handler(MessageHandler(new_messages & private & filters.Document.ALL, upload_not_admin))
    application.add_handler(MessageHandler(new_messages & private & ~filters.TEXT, non_text))
    application.add_error_handler(on_error)
    return application


# ---- running: polling, signals, stopping ---------------------------------------------------------


async def serve(application: Application, stop: asyncio.Event) -> None:
    """Answer updates until `stop` is set, then stop polling and finish the answers in hand, all within STOP_WITHIN s."""
    connecting = asyncio.create_task(_connect(application))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    try:
        if not connecting.done():
            connecting.cancel()
            log.info("Stopped before reaching Telegram")
            return
        connecting.result()  # a rejected token ends here
        await register_commands(application)
        settings: Settings = application.bot_data[STATE].settings
        # bootstrap_retries=-1: a network that is down at boot is waited out; a bad token still aborts.
        if settings.webhook_url:
            await application.updater.start_webhook(**webhook_options(settings), bootstrap_retries=-1)
            log.info("Serving the webhook %s on %s:%d", settings.webhook_url, settings.webhook_listen, settings.webhook_port)
        else:
            await application.updater.start_polling(**POLLING, timeout=POLL_TIMEOUT, bootstrap_retries=-1)
            log.info("Polling Telegram for updates")
        await application.start()
        await stopping
        await _stop(application)
    finally:
        stopping.cancel()
        await application.shutdown()


def webhook_options(settings: Settings) -> dict[str, Any]:
    """How the webhook server starts: at the path of CITEBOT_WEBHOOK_URL, checking CITEBOT_WEBHOOK_SECRET."""
    url = settings.webhook_url or ""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return {
        "listen": settings.webhook_listen, "port": settings.webhook_port, "url_path": urlsplit(url).path,
        "webhook_url": url, "secret_token": secret, **POLLING,
    }


async def _connect(application: Application) -> None:
    """Initialize the application (getMe), waiting out a Telegram that cannot be reached; a bad token raises."""
    pause = 1.0
    while True:
        try:
            await application.initialize()
            return
        except InvalidToken:
            raise
        except TelegramError as exc:
            log.warning("Cannot reach Telegram (%s); retrying in %.0f s", exc, pause)
        await asyncio.sleep(pause)
        pause = min(POLL_BACKOFF_MAX, pause * 2)


async def _stop(application: Application) -> None:
    """Stop fetching updates at once, then give the answers in hand what is left of STOP_WITHIN."""
    deadline = asyncio.get_running_loop().time() + STOP_WITHIN
    state: BotState = application.bot_data[STATE]
    log.info("Stopping: no new updates; answers in hand get up to %.0f s", STOP_WITHIN)
    state.polling.stopping = True
    try:
        async with asyncio.timeout(STOP_POLLING):
            await application.updater.stop()
    except TimeoutError:
        log.warning("Could not confirm the last updates to Telegram in time; they may come again at the next start")
    try:
        async with asyncio.timeout_at(deadline):
            await application.stop()
    except TimeoutError:
        log.warning("Stopped with answers still unsent after %.0f s", STOP_WITHIN)


@contextlib.contextmanager
def handle_signals(application: Application, stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop`; SIGHUP reloads the corpus, as daemons do. Restores the old handlers on exit."""
    loop = asyncio.get_running_loop()
    state: BotState = application.bot_data[STATE]
    handlers: dict[int, Callable[[], object]] = {
        signal.SIGTERM: stop.set,
        signal.SIGINT: stop.set,
        signal.SIGHUP: lambda: _spawn(state, reload_on_signal(state)),
    }
    if threading.current_thread() is not threading.main_thread():
        handlers = {}  # only the main thread receives signals
    previous = {signum: signal.getsignal(signum) for signum in handlers}
    for signum, handler in handlers.items():
        loop.add_signal_handler(signum, handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            signal.signal(signum, handler)


def _spawn(state: BotState, work: Coroutine[Any, Any, None]) -> None:
    # The loop keeps only weak references to tasks: hold this one until it is done.
    task = asyncio.get_running_loop().create_task(work)
    state.background.add(task)
    task.add_done_callback(state.background.discard)


async def reload_on_signal(state: BotState) -> None:
    """SIGHUP: reload like /reload (after any reload running), logging the outcome; the old library stays on failure."""
    log.info("SIGHUP: reloading the documents")
    try:
        library, _ = await reload_library(state)
    except CorpusError:
        return  # logged by reload_library
    except Exception:
        log.exception("Reload failed, keeping the previous library")
        return
    for problem in library.skipped:
        log.info("%s %s: %s", "Read with a warning" if problem.kept else "Skipped", problem.path, problem.reason)


async def _serve_until_signalled(application: Application) -> None:
    stop = asyncio.Event()
    with handle_signals(application, stop):
        await serve(application, stop)


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


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _sighup_while_loading(signum: int, frame: FrameType | None) -> None:
    log.info("SIGHUP while loading the documents: the files are being read right now, nothing more to do")


def run(settings: Settings) -> int:
    """Load the library and serve Telegram (long polling, or a webhook) until SIGTERM or Ctrl-C; the exit code."""
    configure_logging(settings)
    if settings.telegram_bot_token is None:
        print(
            "citebot: TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and put its token "
            "in the environment or in .env (see README, 'Telegram').",
            file=sys.stderr,
        )
        return 2
    # Until the event loop takes over the signals, SIGTERM stops us as cleanly as Ctrl-C, and SIGHUP (whose
    # default is to kill) is harmless: the load under way reads the files as they are now anyway.
    while_loading = {signal.SIGTERM: _stop_on_sigterm, signal.SIGHUP: _sighup_while_loading}
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, handler) for signum, handler in while_loading.items()}
    try:
        library = load_for(settings)
        log.info("Loaded %d documents, %d sentences", len(library.documents), library.sentence_count)
        asyncio.run(_serve_until_signalled(build_application(settings, library)))
    except CorpusError as exc:
        print(f"citebot: cannot load the documents: {exc}", file=sys.stderr)
        return 1
    except InvalidToken:
        # PTB's message quotes the token, so say it in our own words.
        print("citebot: Telegram rejected TELEGRAM_BOT_TOKEN; check it with @BotFather.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        log.info("Stopped before polling started")
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("Bot stopped")
    return 0


__all__ = ["COMMANDS", "Delivery", "build_application", "run", "serve"]
