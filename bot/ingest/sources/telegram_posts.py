"""A Telegram channel's posts as corpus files: one Markdown file per post, its attachment beside it.

Pure functions over plain values: the bot (bot/telegram/channel.py) turns updates into `Post`s, and
`citebot import-telegram` reads them from Telegram Desktop's JSON export (`read_export`). A post lives at
`channels/<username or c-<internal id>>/<message_id>.md` with front matter giving its title, the channel's
title as the source, its date, its t.me link and its language; an attached document is stored as
`<message_id>-<name>` with a `.yml` sidecar carrying the same but the language (the file's own text decides
it). Front matter also records the channel's id and the post's version (the Unix time of its last edit) so
that a renamed channel's posts are still found and an older text never replaces a newer one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from bot.ingest.corpus import SUFFIXES, opening_title
from bot.ingest.names import safe_name
from bot.ingest.sidecars import SIDECAR_SUFFIX
from bot.ingest.sources.writing import atomic_write, sync_folder

FOLDER = "channels"
# Bot API ids of channels and supergroups are -100 followed by the internal id that t.me/c/ links use.
CHANNEL_ID_BASE = 10**12
# An attachment's name is cut shorter than an upload's: it is stored as "<message id>-<name>".
MAX_NAME = 80
# Where the front matter ends; the body follows.
FRONT_MATTER = re.compile(r"\A---\n(?P<meta>.*?)\n---\n", re.DOTALL)
Detect = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Attachment:
    """A document attached to a post: its file name (as sent) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Post:
    """One channel post (or one album, under its first message's id): what it says and where it is from."""

    channel_id: int  # the Bot API id, -100…
    username: str | None  # without the @; None for a private channel
    channel_title: str
    message_id: int
    date: dt.datetime
    text: str
    edit_date: dt.datetime | None = None
    media_group_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # For an album: each message's id and caption, so an edit of one caption replaces only that part.
    parts: tuple[tuple[int, str], ...] = ()

    @property
    def version(self) -> int:
        """When this text was last written (its edit or its post date), as Unix time: the newer wins."""
        return int((self.edit_date or self.date).timestamp())


@dataclass(frozen=True)
class Written:
    """What writing a post did: the corpus paths written (empty when the corpus held this version or newer)."""

    paths: tuple[str, ...] = ()
    reason: str | None = None  # why nothing was written
    changed: tuple[str, ...] = ()  # every file written or removed, sidecars too: what a reload must read again


def internal_id(channel_id: int) -> int:
    """The id t.me/c/ links use: -1001234567890 → 1234567890."""
    return -channel_id - CHANNEL_ID_BASE if channel_id < -CHANNEL_ID_BASE else abs(channel_id)


def channel_id_of(internal: int) -> int:
    """The Bot API id of a channel from the id an export names it by: 1234567890 → -1001234567890."""
    return -(CHANNEL_ID_BASE + internal)


def folder_of(channel_id: int, username: str | None) -> str:
    """The corpus folder of a channel's posts: `channels/<username>`, or `channels/c-<internal id>` if private."""
    return f"{FOLDER}/{username.lower()}" if username else f"{FOLDER}/c-{internal_id(channel_id)}"


def post_url(channel_id: int, username: str | None, message_id: int) -> str:
    """The post's t.me link: public by username, private by the channel's internal id."""
    if username:
        return f"https://t.me/{username}/{message_id}"
    return f"https://t.me/c/{internal_id(channel_id)}/{message_id}"


@dataclass(frozen=True)
class Link:
    """A parsed t.me post link: a username or an internal id, and a message id."""

    message_id: int
    username: str | None = None
    internal: int | None = None


LINK = re.compile(
    r"^(?:https?://)?(?:t\.me|telegram\.me)/(?:(?:c/(?P<internal>\d+))|(?:s/)?(?P<username>[A-Za-z]\w{3,31}))"
    r"/(?P<message>\d+)/?(?:\?.*)?$"
)


def parse_link(text: str) -> Link | None:
    """A t.me post link (`https://t.me/name/12`, `t.me/c/123/12`), or None if the text is not one."""
    match = LINK.match(text.strip())
    if match is None:
        return None
    internal = match["internal"]
    return Link(int(match["message"]), match["username"], int(internal) if internal else None)


def post_title(text: str) -> str | None:
    """A post's title: its first line or sentence, shortened."""
    return opening_title(text)


def has_words(text: str) -> bool:
    """Whether a text holds anything to quote (a post of emoji or an empty caption does not)."""
    return re.search(r"\w", text) is not None


def is_readable_attachment(name: str) -> bool:
    """Whether an attached file is of a format the corpus reads (PDF, DOCX, …)."""
    return name.lower().endswith(SUFFIXES)


def metadata(post: Post, language: str | None) -> dict[str, Any]:
    """The front matter of a post's file (and, less the bookkeeping, of its attachments' sidecars)."""
    meta: dict[str, Any] = {
        "title": post_title(post.text) or f"{post.channel_title} #{post.message_id}",
        "source": post.channel_title,
        "date": post.date.astimezone(dt.UTC).isoformat(),
        "url": post_url(post.channel_id, post.username, post.message_id),
    }
    if language:
        meta["language"] = language
    meta |= {"channel_id": post.channel_id, "message_id": post.message_id, "version": post.version}
    if post.media_group_id:
        meta["media_group_id"] = post.media_group_id
    if post.parts:
        meta["parts"] = [[number, caption] for number, caption in post.parts]
    return meta


def render(post: Post, language: str | None) -> str:
    """A post as a Markdown file: YAML front matter, then its text."""
    header = yaml.safe_dump(metadata(post, language), allow_unicode=True, sort_keys=False, width=10_000)
    return f"---\n{header}---\n{post.text.strip()}\n"


def sidecar(post: Post, attachment: Attachment, language: str | None) -> str:
    """The `.yml` sidecar of an attachment: the post's metadata, titled by the caption or the file name.

    The caption's language is not the file's: a report's own text decides its language when it is read.
    """
    meta = metadata(post, language)
    fields: dict[str, object] = {name: meta[name] for name in ("title", "source", "date", "url") if name in meta}
    if not has_words(post.text):
        fields["title"] = Path(attachment.name).stem
    fields["version"] = post.version
    return yaml.safe_dump(fields, allow_unicode=True, sort_keys=False, width=10_000)


def read_meta(data: bytes) -> dict[str, Any]:
    """The front matter of a post's file written by `render` (empty if it has none that parses)."""
    match = FRONT_MATTER.match(data.decode("utf-8", errors="replace"))
    if match is None:
        return {}
    try:
        meta = yaml.safe_load(match["meta"])
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def find_post(corpus_dir: Path, channel_id: int, message_id: int) -> Path | None:
    """The file of a channel's post, in whichever folder the channel had when it was written."""
    root = Path(corpus_dir) / FOLDER
    if not root.is_dir():
        return None
    for folder in sorted(root.iterdir()):
        candidate = folder / f"{message_id}.md"
        if candidate.is_file() and read_meta(candidate.read_bytes()).get("channel_id") == channel_id:
            return candidate
    return None


def find_album(corpus_dir: Path, channel_id: int, media_group_id: str) -> Path | None:
    """The file of the album `media_group_id` of a channel, if one was written."""
    root = Path(corpus_dir) / FOLDER
    needle = media_group_id.encode()
    for file in sorted(root.glob("*/*.md")) if root.is_dir() else []:
        data = file.read_bytes()
        if needle in data[:8192]:
            meta = read_meta(data)
            if meta.get("channel_id") == channel_id and str(meta.get("media_group_id")) == media_group_id:
                return file
    return None


def write_post(corpus_dir: Path, post: Post, detect: Detect) -> Written:
    """Write a post's file and attachments unless the corpus holds this version of it or a newer one.

    A post already written for this channel (under its old username, too) is replaced in place, so its link
    stays the one it was first cited by. `detect` gives the text's language (None: leave it to the loader).
    """
    root = Path(corpus_dir)
    existing = find_post(root, post.channel_id, post.message_id)
    if existing is not None:
        old = read_meta(existing.read_bytes())
        version = old.get("version")
        if isinstance(version, int) and version > post.version:
            return Written(reason="a newer version is already in the corpus")
        folder = existing.parent
        post = _keeping_link(post, old, folder.name)
    else:
        folder = root / folder_of(post.channel_id, post.username)
    if not has_words(post.text) and not post.attachments:
        return Written(reason="no text to quote")
    language = detect(post.text) if has_words(post.text) else None
    files: list[tuple[Path, bytes]] = []
    for attachment in post.attachments:
        name = f"{post.message_id}-{safe_name(attachment.name, MAX_NAME)}"
        files += [(folder / name, attachment.data)]
        files += [(folder / f"{name}{SIDECAR_SUFFIX}", sidecar(post, attachment, language).encode())]
    file = folder / f"{post.message_id}.md"
    if has_words(post.text):
        files.insert(0, (file, render(post, language).encode()))
    removed = []
    if not has_words(post.text) and file.exists():
        file.unlink()  # the caption was edited away: the attachment alone stays
        removed.append(file.relative_to(root).as_posix())
    # Same bytes are not written again: importing twice changes no file, and the index has nothing to redo.
    changed = [(path, data) for path, data in files if not _holds(path, data)]
    for path, data in changed:
        atomic_write(path, data)
        sync_folder(path.parent)  # the rename itself survives a crash
    names = [path.relative_to(root).as_posix() for path, _ in changed]
    written = tuple(name for name in names if not name.endswith(SIDECAR_SUFFIX))
    if not changed and not removed:
        return Written(reason="already in the corpus")
    return Written(written, changed=tuple(names + removed))


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file exists with exactly these bytes."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


def _keeping_link(post: Post, old: dict[str, Any], folder: str) -> Post:
    """The post cited as it was first written: an edit after the channel was renamed keeps the old link."""
    url = old.get("url")
    link = parse_link(url) if isinstance(url, str) else None
    if link is not None and link.username:
        return replace(post, username=link.username)
    return post if not folder.startswith("c-") else replace(post, username=None)


def forget(corpus_dir: Path, link: Link, channels: Iterable[tuple[int, str | None]] = ()) -> list[str]:
    """Delete the files of the post a t.me link names (its file, attachments and sidecars); the paths deleted.

    The link's username is matched against every channel folder and the front matter's links, so a link by a
    channel's old name still finds the post; `channels` ((id, username) pairs known) resolve new names too.
    """
    root = Path(corpus_dir)
    base = root / FOLDER
    if not base.is_dir():
        return []
    targets = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        file = folder / f"{link.message_id}.md"
        if _names(link, folder, file, channels):
            targets.append(folder)
    removed: list[str] = []
    for folder in targets:
        prefix = f"{link.message_id}-"
        for file in sorted(folder.iterdir()):
            if file.name == f"{link.message_id}.md" or file.name.startswith(prefix):
                file.unlink()
                removed.append(file.relative_to(root).as_posix())
    return removed


def _names(link: Link, folder: Path, file: Path, channels: Iterable[tuple[int, str | None]]) -> bool:
    """Whether the link points into this channel folder."""
    if link.internal is not None:
        if folder.name == f"c-{link.internal}":
            return True
        meta = read_meta(file.read_bytes()) if file.is_file() else {}
        return meta.get("channel_id") == channel_id_of(link.internal)
    username = (link.username or "").lower()
    if folder.name == username:
        return True
    ids = {channel for channel, name in channels if name and name.lower() == username}
    meta = read_meta(file.read_bytes()) if file.is_file() else {}
    if meta.get("channel_id") in ids:
        return True
    url = meta.get("url")
    old = parse_link(url) if isinstance(url, str) else None
    return old is not None and (old.username or "").lower() == username


def count_by_channel(paths: Iterable[str]) -> dict[str, int]:
    """How many of the corpus paths are channel posts, per channel folder (`press_kz`, `c-1234567890`)."""
    counts: dict[str, int] = {}
    for path in paths:
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == FOLDER:
            counts[parts[1]] = counts.get(parts[1], 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def merged_album(posts: list[Post]) -> Post:
    """An album's messages as one post under the first message's id: the captions joined, attachments all kept."""
    posts = sorted(posts, key=lambda post: post.message_id)
    first = posts[0]
    parts = tuple((post.message_id, post.text) for post in posts)
    return replace(
        first,
        text=_joined(parts),
        edit_date=max((post.edit_date for post in posts if post.edit_date), default=None),
        attachments=tuple(attachment for post in posts for attachment in post.attachments),
        parts=parts,
    )


def edited_album_part(old: dict[str, Any], edited: Post) -> Post:
    """The album an edited message belongs to, with that message's caption replaced (the others kept)."""
    raw = old.get("parts")
    parts = {int(number): str(caption) for number, caption in raw} if isinstance(raw, list) else {}
    parts[edited.message_id] = edited.text
    ordered = tuple(sorted(parts.items()))
    first = int(old.get("message_id", ordered[0][0]))
    return replace(edited, message_id=first, text=_joined(ordered), parts=ordered, attachments=())


def _joined(parts: Iterable[tuple[int, str]]) -> str:
    return "\n\n".join(caption.strip() for _, caption in parts if caption.strip())


# ---- Telegram Desktop's export ---------------------------------------------------------------


@dataclass(frozen=True)
class ExportChannel:
    """What an export says of its channel: its name, its type and its internal id."""

    name: str
    type: str
    id: int | None


@dataclass
class ExportReading:
    """The progress of reading an export: the channel (once its header is read), messages seen, and why not."""

    channel: ExportChannel | None = None
    messages: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def skip(self, reason: str) -> None:
        """Count one message left out, by why."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class ExportError(Exception):
    """An export that cannot be read at all (its header is missing or not a channel's)."""


def export_text(value: object) -> str:
    """A message's text from the export: a string, or a list of strings and entity objects ({"text": …})."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(piece if isinstance(piece, str) else _entity_text(piece) for piece in value)
    return ""


def _entity_text(piece: object) -> str:
    if not isinstance(piece, dict):
        return ""
    text = piece.get("text")
    text = text if isinstance(text, str) else ""
    href = piece.get("href")
    # A link with its own words ("the decree") would lose where it points: the address follows in brackets.
    if piece.get("type") == "text_link" and isinstance(href, str) and href not in text:
        return f"{text} ({href})"
    return text


def _export_time(message: dict[str, Any], name: str) -> dt.datetime | None:
    """A message's date or edit date: the Unix time field when present (the plain one is in local time)."""
    unix = message.get(f"{name}_unixtime")
    try:
        if unix is not None:
            return dt.datetime.fromtimestamp(int(unix), dt.UTC)
        plain = message.get(name)
        if isinstance(plain, str):
            parsed = dt.datetime.fromisoformat(plain)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, TypeError, OverflowError):
        return None
    return None


def read_export(
    stream: BinaryIO,
    reading: ExportReading,
    username: str | None,
    folder: Path | None = None,
    max_file_bytes: int = 100 * 2**20,
) -> Iterator[Post]:
    """The posts of a Telegram Desktop JSON export (`result.json`), read streaming in bounded memory.

    `reading` is filled as it goes: the channel, the count of messages, those left out and why, and the
    error that stopped it (not JSON, truncated), if one did; the posts yielded before it stand. Attached files
    are read from `folder` (the export's), when the export included them.
    """
    import ijson  # the C backend (yajl2_c) when installed; a pure-Python one otherwise

    header: dict[str, Any] = {}
    events = _header_events(ijson.parse(stream, use_float=True), header)
    try:
        for message in ijson.items(events, "messages.item"):
            if reading.channel is None:
                reading.channel = _channel(header)
            reading.messages += 1
            post = _export_post(message, reading, username, folder, max_file_bytes)
            if post is not None:
                yield post
    except ijson.JSONError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reading.error = f"not a complete JSON export: stopped after {reading.messages} messages ({detail})"
        return
    if reading.channel is None:
        reading.channel = _channel(header)


def _header_events(events: Iterator[tuple[str, str, Any]], header: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """The parser's events, passed on; the top level's `name`, `type` and `id` noted on the way."""
    for prefix, event, value in events:
        if prefix in ("name", "type", "id") and event in ("string", "number"):
            header[prefix] = value
        yield prefix, event, value


def _channel(header: dict[str, Any]) -> ExportChannel:
    kind = str(header.get("type", ""))
    if kind and "channel" not in kind and kind not in ("public_supergroup", "private_supergroup"):
        raise ExportError(f"this export is of a {kind.replace('_', ' ')}, not a channel")
    number = header.get("id")
    return ExportChannel(str(header.get("name") or "Telegram channel"), kind, int(number) if number else None)


def _export_post(
    message: object, reading: ExportReading, username: str | None, folder: Path | None, max_file_bytes: int
) -> Post | None:
    """One exported message as a Post, or None (counted in `reading.skipped`) when it makes no document."""
    if not isinstance(message, dict) or not isinstance(message.get("id"), int):
        reading.skip("not a message")
        return None
    if message.get("type") != "message":
        reading.skip("service message")
        return None
    channel = reading.channel
    assert channel is not None
    text = export_text(message.get("text"))
    attachment, why = _export_file(message, folder, max_file_bytes)
    if why:
        reading.skip(why)
    if not has_words(text) and attachment is None:
        kind = message.get("media_type") or ("poll" if "poll" in message else None)
        reading.skip(f"{kind.replace('_', ' ')} without text" if kind else "no text")
        return None
    date = _export_time(message, "date")
    if date is None:
        reading.skip("no date")
        return None
    return Post(
        channel_id=channel_id_of(channel.id) if channel.id else 0,
        username=username,
        channel_title=channel.name,
        message_id=message["id"],
        date=date,
        text=text,
        edit_date=_export_time(message, "edited"),
        attachments=(attachment,) if attachment else (),
    )


def _export_file(message: dict[str, Any], folder: Path | None, max_bytes: int) -> tuple[Attachment | None, str | None]:
    """An exported message's attached document, or None and why it is left out (None: there is none)."""
    relative = message.get("file")
    if not isinstance(relative, str) or message.get("media_type") is not None:
        return None, None  # no file, or a sticker, voice note, video: nothing to read
    name = str(message.get("file_name") or Path(relative).name)
    if not is_readable_attachment(name):
        return None, None
    if folder is None or relative.startswith("("):  # "(File not included. Change data exporting settings…)"
        return None, "attached file not in the export"
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        return None, "attached file not in the export"
    if path.stat().st_size > max_bytes:
        return None, "attached file too large"
    return Attachment(name, path.read_bytes()), None


@dataclass
class Imported:
    """What an import did: posts written, posts the corpus already held (or held newer), and the reading."""

    reading: ExportReading
    written: int = 0
    unchanged: int = 0


def import_export(
    export: Path, corpus_dir: Path, detect: Detect, username: str | None = None, max_file_bytes: int = 100 * 2**20
) -> Imported:
    """Write every post of a Telegram Desktop export (`result.json`, or the folder holding it) into the corpus.

    Importing again writes nothing new, and a post edited since (live) keeps its newer text. A truncated or
    broken export keeps the posts read before the break; `Imported.reading.error` says where it stopped.
    """
    export = Path(export)
    file = export / "result.json" if export.is_dir() else export
    done = Imported(ExportReading())
    with open(file, "rb") as stream:
        for post in read_export(
            stream, done.reading, username.lstrip("@") if username else None, file.parent, max_file_bytes
        ):
            result = write_post(corpus_dir, post, detect)
            if result.paths:
                done.written += 1
            else:
                done.unchanged += 1
    return done
