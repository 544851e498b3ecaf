"""Telegram channels as a source: posts, edits, albums and forwards written into the corpus; /forget; membership.

The posts become files under `channels/` (bot/ingest/sources/telegram_posts.py) and a refresh makes them
searchable within seconds. Telegram gives bots neither a channel's history (hence `citebot import-telegram`)
nor deletion events (hence `/forget`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from telegram import Chat, Message, MessageOriginChannel, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.chat import messages
from bot.chat.channels import detector
from bot.config import Settings
from bot.ingest.sources import telegram_posts as posts
from bot.ingest.sources.telegram_posts import Attachment, Post
from bot.telegram.files import DOWNLOAD_LIMIT
from bot.telegram.reloads import refresh, reload_and_reply
from bot.telegram.state import BotState, Context, MissingField, message_of, say, user_of

log = logging.getLogger(__name__)

WATCH = "citebot-channels"
# An album arrives as one update per message, within a moment: they are collected this long, then written once.
ALBUM_WAIT = 1.0


@dataclass
class Watch:
    """What the channel handlers remember: channels matched by id, those ignored, albums being collected."""

    known: dict[int, str | None] = field(default_factory=dict)  # listed channel id → its current username
    ignored: set[int] = field(default_factory=set)
    albums: dict[tuple[int, str], list[Post]] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def watch_of(context: Context) -> Watch:
    """The Watch kept in bot_data (made on first use)."""
    return context.bot_data.setdefault(WATCH, Watch())


def is_listed(chat: Chat, settings: Settings, watch: Watch) -> bool:
    """Whether a channel is one of CITEBOT_CHANNELS: by id, by username, or by the id it had when matched before."""
    if chat.id in watch.known:
        return True
    names = settings.channels
    if str(chat.id) in names or (chat.username and chat.username.lower() in names):
        watch.known[chat.id] = chat.username  # from now on matched by id, whatever it is renamed to
        return True
    return False


async def channel_post(update: Update, context: Context) -> None:
    """A post or an edit in a channel: written into the corpus if the channel is listed; nothing else sees it."""
    message = update.effective_message
    watch = watch_of(context)
    if message is None:
        raise ApplicationHandlerStop
    if not is_listed(message.chat, context.state.settings, watch):
        if message.chat.id not in watch.ignored:
            watch.ignored.add(message.chat.id)
            log.info("Ignoring posts of channel %s (%s): not in CITEBOT_CHANNELS", message.chat.id, message.chat.title)
        raise ApplicationHandlerStop
    watch.known[message.chat.id] = message.chat.username  # new posts cite the channel's current name
    post = await post_of(message, message.chat, message.message_id, message.date, context)
    await take(post, update.edited_channel_post is not None, context)
    raise ApplicationHandlerStop


async def post_of(message: Message, chat: Chat, message_id: int, date: object, context: Context) -> Post:
    """The Post of a message (a channel's own, or a forwarded copy of one), its attachment downloaded."""
    attachment = await _attachment(message, chat, message_id, context)
    return Post(
        channel_id=chat.id,
        username=chat.username,
        channel_title=chat.title or chat.username or str(chat.id),
        message_id=message_id,
        date=date,  # type: ignore[arg-type]
        text=message.text or message.caption or "",
        edit_date=message.edit_date,
        media_group_id=message.media_group_id,
        attachments=(attachment,) if attachment is not None else (),
    )


async def _attachment(message: Message, chat: Chat, message_id: int, context: Context) -> Attachment | None:
    """The attached document, if of a format the corpus reads and within the 20 MB Telegram lets bots fetch."""
    document = message.document
    if document is None or not posts.is_readable_attachment(document.file_name or ""):
        return None
    name = document.file_name or "document"
    link = posts.post_url(chat.id, chat.username, message_id)
    if document.file_size is not None and document.file_size > DOWNLOAD_LIMIT:
        log.warning(
            "Not downloading %s of %s: %d bytes, over the 20 MB bots may download", name, link, document.file_size
        )
        await tell_admins(context, "channel_file_too_large", name=name, size=document.file_size / 2**20, link=link)
        return None
    try:
        telegram_file = await document.get_file()
        data = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as exc:
        # The post's text is still written; the file is lost only for now: an edit of the post brings it again.
        log.warning("Could not download %s of %s: %s", name, link, exc.message)
        return None
    return Attachment(name, data)


async def take(post: Post, edited: bool, context: Context) -> None:
    """Write a post now, or, for a part of an album, once its other parts have come."""
    watch = watch_of(context)
    if post.media_group_id is None:
        await write(post, context)
        return
    key = (post.channel_id, post.media_group_id)
    if edited:
        await _edit_album_part(post, key, context)
        return
    parts = watch.albums.setdefault(key, [])
    parts.append(post)
    if len(parts) == 1:
        task = asyncio.get_running_loop().create_task(_write_album(key, context), name="citebot-album")
        watch.tasks.add(task)
        task.add_done_callback(watch.tasks.discard)


async def _write_album(key: tuple[int, str], context: Context) -> None:
    await asyncio.sleep(ALBUM_WAIT)
    album = posts.merged_album(watch_of(context).albums.pop(key))
    await write(album, context)


async def _edit_album_part(post: Post, key: tuple[int, str], context: Context) -> None:
    """An edited caption of an album's message: the album's document with that caption replaced."""
    corpus = context.state.settings.corpus_dir
    file = await asyncio.to_thread(posts.find_album, corpus, post.channel_id, key[1])
    if file is None:
        await write(post, context)  # its album was never written (the bot was down): the message alone
        return
    old = posts.read_meta(await asyncio.to_thread(file.read_bytes))
    await write(posts.edited_album_part(old, post), context)


async def write(post: Post, context: Context) -> posts.Written:
    """Write the post's files off the event loop and refresh the index; a failure is logged, never raised."""
    state = context.state
    try:
        written = await asyncio.to_thread(
            posts.write_post, state.settings.corpus_dir, post, detector(state.settings.languages)
        )
    except OSError as exc:
        log.error("Could not write post %s: %s", _link(post), exc.strerror or exc)
        return posts.Written(reason=exc.strerror or str(exc))
    if written.paths:
        log.info("Post %s written: %s", _link(post), ", ".join(written.paths))
        refresh(state, paths=written.changed)
    else:
        log.info("Post %s not written: %s", _link(post), written.reason)
    return written


def _link(post: Post) -> str:
    return posts.post_url(post.channel_id, post.username, post.message_id)


class _FromChannel(filters.MessageFilter):
    """Messages forwarded from a channel (their `forward_origin` is of type channel)."""

    def filter(self, message: Message) -> bool:
        """Whether the message is a forwarded channel post."""
        return isinstance(message.forward_origin, MessageOriginChannel)


FROM_CHANNEL = _FromChannel(name="FromChannel")


async def forwarded(update: Update, context: Context) -> None:
    """Admins: a channel post forwarded in a private chat is added under the original's link."""
    message = message_of(update)
    origin = message.forward_origin
    assert isinstance(origin, MessageOriginChannel)
    post = await post_of(message, origin.chat, origin.message_id, origin.date, context)
    link = _link(post)
    if post.media_group_id is not None:
        await take(post, False, context)
        return
    written = await write(post, context)
    if written.paths:
        await message.reply_text(say(update, "forward_added", link=link, path=written.paths[0]))
    else:
        await message.reply_text(say(update, "forward_not_added", link=link, reason=written.reason))


async def forget(update: Update, context: Context) -> None:
    """Admins: `/forget <t.me link>`, or `/forget` in reply to a forwarded post, removes the post's documents."""
    message = message_of(update)
    link = _forget_target(message)
    if link is None:
        await message.reply_text(say(update, "forget_usage"))
        return
    state = context.state
    known = list(watch_of(context).known.items())
    removed = await asyncio.to_thread(posts.forget, state.settings.corpus_dir, link, known)
    shown = _shown(link)
    if not removed:
        await message.reply_text(say(update, "forget_missing", link=shown))
        return
    log.info("Admin %s forgot %s: %s", user_of(update).id, shown, ", ".join(removed))
    done = say(update, "forget_removed", link=shown, paths=", ".join(removed))
    await reload_and_reply(update, state, lambda library, _: done, changed=removed)


def _forget_target(message: Message) -> posts.Link | None:
    parts = (message.text or "").split(maxsplit=1)
    if len(parts) == 2:
        return posts.parse_link(parts[1])
    replied = message.reply_to_message
    origin = replied.forward_origin if replied is not None else None
    if isinstance(origin, MessageOriginChannel):
        return posts.Link(origin.message_id, internal=posts.internal_id(origin.chat.id))
    return None


def _shown(link: posts.Link) -> str:
    if link.username:
        return f"https://t.me/{link.username}/{link.message_id}"
    return f"https://t.me/c/{link.internal}/{link.message_id}"


async def membership(update: Update, context: Context) -> None:
    """The bot added to or removed from a chat: logged; for a listed channel the admins are told."""
    change = update.my_chat_member
    if change is None:
        raise MissingField(f"update {update.update_id} has no chat member change")
    chat = change.chat
    old, new = change.old_chat_member.status, change.new_chat_member.status
    log.info("Membership in %s %s (%s) changed from %s to %s", chat.type, chat.id, chat.title, old, new)
    if chat.type != Chat.CHANNEL:
        return
    if not is_listed(chat, context.state.settings, watch_of(context)):
        log.info("Channel %s (%s) is not in CITEBOT_CHANNELS: its posts will be ignored", chat.id, chat.title)
        raise ApplicationHandlerStop
    if new == ChatMemberStatus.ADMINISTRATOR:
        await tell_admins(context, "channel_joined", title=chat.title, chat_id=chat.id, status=new)
    elif old == ChatMemberStatus.ADMINISTRATOR:
        await tell_admins(context, "channel_left", title=chat.title, chat_id=chat.id, status=new)
    raise ApplicationHandlerStop


async def tell_admins(context: Context, key: str, **values: object) -> None:
    """Send a notice to every admin (in English: the bot has no user here to take a language from)."""
    state: BotState = context.state
    for admin in sorted(state.settings.admin_ids):
        try:
            await context.bot.send_message(admin, messages.text(key, None, **values))
        except TelegramError as exc:
            # An admin who never started the bot cannot be written to: the log has it.
            log.warning("Could not tell admin %s: %s", admin, exc)


def add_handlers(application: Application, admin_ids: Collection[int]) -> None:
    """Wire the channel handlers: channel updates before the allowlist gate (no user sent them), the rest first."""
    posts_and_edits = filters.UpdateType.CHANNEL_POSTS
    application.add_handler(MessageHandler(posts_and_edits, channel_post), group=-2)
    application.add_handler(ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER), group=-2)
    admins = filters.User(user_id=admin_ids)
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("forget", forget, filters=filters.UpdateType.MESSAGE & admins))
    application.add_handler(MessageHandler(private & admins & FROM_CHANNEL, forwarded))
