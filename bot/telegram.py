"""The Telegram layer: handlers, the Application that runs them, and `run` for `citebot run`.

This is the only module of citebot that imports `telegram`. Everything CPU-bound (loading the
corpus, scoring a question) runs in worker threads so the event loop keeps serving other chats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Message, MessageEntity, Update
from telegram.constants import ChatAction, ChatType, MessageLimit
from telegram.error import BadRequest, InvalidToken, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import render
from bot.answer import Answer, answer
from bot.config import Settings
from bot.corpus import CorpusError
from bot.library import Library
from bot.loader import load_library

log = logging.getLogger(__name__)

# The command menu (setMyCommands) and /help; README.md documents every one of them.
COMMANDS: list[tuple[str, str]] = [
    ("start", "What I know and how to ask me"),
    ("help", "List the commands"),
    ("ask", "Ask a question (needed in groups): /ask <question>"),
    ("reload", "Admins: re-read the documents folder"),
    ("stats", "Admins: corpus size, uptime, questions answered"),
]
ADMIN_COMMANDS = frozenset({"reload", "stats"})

# Only new messages matter: edits would answer the same question twice.
ALLOWED_UPDATES = [Update.MESSAGE]
# How polling starts, shared by `run` and the tests so both exercise the same settings.
POLLING: dict[str, Any] = {"allowed_updates": ALLOWED_UPDATES, "drop_pending_updates": False}
MAX_MESSAGE_LENGTH = MessageLimit.MAX_TEXT_LENGTH
# BM25 gains nothing from a wall of text; a question this long is almost always a paste by mistake.
MAX_QUESTION_LENGTH = 1000
# Bounded so a burst of updates cannot spawn unbounded tasks and threads.
CONCURRENT_UPDATES = 32
# A 429 is waited out and the request retried this many times before the error handler sees it.
FLOOD_RETRIES = 5
STATE = "citebot"

REFUSAL = "Sorry, this bot only answers its approved users and chats."
NOT_ADMIN = "Sorry, only the bot's admins can use /{command}."
SLOW_DOWN = "You're sending questions faster than I can answer them. Please wait a minute, then ask again."
ASK_USAGE = "Usage: /ask <your question>, for example: /ask when was the library founded?"
MENTION_USAGE = "Ask me a question along with the mention, for example: @{username} when was it founded?"
TOO_LONG = f"That question is too long for me. Please ask in under {MAX_QUESTION_LENGTH} characters."
SEND_TEXT = "Please send me your question as a text message."
UNKNOWN_COMMAND = "I don't know that command. /help lists the ones I have."
SOMETHING_WRONG = "Sorry, something went wrong on my side. Please try again in a moment."


@dataclass
class BotState:
    """What the handlers share: the current library, counters, and the per-user flood guards."""

    settings: Settings
    library: Library
    started: float = field(default_factory=time.monotonic)
    answered: int = 0
    not_found: int = 0
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _limiters: dict[int, AsyncLimiter] = field(default_factory=dict)
    _warned: set[int] = field(default_factory=set)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _waiting: dict[int, int] = field(default_factory=dict)

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


def _state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.bot_data[STATE]


def _is_admin(update: Update, state: BotState) -> bool:
    return update.effective_user is not None and update.effective_user.id in state.settings.admin_ids


def _is_allowed(update: Update, settings: Settings) -> bool:
    if not settings.allowed_user_ids and not settings.allowed_chat_ids:
        return True
    user_id = update.effective_user.id if update.effective_user else None
    chat_id = update.effective_chat.id if update.effective_chat else None
    return (
        user_id in settings.admin_ids or user_id in settings.allowed_user_ids or chat_id in settings.allowed_chat_ids
    )


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


def _split(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Cut plain text into pieces of at most `limit` characters, preferring line breaks."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text else pieces


async def _reply_plain(message: Message, text: str) -> None:
    for piece in _split(text):
        await message.reply_text(piece)


# ---- the gate ------------------------------------------------------------------------------


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates from users and chats outside the allowlists, refusing only where the bot was addressed."""
    if _is_allowed(update, _state(context).settings):
        return
    message = update.effective_message
    if message is not None and _addressed_to_bot(message, context.bot.username, context.bot.id):
        await message.reply_text(REFUSAL)
    raise ApplicationHandlerStop


# ---- commands ------------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet, say what the bot knows and how to ask it."""
    library = _state(context).library
    await update.effective_message.reply_text(
        f"Hello! I answer questions from {len(library.documents)} documents "
        f"({library.sentence_count} sentences), quoting the sentences I found and citing where they come from.\n\n"
        "Here, just send me your question. In a group, write /ask <question>, mention "
        f"@{context.bot.username}, or reply to one of my messages.\n\n/help lists my commands."
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands (admin ones only to admins) and the ways to ask."""
    admin = _is_admin(update, _state(context))
    lines = [f"/{name} - {description}" for name, description in COMMANDS if admin or name not in ADMIN_COMMANDS]
    await update.effective_message.reply_text(
        "Send me a question in plain words and I'll quote the documents that answer it, with sources.\n"
        f"In groups: /ask <question>, mention @{context.bot.username}, or reply to my message.\n\n"
        + "\n".join(lines)
    )


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer `/ask <question>`, the way to ask in groups."""
    parts = (update.effective_message.text or "").split(maxsplit=1)
    question = parts[1] if len(parts) > 1 else ""
    await answer_question(update, context, question, ASK_USAGE)


async def reload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins: re-read the corpus off the event loop and swap the library in when it is ready."""
    state = _state(context)
    message = update.effective_message
    if not _is_admin(update, state):
        await message.reply_text(NOT_ADMIN.format(command="reload"))
        return
    if state.reload_lock.locked():
        await message.reply_text("A reload is already running; yours will start right after it.")
    async with state.reload_lock:
        started = time.perf_counter()
        try:
            # Questions keep being answered from the old library while this runs in a thread.
            library = await asyncio.to_thread(
                load_library,
                state.settings.corpus_dir,
                state.settings.cache_dir,
                **state.settings.loader_options(),
                previous=state.library,
                background=True,  # the new snapshot is written while the new library already answers
            )
        except CorpusError as exc:
            log.warning("Reload failed, keeping the previous library: %s", exc)
            await _reply_plain(
                message,
                f"Reload failed: {exc}\n\nI'm still answering from the previous documents "
                f"({len(state.library.documents)} documents, {state.library.sentence_count} sentences).",
            )
            return
        state.library = library
        took = time.perf_counter() - started
    log.info("Reloaded %d documents, %d sentences in %.1f s", len(library.documents), library.sentence_count, took)
    await _reply_plain(message, _reload_report(library, took))


def _reload_report(library: Library, took: float) -> str:
    lines = [f"Reloaded in {took:.1f} s: {len(library.documents)} documents, {library.sentence_count} sentences."]
    skipped = [s for s in library.skipped if not s.kept]
    warned = [s for s in library.skipped if s.kept]
    if skipped:
        lines += ["", f"Skipped {len(skipped)} file(s):", *(f"- {s.path}: {s.reason}" for s in skipped)]
    if warned:
        lines += ["", f"Read with a warning ({len(warned)}):", *(f"- {s.path}: {s.reason}" for s in warned)]
    return "\n".join(lines)


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins: corpus size, uptime, and questions answered / not found since start."""
    state = _state(context)
    if not _is_admin(update, state):
        await update.effective_message.reply_text(NOT_ADMIN.format(command="stats"))
        return
    library = state.library
    await update.effective_message.reply_text(
        f"Documents: {len(library.documents)} ({library.sentence_count} sentences, "
        f"{len(library.skipped)} file(s) skipped or with warnings)\n"
        f"Uptime: {_duration(time.monotonic() - state.started)}\n"
        f"Questions answered: {state.answered}\n"
        f"Questions not found in the documents: {state.not_found}"
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


async def private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In a private chat every text message is a question."""
    await answer_question(update, context, update.effective_message.text or "", SEND_TEXT)


async def group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In groups, answer only messages that mention the bot or reply to it; stay silent otherwise."""
    message = update.effective_message
    username = context.bot.username
    if _mentions_bot(message, username):
        question = message.text or ""
        for text in message.parse_entities([MessageEntity.MENTION]).values():
            if text.lower() == f"@{username.lower()}":
                question = question.replace(text, " ")
        await answer_question(update, context, question, MENTION_USAGE.format(username=username))
    elif _replies_to_bot(message, context.bot.id):
        await answer_question(update, context, message.text or "", SEND_TEXT)


async def non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice and the like in a private chat get a hint; groups never reach here."""
    await update.effective_message.reply_text(SEND_TEXT)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point private users who mistype a command at /help."""
    await update.effective_message.reply_text(UNKNOWN_COMMAND)


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, usage: str) -> None:
    """Rate-limit, score off the event loop, and send the rendered answer (HTML, plain text if rejected)."""
    state = _state(context)
    message = update.effective_message
    user_id = update.effective_user.id if update.effective_user else message.chat.id
    if not await state.admit(user_id):
        # One clear note per burst: answering every extra message would be a flood of our own.
        if state.first_refusal(user_id):
            await message.reply_text(SLOW_DOWN)
        return
    question = question.strip()
    if not question:
        await message.reply_text(usage)
        return
    if len(question) > MAX_QUESTION_LENGTH:
        await message.reply_text(TOO_LONG)
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
        await send_answer(message, result)


async def send_answer(message: Message, result: Answer) -> None:
    """Reply with the answer as HTML; if Telegram can't parse our markup, resend it as plain text."""
    chunks = render.html_messages(result, MAX_MESSAGE_LENGTH)
    for number, chunk in enumerate(chunks):
        try:
            await message.reply_html(chunk)
        except BadRequest as exc:
            if "can't parse entities" not in exc.message.lower() and "too long" not in exc.message.lower():
                raise
            log.warning("Telegram rejected an HTML answer (%s); resending it as plain text", exc.message)
            plain = render.plain_messages(result, MAX_MESSAGE_LENGTH)
            # Same sentences, same chunking: skip the chunks already delivered when the two line up.
            for text in plain[number:] if len(plain) == len(chunks) else plain:
                await _reply_plain(message, text)
            return


# ---- errors and start-up -------------------------------------------------------------------


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log any exception from a handler and tell the user something went wrong."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("Exception while handling update %s", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(SOMETHING_WRONG)
        except TelegramError:
            log.warning("Could not tell the user about the error either", exc_info=True)


async def post_init(application: Application) -> None:
    """Register the command menu: everyone sees the public commands, admins all of them."""
    state: BotState = application.bot_data[STATE]
    public = [BotCommand(name, text) for name, text in COMMANDS if name not in ADMIN_COMMANDS]
    await application.bot.set_my_commands(public)
    for admin_id in sorted(state.settings.admin_ids):
        try:
            await application.bot.set_my_commands(
                [BotCommand(name, text) for name, text in COMMANDS], scope=BotCommandScopeChat(admin_id)
            )
        except TelegramError as exc:
            # Telegram refuses chat scopes for users who never opened the bot; not worth failing start-up.
            log.warning("Could not set the admin command menu for %s: %s", admin_id, exc)


def build_application(settings: Settings, library: Library) -> Application:
    """Build the Application with every handler, the rate limiter and the error handler."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
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
        .rate_limiter(AIORateLimiter(max_retries=FLOOD_RETRIES))
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(post_init)
        .build()
    )
    application.bot_data[STATE] = BotState(settings=settings, library=library)

    new_messages = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_handler(CommandHandler("start", start, filters=new_messages))
    application.add_handler(CommandHandler("help", help_command, filters=new_messages))
    application.add_handler(CommandHandler("ask", ask, filters=new_messages))
    application.add_handler(CommandHandler("reload", reload, filters=new_messages))
    application.add_handler(CommandHandler("stats", stats, filters=new_messages))
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
    application.add_handler(MessageHandler(new_messages & private & ~filters.TEXT, non_text))
    application.add_error_handler(on_error)
    return application


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


def run(settings: Settings) -> int:
    """Load the library and serve Telegram by long polling until SIGTERM or Ctrl-C; return the exit code."""
    configure_logging(settings)
    if settings.telegram_bot_token is None:
        print(
            "citebot: TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and put its token "
            "in the environment or in .env (see README, 'Telegram').",
            file=sys.stderr,
        )
        return 2
    # Until run_polling installs its own handlers, SIGTERM should stop us as cleanly as Ctrl-C does.
    previous = (
        signal.signal(signal.SIGTERM, _stop_on_sigterm) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        library = load_library(settings.corpus_dir, settings.cache_dir, **settings.loader_options())
        log.info("Loaded %d documents, %d sentences", len(library.documents), library.sentence_count)
        application = build_application(settings, library)
        # bootstrap_retries=-1: a network that is down at boot is waited out; a bad token still aborts.
        application.run_polling(**POLLING, bootstrap_retries=-1)
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
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    log.info("Bot stopped")
    return 0


__all__ = ["COMMANDS", "build_application", "run"]
