"""A local stand-in for the Telegram Bot API, good enough to run the real bot against it in tests.

It serves `http://127.0.0.1:PORT/bot<TOKEN>/<method>` from a thread, keeps a queue of updates the
test injects, answers getUpdates as a long poll, validates HTML and message length the way Telegram
does, answers getChatMember for the memberships a test sets, fails on demand (429 with retry_after,
5xx, 4xx, a dropped connection) and records every call. Tests press buttons (callback queries), type
inline queries, send files (getFile and the download at `/file/bot<TOKEN>/<file_path>` serve their
bytes) and post updates to the bot's own webhook, as Telegram would. Channels post, edit, send albums and
documents, and add or remove the bot (`my_chat_member`); admins forward channel posts. getUpdates hands out
only the kinds of update the bot asked for in `allowed_updates`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_MESSAGE_LENGTH = 4096
# The largest file getFile hands to a bot (https://core.telegram.org/bots/api#getfile).
MAX_DOWNLOAD = 20 * 2**20
BOT_ID = 777000111
BOT_USERNAME = "citebot_test_bot"

# Parameters PTB sends JSON-encoded; everything else (text, parse_mode, action) is a plain string.
JSON_FIELDS = frozenset(
    {
        "chat_id",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "reply_parameters",
        "reply_to_message_id",
        "commands",
        "scope",
        "disable_notification",
        "protect_content",
        "link_preview_options",
        "drop_pending_updates",
        "message_thread_id",
        "entities",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "user_id",
    }
)
# Tags Telegram's HTML parse mode accepts (https://core.telegram.org/bots/api#html-style).
ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
# A failure that closes the connection without an answer, as a network failure does (recorded as status 0).
DROP = "drop"
# What each chat member status carries besides the user, as the Bot API sends it.
RIGHTS = ("can_change_info", "can_invite_users", "can_pin_messages", "can_manage_topics", "can_react_to_messages")
SEND_RIGHTS = (
    "can_send_messages",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_edit_tag",
)
ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)


class ParseError(Exception):
    """The text is not valid Telegram HTML."""


def parse_html(text: str) -> str:
    """Return the visible text of a Telegram HTML message, or raise ParseError as Telegram would."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "&":
            match = ENTITY.match(text, i)
            if not match:
                raise ParseError(f"Unsupported HTML entity at byte offset {len(text[:i].encode())}")
            out.append(html.unescape(match.group(0)))
            i = match.end()
        elif char == "<":
            end = text.find(">", i)
            if end < 0:
                raise ParseError(f"Unclosed start tag at byte offset {len(text[:i].encode())}")
            inside = text[i + 1 : end]
            closing = inside.startswith("/")
            name_match = re.match(r"/?([a-zA-Z][a-zA-Z0-9-]*)", inside)
            if not name_match:
                raise ParseError(f"Expected tag name at byte offset {len(text[:i].encode())}")
            name = name_match.group(1).lower()
            if name not in ALLOWED_TAGS:
                raise ParseError(f'Unsupported start tag "{name}" at byte offset {len(text[:i].encode())}')
            if closing:
                if not stack or stack[-1] != name:
                    raise ParseError(
                        f"Unmatched end tag at byte offset {len(text[:i].encode())}, "
                        f'expected "{stack[-1] if stack else ""}", found "{name}"'
                    )
                stack.pop()
            else:
                stack.append(name)
            i = end + 1
        else:
            out.append(char)
            i += 1
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_length(text: str) -> int:
    """Telegram measures text in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


# Parameters of keyboards, callback answers, inline answers and webhooks, also sent JSON-encoded.
JSON_FIELDS = JSON_FIELDS | {
    "reply_markup",
    "results",
    "button",
    "cache_time",
    "is_personal",
    "show_alert",
    "max_connections",
}
CALLBACK_DATA_LIMIT = 64
CALLBACK_TEXT_LIMIT = 200
INLINE_RESULTS_LIMIT = 50


def check_keyboard(markup: dict[str, Any] | None) -> None:
    """Raise ApiError as Telegram does for an inline keyboard it would refuse."""
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def check_text(text: str, parse_mode: str | None) -> str:
    """The visible text of a message, or ApiError as Telegram answers for bad markup, empty or long text."""
    shown = text
    if parse_mode == "HTML":
        try:
            shown = parse_html(text)
        except ParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
    if not shown.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_length(shown) > MAX_MESSAGE_LENGTH:
        raise ApiError(400, "Bad Request: message is too long")
    return shown


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    status: int = 200
    result: Any = None


class ApiError(Exception):
    """An error reply to send instead of the method's result."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


class BotApi:
    """State of the fake Bot API: updates to deliver, calls made, failures to inject."""

    def __init__(self, token: str, max_poll_wait: float = 1.0) -> None:
        self.token = token
        self.max_poll_wait = max_poll_wait
        self.calls: list[Call] = []
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.localized_commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._callback_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._failures: dict[str, list[ApiError | str | None]] = {}
        self._members: dict[tuple[int, int], dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._files: dict[str, bytes] = {}  # file_id -> the bytes getFile and the download serve
        self._paths: dict[str, str] = {}  # file_path -> file_id
        self.downloads: list[str] = []  # file paths downloaded, in order
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""
        self.webhook: dict[str, Any] = {}

    # ---- what tests use -------------------------------------------------------------------

    @property
    def me(self) -> dict[str, Any]:
        """The bot's own user object."""
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Citebot",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def chat(self, chat_id: int) -> dict[str, Any]:
        """A chat object: positive ids are private chats, negative ones groups."""
        if chat_id not in self._chats:
            self._chats[chat_id] = (
                {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
                if chat_id > 0
                else {"id": chat_id, "type": "supergroup", "title": f"Group{chat_id}"}
            )
        return self._chats[chat_id]

    def message(
        self,
        text: str | None = None,
        *,
        user_id: int = 1001,
        chat_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        language_code: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Build a message update (with entities for commands and mentions) and queue it."""
        chat_id = user_id if chat_id is None else chat_id
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self.user(user_id, language_code),
            **extra,
        }
        if text is not None:
            message["text"] = text
            entities = [
                {"type": kind, "offset": utf16_length(text[: m.start()]), "length": utf16_length(m.group(0))}
                for kind, pattern in (("bot_command", r"(?<!\S)/\w+(@\w+)?"), ("mention", r"(?<!\S)@\w+"))
                for m in re.finditer(pattern, text)
                if kind != "bot_command" or m.start() == 0
            ]
            if entities:
                message["entities"] = sorted(entities, key=lambda e: e["offset"])
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return self.push({"message": message})

    def document(
        self,
        data: bytes,
        file_name: str | None,
        *,
        mime_type: str = "application/octet-stream",
        file_size: int | None = None,
        caption: str | None = None,
        **message: Any,
    ) -> dict[str, Any]:
        """Queue a message with a file: Telegram's `document`, whose bytes getFile and the download serve.

        `file_size` is what the message claims: the length of `data` unless told otherwise, and with a
        negative value the message does not say (the field is optional).
        """
        with self._cond:
            number = len(self._files) + 1
            file_id = f"BQACAgIAAxkBAAI{number:06d}"
            self._files[file_id] = data
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"AgAD{number:06d}",
            "mime_type": mime_type,
            "file_size": len(data) if file_size is None else file_size,
        }
        if document["file_size"] < 0:
            del document["file_size"]
        if file_name is not None:
            document["file_name"] = file_name
        extra = {"caption": caption} if caption is not None else {}
        return self.message(None, document=document, **extra, **message)

    def channel(self, chat_id: int, username: str | None = None, title: str | None = None) -> dict[str, Any]:
        """A channel chat object (ids are -100…); a username makes it public. Set again to rename it."""
        chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title or f"Channel{chat_id}"}
        if username:
            chat["username"] = username
        self._chats[chat_id] = chat
        return chat

    def channel_post(
        self,
        chat: dict[str, Any],
        text: str | None = None,
        *,
        message_id: int | None = None,
        edited: bool = False,
        caption: str | None = None,
        media_group_id: str | None = None,
        document: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a `channel_post` (or, with `edited`, an `edited_channel_post` of `message_id`), as Telegram sends."""
        post: dict[str, Any] = {
            "message_id": message_id if message_id is not None else next(self._message_ids),
            "date": int(time.time()) - (60 if edited else 0),
            "chat": chat,
            "sender_chat": chat,
            **extra,
        }
        if edited:
            post["edit_date"] = int(time.time())
        for key, value in (("text", text), ("caption", caption), ("media_group_id", media_group_id)):
            if value is not None:
                post[key] = value
        if document is not None:
            post["document"] = document
        return self.push({"edited_channel_post" if edited else "channel_post": post})

    def file(
        self, data: bytes, file_name: str, *, mime_type: str = "application/pdf", file_size: int | None = None
    ) -> dict[str, Any]:
        """A `document` object whose bytes getFile and the download serve; `file_size` is what it claims."""
        with self._cond:
            number = len(self._files) + 1
            file_id = f"BQACAgIAAxkBAAI{number:06d}"
            self._files[file_id] = data
        return {
            "file_id": file_id,
            "file_unique_id": f"AgAD{number:06d}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data) if file_size is None else file_size,
        }

    def forward(
        self, chat: dict[str, Any], message_id: int, text: str | None = None, *, user_id: int, **extra: Any
    ) -> dict[str, Any]:
        """Queue a private message forwarding the channel post `message_id` (its `forward_origin` of type channel)."""
        origin = {"type": "channel", "chat": chat, "message_id": message_id, "date": int(time.time()) - 3600}
        return self.message(text, user_id=user_id, forward_origin=origin, **extra)

    def my_chat_member(self, chat: dict[str, Any], old: str, new: str, *, user_id: int) -> dict[str, Any]:
        """Queue a `my_chat_member` update: `user_id` changed the bot's status in `chat` from `old` to `new`."""
        bot = {"user": self.me}

        def member(status: str) -> dict[str, Any]:
            if status == "administrator":
                rights = dict.fromkeys(ADMIN_RIGHTS, False) | {"can_post_messages": True, "can_edit_messages": True}
                return {"status": status, **bot, **rights}
            return {"status": status, **bot, **({"until_date": 0} if status == "kicked" else {})}

        change = {
            "chat": chat,
            "from": self.user(user_id),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
        return self.push({"my_chat_member": change})

    @staticmethod
    def user(user_id: int, language_code: str | None = None) -> dict[str, Any]:
        """A user object, with the language their Telegram app is set to when given."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        return user | ({"language_code": language_code} if language_code else {})

    def press(
        self, message: dict[str, Any], data: str, *, user_id: int = 1001, language_code: str | None = None
    ) -> dict[str, Any]:
        """Queue a callback query: `user_id` pressed the button with `data` under the bot's `message`."""
        query = {
            "id": str(next(self._callback_ids)),
            "from": self.user(user_id, language_code),
            "message": message,
            "chat_instance": str(message["chat"]["id"]),
            "data": data,
        }
        return self.push({"callback_query": query})

    def inline(self, query: str, *, user_id: int = 1001, language_code: str | None = None) -> dict[str, Any]:
        """Queue an inline query, as typed after the bot's username in any chat."""
        inline = {
            "id": str(next(self._callback_ids)),
            "from": self.user(user_id, language_code),
            "query": query,
            "offset": "",
            "chat_type": "sender",
        }
        return self.push({"inline_query": inline})

    def buttons(self, call: Call) -> list[tuple[str, str]]:
        """The (text, callback_data) of the inline keyboard under a sent message."""
        markup = call.params.get("reply_markup") or {}
        return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]

    def toasts(self, query_update: dict[str, Any]) -> list[Call]:
        """The answerCallbackQuery calls for one queued callback query."""
        query_id = query_update["callback_query"]["id"]
        return [c for c in self.calls_to("answerCallbackQuery") if c.params.get("callback_query_id") == query_id]

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (an update_id is assigned) and wake a waiting getUpdates."""
        with self._cond:
            update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
            self._cond.notify_all()
        return update

    def fail(
        self, method: str, times: int, code: int, description: str, retry_after: int | None = None, *, after: int = 0
    ) -> None:
        """Make `times` calls of `method` fail with this error, once `after` more calls have gone through."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        self._plan(method, after, [ApiError(code, description, parameters) for _ in range(times)])

    def drop(self, method: str, times: int, *, after: int = 0) -> None:
        """Make `times` calls of `method` end with the connection closed and no answer, after `after` others."""
        self._plan(method, after, [DROP] * times)

    def _plan(self, method: str, after: int, failures: list[ApiError | str]) -> None:
        with self._cond:
            self._failures.setdefault(method, []).extend([None] * after + failures)

    def member(self, chat_id: int, user_id: int, status: str, **fields: Any) -> None:
        """Make getChatMember(chat_id, user_id) answer with this status; users never set have "left"."""
        if status == "restricted":
            fields = {"is_member": True, **dict.fromkeys(RIGHTS + SEND_RIGHTS, False), "until_date": 0, **fields}
        elif status == "administrator":
            fields = {**dict.fromkeys(ADMIN_RIGHTS, False), **fields}
        elif status == "creator":
            fields = {"is_anonymous": False, **fields}
        elif status == "kicked":
            fields = {"until_date": 0, **fields}
        with self._cond:
            self._members[chat_id, user_id] = {"status": status, **fields}

    def calls_to(self, method: str, ok_only: bool = True) -> list[Call]:
        """Calls of one method so far (only the successful ones unless told otherwise)."""
        with self._cond:
            return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Messages the bot successfully sent, optionally to one chat."""
        return [c for c in self.calls_to("sendMessage") if chat_id is None or c.params.get("chat_id") == chat_id]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of the messages the bot successfully sent."""
        return [c.params["text"] for c in self.sent(chat_id)]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Block until `predicate()` is truthy and return it (for tests driving a subprocess)."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s; calls: {self.summary()}")
            time.sleep(0.01)
        return result

    async def until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Await until `predicate()` is truthy and return it, without blocking the bot's event loop."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s; calls: {self.summary()}")
            await asyncio.sleep(0.01)
        return result

    async def replies(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Await until the bot has sent at least `count` messages to the chat; return those calls."""
        return await self.until(lambda: len(sent := self.sent(chat_id)) >= count and sent, timeout)

    def summary(self) -> list[tuple[str, int, str]]:
        """The calls so far, short enough for an assertion message."""
        with self._cond:
            return [(c.method, c.status, str(c.params.get("text", ""))[:60]) for c in self.calls]

    def pending(self) -> int:
        """Updates not yet confirmed by the bot (getUpdates with a higher offset)."""
        with self._cond:
            return len(self._updates)

    # ---- the API ----------------------------------------------------------------------

    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one request: (HTTP status, JSON body)."""
        if token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        call = Call(method, params)
        with self._cond:
            self.calls.append(call)
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
        try:
            if failure == DROP:
                call.status = 0
                return 0, {}
            if isinstance(failure, ApiError):
                raise failure
            handler = getattr(self, f"api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = call.result = handler(params)
        except ApiError as exc:
            call.status = exc.code
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return exc.code, body
        return 200, {"ok": True, "result": result}

    def api_getMe(self, params: dict[str, Any]) -> Any:
        return self.me

    def api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        if params.get("drop_pending_updates"):
            with self._cond:
                self._updates.clear()
        return True

    def api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, self.max_poll_wait)
        with self._cond:
            # An offset confirms every update before it, as in the real API.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            allowed = params.get("allowed_updates")

            def wanted() -> list[dict[str, Any]]:
                # Telegram sends only the kinds asked for, and drops the others.
                if allowed:
                    self._updates = [u for u in self._updates if next(k for k in u if k != "update_id") in allowed]
                return self._updates

            while not wanted() and self._server is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._updates[:limit]

    def api_sendMessage(self, params: dict[str, Any]) -> Any:
        shown = check_text(params.get("text", ""), params.get("parse_mode"))
        check_keyboard(params.get("reply_markup"))
        chat_id = int(params["chat_id"])
        result: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self.me,
            "text": shown,
        }
        if params.get("reply_markup"):
            result["reply_markup"] = params["reply_markup"]
        reply = params.get("reply_parameters")
        if reply:
            result["reply_to_message"] = {
                "message_id": reply["message_id"],
                "date": int(time.time()),
                "chat": self.chat(chat_id),
            }
        return result

    def api_getChatMember(self, params: dict[str, Any]) -> Any:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        with self._cond:
            member = self._members.get((chat_id, user_id), {"status": "left"})
        return {**member, "user": user}

    def api_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    def api_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id", ""))
        with self._cond:
            data = self._files.get(file_id)
            if data is None:
                raise ApiError(400, "Bad Request: invalid file_id")
            if len(data) > MAX_DOWNLOAD:
                raise ApiError(400, "Bad Request: file is too big")
            path = f"documents/file_{len(self._paths)}"
            self._paths[path] = file_id
        return {"file_id": file_id, "file_unique_id": f"U{file_id[-6:]}", "file_size": len(data), "file_path": path}

    def download(self, token: str, path: str) -> bytes | None:
        """The bytes of a file getFile has given a path to, or None (a 404) for any other path or token."""
        with self._cond:
            file_id = self._paths.get(path) if token == self.token else None
            if file_id is None:
                return None
            self.downloads.append(path)
            return self._files[file_id]

    def api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if len(params.get("text") or "") > CALLBACK_TEXT_LIMIT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        check_keyboard(params.get("reply_markup"))
        return {
            "message_id": int(params["message_id"]),
            "date": int(time.time()),
            "chat": self.chat(int(params["chat_id"])),
            "from": self.me,
            "text": "",
            **({"reply_markup": params["reply_markup"]} if params.get("reply_markup") else {}),
        }

    def api_answerInlineQuery(self, params: dict[str, Any]) -> Any:
        results = params.get("results") or []
        if len(results) > INLINE_RESULTS_LIMIT:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        for result in results:
            if not 1 <= len(str(result.get("id", "")).encode()) <= 64:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            content = result.get("input_message_content") or {}
            check_text(content.get("message_text", ""), content.get("parse_mode"))
        return True

    def api_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = dict(params)
        return True

    def api_setMyCommands(self, params: dict[str, Any]) -> Any:
        scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
        if params.get("language_code"):
            self.localized_commands[scope, params["language_code"]] = params["commands"]
        else:
            self.commands[scope] = params["commands"]
        return True

    def api_getMyCommands(self, params: dict[str, Any]) -> Any:
        scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
        if params.get("language_code"):
            return self.localized_commands.get((scope, params["language_code"]), [])
        return self.commands.get(scope, [])

    def api_close(self, params: dict[str, Any]) -> Any:
        return True

    def api_logOut(self, params: dict[str, Any]) -> Any:
        return True

    # ---- serving ----------------------------------------------------------------------

    def start(self) -> str:
        """Serve on an ephemeral port in a daemon thread; return the base URL for ApplicationBuilder."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def do_GET(self) -> None:  # noqa: N802
                download = re.fullmatch(r"/file/bot([^/]*)/(.+)", urllib.parse.unquote(self.path.partition("?")[0]))
                if download is None:
                    self._serve(b"")
                    return
                data = api.download(download.group(1), download.group(2))
                if data is None:
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def _serve(self, body: bytes) -> None:
                path, _, query = self.path.partition("?")
                match = re.fullmatch(r"/bot([^/]*)/(\w+)", path)
                if not match:
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                params = _decode(query, body, self.headers.get("Content-Type", ""))
                status, reply = api.handle(match.group(1), match.group(2), params)
                if status == 0:
                    self.close_connection = True  # hang up without a word
                    return
                self._reply(status, reply)

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The bot may hang up first (stopping ends its long poll); nothing is lost then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean; every call is in api.calls

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="botapi", daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/bot"
        return self.base_url

    def stop(self) -> None:
        """Stop serving and release waiting long polls."""
        server, self._server = self._server, None
        with self._cond:
            self._cond.notify_all()
        if server is not None:
            server.shutdown()
            server.server_close()


def _decode(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    if "application/json" in content_type:
        return json.loads(body or b"{}")
    if "multipart/form-data" in content_type:
        raise NotImplementedError("the stand-in does not take file uploads")
    raw = dict(urllib.parse.parse_qsl(query))
    raw.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    return {k: json.loads(v) if k in JSON_FIELDS else v for k, v in raw.items()}


@contextmanager
def serve(token: str, max_poll_wait: float = 1.0) -> Iterator[BotApi]:
    """Run a BotApi for the duration of a with block."""
    api = BotApi(token, max_poll_wait)
    api.start()
    try:
        yield api
    finally:
        api.stop()
