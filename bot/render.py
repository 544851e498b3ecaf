"""Answers as Telegram HTML, plain text and JSON."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Iterable

from bot.answer import Answer, Quote
from bot.corpus import Document

TELEGRAM_LIMIT = 4096
NOT_FOUND = "I couldn't find this in the documents."
NOT_FOUND_HINT = "Try other words for the same question, name the subject more precisely, or ask something the documents cover."
WORD = re.compile(r"\w+")
# Metadata is cut to these lengths, so one source line always fits a message, escaped.
TITLE_CHARS = 200
DETAIL_CHARS = 100
URL_CHARS = 300
MIN_LIMIT = 100
# Terminal escape sequences go whole, so no stray "[2J" is left behind: CSI (ESC [ or C1 0x9B), OSC up to its
# terminator, two-character ESC sequences. Their character classes cannot overlap, so the pattern cannot backtrack.
ESCAPE_SEQUENCE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)|\x1b[@-_]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# A file name that is not UTF-8 comes from the file system with its bad bytes as lone surrogates (U+DC80-U+DCFF).
SURROGATE = re.compile(r"[\ud800-\udfff]")
NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _details(document: Document) -> list[str]:
    return [_short(part, DETAIL_CHARS) for part in (document.source, document.date) if part]


def source_line(number: int, document: Document, title_chars: int = TITLE_CHARS) -> str:
    """A plain citation line: `[1] Title — source, date — url`."""
    details = ", ".join(_details(document))
    line = f"[{number}] {_short(document.title, title_chars)}" + (f" — {details}" if details else "")
    return line + (f" — {_short(document.url, URL_CHARS)}" if document.url else "")


def source_html(number: int, document: Document, title_chars: int = TITLE_CHARS) -> str:
    """An HTML citation line, the title linked to the document's url when it has one."""
    title = html.escape(_short(document.title, title_chars), quote=False)
    url = document.url or ""
    if url.startswith(("http://", "https://")) and len(url) <= URL_CHARS:
        title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
    details = ", ".join(html.escape(part, quote=False) for part in _details(document))
    return f"[{number}] {title}" + (f" — {details}" if details else "")


def highlight(text: str, words: Iterable[str]) -> str:
    """Escape text for Telegram HTML, with the given words in bold (a run of them in one tag)."""
    wanted = {w.casefold() for w in words}
    spans: list[tuple[int, int]] = []
    for match in WORD.finditer(text):
        if match.group().casefold() in wanted:
            if spans and not text[spans[-1][1] : match.start()].strip():
                spans[-1] = (spans[-1][0], match.end())
            else:
                spans.append(match.span())
    out, last = [], 0
    for start, end in spans:
        out += [html.escape(text[last:start], quote=False), f"<b>{html.escape(text[start:end], quote=False)}</b>"]
        last = end
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def _fit(text: str, room: int, escape: Callable[[str], str]) -> list[str]:
    """Cut text between words into pieces whose escaped form fits the room."""
    pieces = []
    while text:
        size = len(text)
        while True:
            piece = text[:size]
            if size < len(text):
                # Only a sentence longer than a message is cut: between words, unless a word is that long.
                space = piece.rfind(" ")
                piece = piece[:space] if space > size // 2 else piece
            out = escape(piece)
            if len(out) <= room or size == 1:
                break
            size = max(1, min(len(piece) - 1, len(piece) * room // len(out)))
        pieces.append(out)
        text = text[len(piece) :].lstrip()
    return pieces


def _source(number: int, document: Document, limit: int, as_html: bool) -> str:
    # Long metadata is shortened until the line fits; at worst only the number and a short title remain.
    line = source_html if as_html else source_line
    for chars in (TITLE_CHARS, 60, 20):
        text = line(number, document, chars)
        if len(text) <= limit:
            return text
    title = _short(document.title, 20)
    return f"[{number}] " + (html.escape(title, quote=False) if as_html else title)


def _pack(blocks: Iterable[str], limit: int, joiner: str = "\n\n") -> list[str]:
    """Join blocks into as few messages as fit the limit, never splitting a block."""
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + len(joiner) + len(block) <= limit:
            messages[-1] += joiner + block
        else:
            messages.append(block)
    return messages


def _quote(quote: Quote, limit: int, escape: Callable[[str], str], aside: Callable[[str], str]) -> list[str]:
    marker = f" [{quote.citation}]"
    room = limit - len(marker)
    if quote.context:
        block = aside(escape(quote.context)) + " " + escape(quote.text)
        if len(block) <= room:
            return [block + marker]
    pieces = _fit(f"{quote.context} {quote.text}" if quote.context else quote.text, room, escape)
    pieces[-1] += marker
    return pieces


def messages(answer: Answer, limit: int = TELEGRAM_LIMIT, as_html: bool = True) -> list[str]:
    """The answer as messages of at most `limit` characters, split between sentences."""
    if limit < MIN_LIMIT:
        raise ValueError(f"a message limit under {MIN_LIMIT} characters cannot hold a citation")
    if not answer.answered:
        if as_html:
            return [f"{html.escape(NOT_FOUND, quote=False)}\n<i>{html.escape(NOT_FOUND_HINT, quote=False)}</i>"]
        return [f"{NOT_FOUND}\n{NOT_FOUND_HINT}"]
    if as_html:
        bold = functools.partial(highlight, words=answer.words)
        blocks = [b for q in answer.quotes for b in _quote(q, limit, bold, "<i>{}</i>".format)]
        heading = "<b>Sources</b>"
    else:
        blocks = [b for q in answer.quotes for b in _quote(q, limit, str, "({})".format)]
        heading = "Sources:"
    lines = [_source(n, d, limit - len(heading) - 1, as_html) for n, d in enumerate(answer.sources, 1)]
    sources = _pack([f"{heading}\n{lines[0]}", *lines[1:]], limit, "\n")
    return _pack(blocks + sources, limit)


def html_messages(answer: Answer, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The answer as Telegram HTML messages, each at most `limit` characters."""
    return messages(answer, limit, as_html=True)


def plain_messages(answer: Answer, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The answer as plain-text messages, each at most `limit` characters."""
    return messages(answer, limit, as_html=False)


def plain(answer: Answer) -> str:
    """The answer as one plain-text block, for the terminal: no escape sequence from a document reaches it."""
    return for_terminal("\n\n".join(messages(answer, 10**9, as_html=False)))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the byte the file system could not decode
    return NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def for_terminal(text: str) -> str:
    """Text safe to print: escape sequences and control characters (but tab and newline) dropped, bad bytes as \\xNN."""
    return SURROGATE.sub(_escape, CONTROL.sub("", ESCAPE_SEQUENCE.sub("", text)))


def escaped(text: str) -> str:
    """Text safe to print as one line, e.g. a file name: control characters and bad bytes as backslash escapes."""
    return UNPRINTABLE.sub(_escape, text)


def _utf8(value: object) -> object:
    """Strings anywhere in a JSON-ready value made encodable as UTF-8, bad bytes as \\xNN."""
    if isinstance(value, str):
        return SURROGATE.sub(_escape, value)
    if isinstance(value, dict):
        return {key: _utf8(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_utf8(item) for item in value]
    return value


def as_json(answer: Answer) -> dict[str, object]:
    """The answer as a JSON-ready dict, every string valid UTF-8: what `citebot ask --json` prints."""

    def cite(document: Document) -> dict[str, str | None]:
        return {"document": document.path, "title": document.title, "source": document.source,
                "date": document.date, "url": document.url}

    data = {
        "question": answer.question,
        "answered": answer.answered,
        "confidence": round(answer.confidence, 4),
        "answer": [{"text": q.text, "citation": q.citation, "context": q.context, **cite(q.document)} for q in answer.quotes],
        "sources": [{"citation": n, **cite(d)} for n, d in enumerate(answer.sources, 1)],
        "results": [
            {"text": hit.sentence.text, "score": round(hit.score, 6), "position": hit.sentence.position,
             **cite(hit.sentence.document)}
            for hit in answer.results
        ],
        "took_ms": round(answer.took_ms, 3),
    }
    return {key: _utf8(value) for key, value in data.items()}
