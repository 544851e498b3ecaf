"""Answers as Telegram HTML, plain text and JSON."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable

from bot.answer import Answer, Quote
from bot.corpus import Document

TELEGRAM_LIMIT = 4096
NOT_FOUND = "I couldn't find this in the documents."
NOT_FOUND_HINT = "Try other words for the same question, name the subject more precisely, or ask something the documents cover."
WORD = re.compile(r"\w+")
TITLE_CHARS = 200
URL_CHARS = 1000


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def source_line(number: int, document: Document) -> str:
    """A plain citation line: `[1] Title — source, date — url`."""
    details = ", ".join(part for part in (document.source, document.date) if part)
    line = f"[{number}] {_short(document.title, TITLE_CHARS)}" + (f" — {details}" if details else "")
    return line + (f" — {_short(document.url, URL_CHARS)}" if document.url else "")


def source_html(number: int, document: Document) -> str:
    """An HTML citation line, the title linked to the document's url when it has one."""
    title = html.escape(_short(document.title, TITLE_CHARS))
    url = document.url or ""
    if url.startswith(("http://", "https://")) and len(url) <= URL_CHARS:
        title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
    details = ", ".join(html.escape(part) for part in (document.source, document.date) if part)
    return f"[{number}] {title}" + (f" — {details}" if details else "")


def highlight(text: str, words: Iterable[str]) -> str:
    """Escape text for Telegram HTML, with the question's words in bold."""
    wanted = {w.casefold() for w in words}
    out, last = [], 0
    for match in WORD.finditer(text):
        if match.group().casefold() in wanted:
            out.append(html.escape(text[last : match.start()]))
            out.append(f"<b>{html.escape(match.group())}</b>")
            last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _cut(text: str, room: int) -> list[str]:
    # Only a sentence longer than a whole message is cut, between words, the one place left to cut.
    pieces = []
    while len(text) > room:
        at = text.rfind(" ", 0, room)
        at = at if at > room // 2 else room
        pieces.append(text[:at])
        text = text[at:].lstrip()
    return pieces + [text]


def _pack(blocks: Iterable[str], limit: int, joiner: str = "\n\n") -> list[str]:
    """Join blocks into as few messages as fit the limit, never splitting a block."""
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + len(joiner) + len(block) <= limit:
            messages[-1] += joiner + block
        else:
            messages.append(block)
    return messages


def _quote(quote: Quote, room: int, escape: Callable[[str], str], aside: Callable[[str], str]) -> list[str]:
    marker = f" [{quote.citation}]"
    whole = f"{quote.context} {quote.text}" if quote.context else quote.text
    if len(whole) <= room - len(marker):
        blocks = [aside(escape(quote.context)) + " " + escape(quote.text) if quote.context else escape(quote.text)]
    else:
        blocks = [escape(piece) for piece in _cut(whole, room - len(marker))]
    blocks[-1] += marker
    return blocks


def messages(answer: Answer, limit: int = TELEGRAM_LIMIT, as_html: bool = True) -> list[str]:
    """The answer as messages of at most `limit` characters, split between sentences."""
    if not answer.answered:
        if as_html:
            return [f"{html.escape(NOT_FOUND)}\n<i>{html.escape(NOT_FOUND_HINT)}</i>"]
        return [f"{NOT_FOUND}\n{NOT_FOUND_HINT}"]
    if as_html:
        # Escaping and bold tags can make text up to five times longer, so raw text gets a fifth of the room.
        room = (limit - 16) // 5
        blocks = [b for q in answer.quotes for b in _quote(q, room, lambda t: highlight(t, answer.words), "<i>{}</i>".format)]
        lines = [source_html(n, d) for n, d in enumerate(answer.sources, 1)]
        heading = "<b>Sources</b>"
    else:
        blocks = [b for q in answer.quotes for b in _quote(q, limit, str, "({})".format)]
        lines = [source_line(n, d) for n, d in enumerate(answer.sources, 1)]
        heading = "Sources:"
    sources = _pack([f"{heading}\n{lines[0]}", *lines[1:]], limit, "\n")
    return _pack(blocks + sources, limit)


def html_messages(answer: Answer, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The answer as Telegram HTML messages, each at most `limit` characters."""
    return messages(answer, limit, as_html=True)


def plain_messages(answer: Answer, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The answer as plain-text messages, each at most `limit` characters."""
    return messages(answer, limit, as_html=False)


def plain(answer: Answer) -> str:
    """The answer as one plain-text block, for the terminal."""
    return "\n\n".join(messages(answer, 10**9, as_html=False))


def as_json(answer: Answer) -> dict[str, object]:
    """The answer as a JSON-ready dict: what `citebot ask --json` prints."""

    def cite(document: Document) -> dict[str, str | None]:
        return {"document": document.path, "title": document.title, "source": document.source,
                "date": document.date, "url": document.url}

    return {
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
