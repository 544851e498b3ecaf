"""The Application: every handler wired to the updates it takes, the delivery rules and the error handler."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from telegram import LinkPreviewOptions, MessageEntity, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.chat import refs
from bot.chat.feedback import Feedback, Recorder
from bot.config import Settings
from bot.index.library import Library
from bot.telegram import admin, buttons, channel, commands, files, questions, sync
from bot.telegram.access import gate
from bot.telegram.delivery import Delivery
from bot.telegram.errors import on_error
from bot.telegram.inline import inline_query
from bot.telegram.reloads import reload
from bot.telegram.state import STATE, BotState, Context

# Bounded so a burst of updates cannot spawn unbounded tasks and threads.
CONCURRENT_UPDATES = 32


def build_application(
    settings: Settings, library: Library, *, delivery: Delivery | None = None, clusters: Any = None
) -> Application:
    """Build the Application with every handler, the delivery rules and the error handler.

    `clusters` (a bot.index.cluster.Clusters) holds the cluster client a sharded library was loaded with.
    """
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram_bot_token.get_secret_value()
    path = settings.feedback_path()
    state = BotState(
        settings=settings,
        library=library,
        clusters=clusters,
        feedback=Feedback(path) if path is not None else None,
        # Its own connection: reads are not held up behind a write waiting out another process's lock.
        recorder=Recorder(Feedback(path)) if path is not None else None,
        key=refs.signing_key(token),
    )
    application = (
        ApplicationBuilder()
        .token(token)
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
    add_handlers(application, settings.admin_ids)
    sync.schedule(application)
    application.add_error_handler(on_error)
    return application


def add_handlers(application: Application, admin_ids: Collection[int]) -> None:
    """Wire each handler to the updates it takes; the first that matches an update handles it."""
    new_messages = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, gate), group=-1)
    channel.add_handlers(application, admin_ids)
    application.add_handler(CommandHandler("start", commands.start, filters=new_messages))
    application.add_handler(CommandHandler("help", commands.help_command, filters=new_messages))
    application.add_handler(CommandHandler("ask", questions.ask, filters=new_messages))
    # Admin commands run only for admins; anyone else who sends one reaches `not_admin`.
    admins = filters.User(user_id=admin_ids)
    application.add_handler(CommandHandler("reload", reload, filters=new_messages & admins))
    application.add_handler(CommandHandler("stats", admin.stats, filters=new_messages & admins))
    application.add_handler(CommandHandler("feedback", admin.feedback, filters=new_messages & admins))
    application.add_handler(CommandHandler("gaps", admin.gaps, filters=new_messages & admins))
    application.add_handler(CommandHandler("remove", files.remove, filters=new_messages & admins))
    application.add_handler(CommandHandler("sync", sync.sync_now, filters=new_messages & admins))
    application.add_handler(CommandHandler("sources", sync.sources, filters=new_messages & admins))
    application.add_handler(CommandHandler(sorted(commands.ADMIN_COMMANDS), admin.not_admin, filters=new_messages))
    application.add_handler(CallbackQueryHandler(buttons.button))
    application.add_handler(InlineQueryHandler(inline_query))
    application.add_handler(
        MessageHandler(new_messages & private & filters.TEXT & ~filters.COMMAND, questions.private_text)
    )
    addressed = filters.Entity(MessageEntity.MENTION) | filters.REPLY
    in_groups = new_messages & filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(in_groups & addressed, questions.group_text))
    application.add_handler(MessageHandler(new_messages & private & filters.COMMAND, questions.unknown_command))
    # Files are taken in private chats only: in a group a file is shared with people, not sent to the bot, so
    # documents there get no reply at all (nothing handles them).
    application.add_handler(MessageHandler(new_messages & private & filters.Document.ALL & admins, files.upload))
    application.add_handler(MessageHandler(new_messages & private & filters.Document.ALL, files.upload_not_admin))
    application.add_handler(MessageHandler(new_messages & private & ~filters.TEXT, questions.non_text))
