"""What the handlers share: the library, counters, flood guards and membership lookups; and the words they say."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot, CallbackQuery, InlineQuery, Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import CallbackContext, ExtBot

from bot.chat import messages, render
from bot.chat.feedback import Feedback, Recorder
from bot.chat.followups import Conversations
from bot.config import Settings
from bot.index.library import Library
from bot.index.snapshot import SnapshotWriter
from bot.telegram.bounded import prune
from bot.telegram.delivery import Polling

log = logging.getLogger(__name__)

# Where the BotState is kept in application.bot_data.
STATE = "citebot"

# How long a getChatMember answer is trusted: a member stays one, a stranger may join any moment.
MEMBER_TTL = 600.0
NON_MEMBER_TTL = 60.0
MEMBER_STATUSES = frozenset({ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
# Questions of one user waiting behind the one being answered; past this they are refused, politely.
QUESTIONS_WAITING = 3

Job = Callable[[], Awaitable[None]]


@dataclass
class Queues:
    """A queue of work per user, served by a task of its own: one user's questions are answered one at a time,
    and a burst waits in its queue, not in one of the Application's concurrent-update slots."""

    limit: int = QUESTIONS_WAITING
    _waiting: dict[int, deque[Job]] = field(default_factory=dict)
    _tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    _refused: set[int] = field(default_factory=set)
    _busy: set[int] = field(default_factory=set)

    def put(self, user_id: int, job: Job) -> bool:
        """Queue a job for the user (it starts at once if they are not busy); False if their queue is full."""
        waiting = self._waiting.setdefault(user_id, deque())
        if len(waiting) - (user_id not in self._busy) >= self.limit:
            return False
        waiting.append(job)
        if user_id not in self._tasks:
            self._tasks[user_id] = asyncio.create_task(self._serve(user_id, waiting))
        return True

    def first_refusal(self, user_id: int) -> bool:
        """True the first time a user is refused since their queue was last empty, so the note goes out once."""
        if user_id in self._refused:
            return False
        self._refused.add(user_id)
        return True

    async def _serve(self, user_id: int, waiting: deque[Job]) -> None:
        try:
            while waiting:
                job = waiting.popleft()
                self._busy.add(user_id)
                await job()
        finally:
            del self._tasks[user_id], self._waiting[user_id]
            self._refused.discard(user_id)
            self._busy.discard(user_id)

    async def finish(self) -> None:
        """Wait until every queued job is done."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def cancel(self) -> int:
        """Cancel every job running or waiting; how many users had work in hand."""
        for task in self._tasks.values():
            task.cancel()
        return len(self._tasks)


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
        prune(self._last, lambda at: now - at >= self.period)
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
            prune(self._known, lambda known: known[0] <= now)
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
    clusters: Any = None  # a bot.index.cluster.Clusters when the library is sharded: reloads reuse its client
    polling: Polling = field(default_factory=Polling)
    feedback: Feedback | None = None  # reads (/feedback, ➕); writes go through the recorder
    recorder: Recorder | None = None
    key: bytes = b""  # signs the buttons' callback data
    started: float = field(default_factory=time.monotonic)
    answered: int = 0
    not_found: int = 0
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    snapshots: SnapshotWriter = field(default_factory=SnapshotWriter)  # reloads write their snapshots in threads
    refusals: Refusals = field(init=False)
    members: Membership = field(init=False)
    conversations: Conversations = field(init=False)  # each user's last question, for follow-ups
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # A refresh (reload after the corpus files changed) that is running, and whether more changes came since.
    refresh_task: asyncio.Task[None] | None = None
    refresh_again: bool = False
    # The files changed since the last refresh began; or, when something gave no list, a whole scan.
    refresh_paths: set[str] = field(default_factory=set)
    refresh_everything: bool = False
    snapshot_at: float = float("-inf")  # when a reload last wrote the snapshot (time.monotonic)
    # The merge of appended posts into the exact library (reloads.schedule_merge), and whether it is past its wait.
    merge_task: asyncio.Task[None] | None = None
    merging: bool = False
    _limiters: dict[int, AsyncLimiter] = field(default_factory=dict)
    _warned: set[int] = field(default_factory=set)
    queues: Queues = field(default_factory=Queues)

    def __post_init__(self) -> None:
        self.refusals = Refusals(self.settings.user_rate_period)
        self.members = Membership(self.settings.allowed_chat_ids)
        self.conversations = Conversations(self.settings.followup_minutes * 60.0)

    async def admit(self, user_id: int) -> bool:
        """Take one question from the user's allowance; False if they are over their rate limit."""
        limiter = self._limiters.get(user_id)
        if limiter is None:
            # Users whose bucket has fully drained are forgotten; they start afresh anyway.
            prune(self._limiters, lambda old: old.has_capacity(old.max_rate))
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


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The handlers' context, with the state they share typed (as in PTB's contexttypesbot example)."""

    @property
    def state(self) -> BotState:
        """The library, the feedback database, the counters and the flood guards."""
        return self.bot_data[STATE]


class MissingField(Exception):
    """An update lacks what its handler's filters promised (a message, a user, a query); logged, not answered."""


def message_of(update: Update) -> Message:
    """The update's message; MissingField if it has none (the handler's filters let in only updates with one)."""
    if update.effective_message is None:
        raise MissingField(f"update {update.update_id} has no message")
    return update.effective_message


def user_of(update: Update) -> User:
    """The user behind the update; MissingField if there is none (a channel post, say)."""
    if update.effective_user is None:
        raise MissingField(f"update {update.update_id} has no user")
    return update.effective_user


def callback_query_of(update: Update) -> CallbackQuery:
    """The update's callback query; MissingField if it has none."""
    if update.callback_query is None:
        raise MissingField(f"update {update.update_id} has no callback query")
    return update.callback_query


def inline_query_of(update: Update) -> InlineQuery:
    """The update's inline query; MissingField if it has none."""
    if update.inline_query is None:
        raise MissingField(f"update {update.update_id} has no inline query")
    return update.inline_query


def in_turn(update: Update, context: Context, user_id: int, work: Job) -> bool:
    """Queue work for the user's turn (see Queues); what it raises goes to the error handler, as a handler's would.
    False if the user's queue is full."""

    async def job() -> None:
        try:
            await work()
        except Exception as exc:
            await context.application.process_error(update, exc)

    return context.state.queues.put(user_id, job)


def language_of(update: Update) -> str:
    """The interface language of the user behind an update."""
    user = update.effective_user
    return messages.language(user.language_code if user is not None else None)


def say(update: Update, key: str, **values: object) -> str:
    """A fixed text in the language of the user behind an update."""
    return messages.text(key, language_of(update), **values)


def is_admin(update: Update, state: BotState) -> bool:
    """Whether the user behind an update is one of CITEBOT_ADMIN_IDS."""
    return update.effective_user is not None and update.effective_user.id in state.settings.admin_ids


async def reply_plain(message: Message, text: str) -> None:
    """Reply with plain text, in as many messages as it takes."""
    for piece in render.split(text):
        await message.reply_text(piece)
