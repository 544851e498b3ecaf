"""Documents admins add by sending them in a private chat, and `/remove` for those they added."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import mimetypes

import httpx
from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from bot.chat import uploads
from bot.config import Settings
from bot.index.library import Library
from bot.ingest.names import safe_name
from bot.telegram.reloads import reload_and_reply
from bot.telegram.state import BotState, Context, MissingField, language_of, message_of, reply_plain, say, user_of
from bot.text.languages import Languages

log = logging.getLogger(__name__)

# The Bot API hands bots files of up to 20 MB (getFile); a larger one cannot be fetched however the bot is set.
DOWNLOAD_LIMIT = 20 * 2**20
# A download of a sent file may take this long between bytes before it is given up.
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def upload_limit(settings: Settings) -> int:
    """CITEBOT_MAX_UPLOAD_MB in bytes."""
    return int(settings.max_upload_mb * 2**20)


def _upload_name(message: Message) -> str:
    """The name a sent document is saved under: its own, cleaned; or one made from its type when it has none."""
    document = message.document
    name = document.file_name if document is not None else None
    if not name:
        mime = document.mime_type if document is not None else None
        name = "document" + ((mimetypes.guess_extension(mime) or "") if mime else "")
    return safe_name(name)


def _check_and_save(settings: Settings, name: str, data: bytes) -> str:
    """Check an upload and save it under uploads/ (in a worker thread: extraction blocks); its corpus path."""
    # The classifier's model is mapped from the cache folder, as a load maps it.
    languages = dataclasses.replace(Languages.parse(settings.languages), model_home=settings.cache_dir.absolute())
    return uploads.add(settings.corpus_dir, settings.cache_dir, name, data, upload_limit(settings), languages)


async def upload(update: Update, context: Context) -> None:
    """Admins: a file sent in a private chat is checked, saved under uploads/, and loaded by an incremental reload."""
    state = context.state
    name = _upload_name(message_of(update))
    data = await _download(update, state, name)
    if data is None:
        return
    try:
        path = await asyncio.to_thread(_check_and_save, state.settings, name, data)
    except uploads.Refused as refused:
        await _not_added(update, name, refused.say(language_of(update)))
        return
    except OSError as exc:
        log.warning("Could not save the upload %s: %s", name, exc)
        await _not_added(update, name, say(update, "upload_not_saved", error=exc.strerror or exc))
        return
    log.info("Admin %s added %s (%d bytes)", user_of(update).id, path, len(data))
    saved = say(update, "upload_saved", path=path)
    await reload_and_reply(update, state, lambda library, _: _added(update, library, path), saved)


async def _download(update: Update, state: BotState, name: str) -> bytes | None:
    """The sent file's bytes; None, with the reply sent, when it is over our limit or Telegram's 20 MB."""
    message = message_of(update)
    document = message.document
    if document is None:  # the handler's filter lets in only documents
        raise MissingField(f"update {update.update_id} has no document")
    size = document.file_size
    limit = upload_limit(state.settings)
    if size is not None and size > min(limit, DOWNLOAD_LIMIT):
        # Refused before anything is fetched: Telegram would not hand over more than 20 MB anyway.
        reasons = [say(update, "upload_refused_size", size=size / 2**20, limit=limit / 2**20)] if size > limit else []
        if size > DOWNLOAD_LIMIT:
            reasons.append(say(update, "upload_download_limit"))
        await _not_added(update, name, "\n\n".join(reasons))
        return None
    with contextlib.suppress(TelegramError):  # the typing indicator is cosmetic
        await message.reply_chat_action(ChatAction.TYPING)
    try:
        telegram_file = await document.get_file()
    except BadRequest as exc:
        if "too big" not in exc.message.lower():
            raise
        # The message did not say how large the file is (the field is optional), so Telegram said it.
        await _not_added(update, name, say(update, "upload_download_limit"))
        return None
    data = await _fetch(telegram_file.file_path or "", min(limit, DOWNLOAD_LIMIT))
    if data is None:
        # The message and getFile said less than the server is sending: the download stops at the limit.
        await _not_added(update, name, say(update, "upload_refused_over", limit=limit / 2**20))
    return data


async def _fetch(url: str, limit: int) -> bytes | None:
    """The bytes at a file URL, streamed; None as soon as they pass `limit` (sizes Telegram reports can be wrong)."""
    received = bytearray()
    async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT) as client, client.stream("GET", url) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) > limit:
                return None
    return bytes(received)


async def _not_added(update: Update, name: str, reason: str) -> None:
    await message_of(update).reply_text(say(update, "upload_not_added", name=name, reason=reason))


def _added(update: Update, library: Library, path: str) -> str:
    """What an upload added: its title, sentences and pages; or why the reload left it out."""
    entry = next((e for e in library.entries if e.document.path == path), None)
    if entry is None:
        reason = next((s.reason for s in library.skipped if s.path == path), "?")
        return say(update, "upload_left_out", path=path, reason=reason)
    pages = len(entry.document.pages)
    return say(
        update,
        "upload_added",
        path=path,
        title=entry.document.title,
        sentences=len(entry.sentences),
        pages=say(update, "upload_pages", pages=pages) if pages else "",
        documents=len(library.documents),
        total=library.sentence_count,
    )


async def upload_not_admin(update: Update, context: Context) -> None:
    """A file from someone who is not an admin: refused politely, never downloaded."""
    await message_of(update).reply_text(say(update, "upload_not_admin"))


async def remove(update: Update, context: Context) -> None:
    """Admins: `/remove <name>` deletes an uploaded document and reloads; `/remove` alone lists the uploads."""
    state = context.state
    message = message_of(update)
    parts = (message.text or "").split(maxsplit=1)
    corpus_dir = state.settings.corpus_dir
    if len(parts) < 2:
        names = await asyncio.to_thread(uploads.uploaded, corpus_dir)
        listed = "\n".join(f"- {name}" for name in names)
        await reply_plain(message, say(update, "remove_list", names=listed) if names else say(update, "remove_none"))
        return
    try:
        path = await asyncio.to_thread(uploads.remove, corpus_dir, parts[1].strip())
    except uploads.Refused as refused:
        await message.reply_text(say(update, "remove_failed", reason=refused.say(language_of(update))))
        return
    log.info("Admin %s removed %s", user_of(update).id, path)
    removed = say(update, "remove_removed", path=path)
    await reload_and_reply(update, state, lambda library, _: _removed(update, library, path), removed)


def _removed(update: Update, library: Library, path: str) -> str:
    """What /remove replies once the library no longer holds the document."""
    return say(update, "remove_done", path=path, documents=len(library.documents), sentences=library.sentence_count)
