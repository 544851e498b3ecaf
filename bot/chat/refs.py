"""Stable references to sentences and answers, and the signed callback_data of the answer buttons.

A button must still work after a restart or a /reload, so it never carries an index into process
memory: a Source button names the document by a hash of its path and the sentence by its position
and a hash of its text; More and the votes name an answer recorded in the feedback database.
Every payload is signed, so data a client forged or garbled is told apart from a stale button.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.index.library import Library, Sentence

# Telegram's limit on callback_data, in bytes.
CALLBACK_LIMIT = 64
TAG_CHARS = 8
# Sentences whose digests are kept indexed, per library, for finding moved sentences (8 bytes each).
INDEXED_SENTENCES = 4_000_000
PAYLOAD = re.compile(
    r"(?:s:(?P<doc>[0-9a-f]{10}):(?P<pos>[0-9]{1,7}):(?P<text>[0-9a-f]{8})|(?P<kind>[mud]):(?P<id>[0-9]{1,15}))"
)


@dataclass(frozen=True)
class SentenceRef:
    """A sentence named independently of any loaded library: document path, position and text hash."""

    path: str
    position: int
    digest: str


@dataclass(frozen=True)
class Source:
    """The 📄 button: open a quoted sentence in its document."""

    document: str  # document_key of the path
    position: int
    digest: str


@dataclass(frozen=True)
class More:
    """The ➕ button: further passages for a recorded answer."""

    answer_id: int


@dataclass(frozen=True)
class Vote:
    """The 👍/👎 buttons: a verdict on a recorded answer."""

    answer_id: int
    up: bool


Press = Source | More | Vote


def document_key(path: str) -> str:
    """A short, stable key for a document path (10 hex digits), from the bytes of its name (os.fsencode).

    A file name that is not UTF-8 (cp1251 from an old Windows zip) holds lone surrogates as str; its bytes
    are what names the file, so they are what is hashed.
    """
    return hashlib.blake2b(os.fsencode(path), digest_size=5).hexdigest()


def text_digest(text: str) -> str:
    """A short hash of a sentence's text (8 hex digits), to notice when a position now holds another sentence."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=4).hexdigest()


def signing_key(secret: str) -> bytes:
    """The key callback data is signed with, derived from a secret the bot keeps (its token)."""
    return hashlib.sha256(b"citebot callback data\x00" + secret.encode("utf-8")).digest()


def _tag(key: bytes, payload: str) -> str:
    mac = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")[:TAG_CHARS]


def _payload(press: Press) -> str:
    if isinstance(press, Source):
        return f"s:{press.document}:{press.position}:{press.digest}"
    if isinstance(press, More):
        return f"m:{press.answer_id}"
    return f"{'u' if press.up else 'd'}:{press.answer_id}"


def pack(press: Press, key: bytes) -> str:
    """The callback_data of a button: its payload and a signature, within Telegram's 64 bytes."""
    payload = _payload(press)
    data = f"{payload}.{_tag(key, payload)}"
    if len(data.encode("ascii")) > CALLBACK_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_LIMIT} bytes: {data!r}")
    return data


def unpack(data: str | None, key: bytes) -> Press | None:
    """The press a callback_data stands for, or None when it is garbled or was not signed by us."""
    if not data or len(data) > CALLBACK_LIMIT:
        return None
    payload, _, tag = data.rpartition(".")
    match = PAYLOAD.fullmatch(payload)
    if match is None or not hmac.compare_digest(tag.encode("ascii", "replace"), _tag(key, payload).encode("ascii")):
        return None
    if match["doc"]:
        return Source(match["doc"], int(match["pos"]), match["text"])
    answer_id = int(match["id"])
    return More(answer_id) if match["kind"] == "m" else Vote(answer_id, match["kind"] == "u")


def source_button(sentence: Sentence) -> Source:
    """The Source press for a sentence of a library."""
    return Source(document_key(sentence.document.path), sentence.position, text_digest(sentence.text))


# ---- finding references in a library ---------------------------------------------------------

_numbers: weakref.WeakKeyDictionary[Library, dict[str, int]] = weakref.WeakKeyDictionary()


def _document_numbers(library: Library) -> dict[str, int]:
    """Document number by path and by document_key, built once per library (forgotten with it)."""
    numbers = _numbers.get(library)
    if numbers is None:
        numbers = {}
        for number, document in enumerate(library.documents):
            numbers[document.path] = number
            numbers[document_key(document.path)] = number
        _numbers[library] = numbers
    return numbers


@dataclass(frozen=True)
class Found:
    """Where a reference points in the current library: the document's number and the sentence's id."""

    number: int
    sentence_id: int


class DocumentGone(LookupError):
    """The referenced document is no longer in the library."""


class SentenceGone(LookupError):
    """The document is there, but no longer holds the referenced sentence."""


def locate(library: Library, document: str, position: int, digest: str) -> Found:
    """Find a sentence by document (path or key), position and text hash; it may have moved within its document."""
    number = _document_numbers(library).get(document)
    if number is None:
        raise DocumentGone(document)
    ids = library.sentence_ids(number)
    texts = library.entries[number].sentences
    if position < len(texts) and text_digest(texts[position]) == digest:
        return Found(number, ids[position])
    # An edit above the sentence moves it; the same text elsewhere in the document is the same quote.
    moved = _digests(library).position(number, texts, digest)
    if moved is None:
        raise SentenceGone(document)
    return Found(number, ids[moved])


class _Digests:
    """Each document's sentence digests, sorted for lookup: built when first needed, the least recently used
    dropped past INDEXED_SENTENCES, so a moved sentence costs the document's hashing once, not per press."""

    def __init__(self) -> None:
        self._documents: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._sentences = 0
        self._lock = threading.Lock()

    def position(self, number: int, texts: Sequence[str], digest: str) -> int | None:
        """The first position in document `number` whose sentence has this digest, or None."""
        with self._lock:
            indexed = self._documents.get(number)
            if indexed is not None:
                self._documents.move_to_end(number)
        if indexed is None:
            indexed = self._index(number, texts)
        keys, order = indexed
        wanted = int(digest, 16)
        at = int(np.searchsorted(keys, wanted))
        return int(order[at]) if at < len(keys) and keys[at] == wanted else None

    def _index(self, number: int, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        digests = np.fromiter((int(text_digest(text), 16) for text in texts), dtype=np.uint32, count=len(texts))
        # Stable, so among equal texts the first position comes first, as a scan from the top would find.
        order = np.argsort(digests, kind="stable").astype(np.int64)
        indexed = (digests[order], order)
        with self._lock:
            if number not in self._documents:
                self._documents[number] = indexed
                self._sentences += len(texts)
            while self._sentences > INDEXED_SENTENCES and len(self._documents) > 1:
                _, (dropped, _) = self._documents.popitem(last=False)
                self._sentences -= len(dropped)
        return indexed


_indexes: weakref.WeakKeyDictionary[Library, _Digests] = weakref.WeakKeyDictionary()
_indexes_lock = threading.Lock()


def _digests(library: Library) -> _Digests:
    """The digest indexes of a library (a reload makes a new library, and with it new indexes)."""
    with _indexes_lock:
        digests = _indexes.get(library)
        if digests is None:
            digests = _indexes[library] = _Digests()
        return digests


def sentence_ids(library: Library, refs: list[SentenceRef]) -> set[int]:
    """The ids, in this library, of the referenced sentences that are still in it."""
    ids = set()
    for ref in refs:
        try:
            ids.add(locate(library, ref.path, ref.position, ref.digest).sentence_id)
        except LookupError:
            continue
    return ids
