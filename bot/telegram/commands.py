"""The command menu, /start and /help."""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.chat import messages
from bot.telegram.files import DOWNLOAD_LIMIT, upload_limit
from bot.telegram.state import STATE, BotState, Context, is_admin, message_of, say

log = logging.getLogger(__name__)

# The command menu (setMyCommands, in each interface language) and /help; docs/telegram.md documents every one of them.
COMMAND_NAMES = ("start", "help", "ask", "reload", "stats", "feedback", "gaps", "remove", "sync", "sources", "forget")
COMMANDS: list[tuple[str, str]] = [(name, messages.text(f"command_{name}")) for name in COMMAND_NAMES]
ADMIN_COMMANDS = frozenset({"reload", "stats", "feedback", "gaps", "remove", "sync", "sources", "forget"})


async def start(update: Update, context: Context) -> None:
    """Greet, say what the bot knows and how to ask it."""
    library = context.state.library
    await message_of(update).reply_text(
        say(
            update,
            "greeting",
            documents=len(library.documents),
            sentences=library.sentence_count,
            username=context.bot.username,
        )
    )


async def help_command(update: Update, context: Context) -> None:
    """List the commands (admin ones only to admins) and the ways to ask."""
    admin = is_admin(update, context.state)
    lines = [
        f"/{name} - {say(update, f'command_{name}')}" for name in COMMAND_NAMES if admin or name not in ADMIN_COMMANDS
    ]
    if admin:
        limit = min(upload_limit(context.state.settings), DOWNLOAD_LIMIT) / 2**20
        lines += ["", say(update, "help_upload", limit=limit)]
    await message_of(update).reply_text(say(update, "help", username=context.bot.username, commands="\n".join(lines)))


async def register_commands(application: Application) -> None:
    """Register the command menu in each interface language: everyone sees the public commands, admins all of them."""
    state: BotState = application.bot_data[STATE]
    # English is the menu for every language Telegram has no list for; Russian and Kazakh have their own.
    for lang in messages.LANGUAGES:
        code = None if lang == messages.DEFAULT else lang
        menu = [BotCommand(name, messages.text(f"command_{name}", lang)) for name in COMMAND_NAMES]
        try:
            await application.bot.set_my_commands(
                [c for c in menu if c.command not in ADMIN_COMMANDS], language_code=code
            )
        except TelegramError as exc:
            # The menu is a convenience: typed commands work without it, so it is no reason not to start.
            log.warning("Could not set the command menu: %s", exc)
        for admin_id in sorted(state.settings.admin_ids):
            try:
                await application.bot.set_my_commands(menu, scope=BotCommandScopeChat(admin_id), language_code=code)
            except TelegramError as exc:
                # Telegram refuses chat scopes for users who never opened the bot; not worth failing start-up.
                log.warning("Could not set the admin command menu for %s: %s", admin_id, exc)
