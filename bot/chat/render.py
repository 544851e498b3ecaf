"""Answers as Telegram HTML, plain text and JSON, and text cut into Telegram-sized messages."""

from __future__ import annotations

import dataclasses
import functools
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.chat.messages import text as fixed_text
from bot.ingest.corpus import Document
from bot.ranking.answer import Answer, Quote

# Telegram's longest message, counted the way Telegram counts: in UTF-16 code units (an emoji is two).
TELEGRAM_LIMIT = 4096
NOT_FOUND = fixed_text("not_found")
NOT_FOUND_HINT = fixed_text("not_found_hint")
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


@dataclass(frozen=True)
class Chunk:
    """One message of an answer, as Telegram HTML and as plain text holding the same quotes."""

    html: str
    plain: str


def length(text: str) -> int:
    """The length of text as Telegram measures it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split(text: str, limit: int = TELEGRAM_LIMIT, measure: Callable[[str], int] = length) -> list[str]:
    """Cut text into pieces measuring at most `limit`: at a line break, else between words, else anywhere."""
    pieces = []
    text = text.strip()
    while text:
        size = _longest_fit(text, limit, measure)
        if size < len(text):
            size = _break_before(text, size)
        pieces.append(text[:size].rstrip())
        text = text[size:].lstrip()
    return pieces


def _longest_fit(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """How many leading characters of text measure at most `limit` (at least one)."""
    if measure(text) <= limit:
        return len(text)
    # A character measures at least 1, so no more than `limit` of them can fit.
    low, high = 1, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _break_before(text: str, size: int) -> int:
    # Cutting at a separator only drops characters (and whole words), so the shorter piece still fits.
    for separator in ("\n", " "):
        cut = text.rfind(separator, 0, size + 1)
        if cut > size // 2:
            return cut
    return size


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def pages_label(pages: Iterable[int]) -> str | None:
    """The pages a citation points at: `p. 14`, `pp. 3, 14`, or None for a document without pages."""
    numbers = sorted(set(pages))
    if not numbers:
        return None
    return f"p. {numbers[0]}" if len(numbers) == 1 else "pp. " + ", ".join(map(str, numbers))


def _details(document: Document, pages: Iterable[int] = ()) -> list[str]:
    label = pages_label(pages)
    return [_short(part, DETAIL_CHARS) for part in (document.source, document.date, label) if part]


def source_line(number: int, document: Document, title_chars: int = TITLE_CHARS, pages: Iterable[int] = ()) -> str:
    """A plain citation line: `[1] Title — source, date, p. 14 — url`."""
    details = ", ".join(_details(document, pages))
    line = f"[{number}] {_short(document.title, title_chars)}" + (f" — {details}" if details else "")
    return line + (f" — {_short(document.url, URL_CHARS)}" if document.url else "")


def source_html(number: int, document: Document, title_chars: int = TITLE_CHARS, pages: Iterable[int] = ()) -> str:
    """An HTML citation line, the title linked to the document's url when it has one."""
    title = html.escape(_short(document.title, title_chars), quote=False)
    url = document.url or ""
    if url.startswith(("http://", "https://")) and len(url) <= URL_CHARS:
        title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
    details = ", ".join(html.escape(part, quote=False) for part in _details(document, pages))
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


def _fits(chunk: Chunk, limit: int) -> bool:
    return length(chunk.html) <= limit and length(chunk.plain) <= limit


def _source(number: int, document: Document, limit: int, pages: tuple[int, ...] = ()) -> Chunk:
    # Long metadata is shortened until the line fits; at worst only the number and a short title remain.
    for chars in (TITLE_CHARS, 60, 20):
        line = Chunk(source_html(number, document, chars, pages), source_line(number, document, chars, pages))
        if _fits(line, limit):
            return line
    title = _short(document.title, 20)
    return Chunk(f"[{number}] " + html.escape(title, quote=False), f"[{number}] {title}")


def _pack(blocks: Iterable[Chunk], limit: int, joiner: str = "\n\n") -> list[Chunk]:
    """Join blocks into as few messages as fit the limit in both forms, never splitting a block."""
    messages: list[Chunk] = []
    for block in blocks:
        if messages:
            joined = Chunk(messages[-1].html + joiner + block.html, messages[-1].plain + joiner + block.plain)
            if _fits(joined, limit):
                messages[-1] = joined
                continue
        messages.append(block)
    return messages


def _quote(quote: Quote, limit: int, bold: Callable[[str], str]) -> list[Chunk]:
    marker = f" [{quote.citation}]"
    room = limit - length(marker)
    passage = " ".join(quote.sentences)
    if quote.context:
        block = Chunk(
            f"<i>{html.escape(quote.context, quote=False)}</i> {bold(passage)}", f"({quote.context}) {passage}"
        )
        if _fits(block, room):
            return [Chunk(block.html + marker, block.plain + marker)]
    text = f"{quote.context} {passage}" if quote.context else passage
    # Bold and escapes only add to a piece, so a piece whose HTML fits fits as plain text too.
    pieces = [Chunk(bold(piece), piece) for piece in split(text, room, lambda piece: length(bold(piece)))]
    return [*pieces[:-1], Chunk(pieces[-1].html + marker, pieces[-1].plain + marker)]


def chunks(answer: Answer, limit: int = TELEGRAM_LIMIT, lang: str | None = None) -> list[Chunk]:
    """The answer as messages of at most `limit` UTF-16 units, split between sentences, each in both forms.

    `lang` is the language of the bot's own words (the "Sources" heading, "not found"); quotes keep theirs.
    """
    if limit < MIN_LIMIT:
        raise ValueError(f"a message limit under {MIN_LIMIT} characters cannot hold a citation")
    if not answer.answered and answer.closest is None:
        found, hint = fixed_text("not_found", lang), fixed_text("not_found_hint", lang)
        return [
            Chunk(f"{html.escape(found, quote=False)}\n<i>{html.escape(hint, quote=False)}</i>", f"{found}\n{hint}")
        ]
    bold = functools.partial(highlight, words=answer.words)
    closest = answer.closest
    if closest is not None and not answer.answered:
        # Not an answer: labelled as the closest passage, with its one citation, so the reader judges it.
        label = fixed_text("closest", lang)
        intro = Chunk(f"<i>{html.escape(label, quote=False)}</i>", label)
        quotes: tuple[Quote, ...] = (closest,)
        answer = dataclasses.replace(answer, quotes=quotes, sources=(closest.document,))
        blocks = [intro, *(block for block in _quote(closest, limit, bold))]
    else:
        blocks = [block for quote in answer.quotes for block in _quote(quote, limit, bold)]
    label = fixed_text("sources", lang)
    heading = Chunk(f"<b>{html.escape(label, quote=False)}</b>", f"{label}:")
    room = limit - max(length(heading.html), length(heading.plain)) - 1
    cited = [cited_version(document, lang) for document in answer.sources]
    lines = [_source(n, d, room, _cited_pages(answer, n)) for n, d in enumerate(cited, 1)]
    first = Chunk(f"{heading.html}\n{lines[0].html}", f"{heading.plain}\n{lines[0].plain}")
    sources = _pack([first, *lines[1:]], limit, "\n")
    return _pack(blocks + sources, limit)


def cited_version(document: Document, lang: str | None) -> Document:
    """The document as cited to someone asking in `lang`: linked to its version in that language, if it has one."""
    versions = dict(document.alternates)
    if lang is None or document.language == lang or lang not in versions:
        return document
    return dataclasses.replace(document, url=versions[lang])


def _other_versions(document: Document) -> str | None:
    """The 📄 view's line of the document's versions in other languages, each linked: `en · kk`."""
    links = [
        f'<a href="{html.escape(url, quote=True)}">{html.escape(language, quote=False)}</a>'
        for language, url in document.alternates
        if language != document.language and url != document.url and len(url) <= URL_CHARS
    ]
    return " · ".join(links) or None


def _cited_pages(answer: Answer, citation: int) -> tuple[int, ...]:
    """The pages of a source that the answer quotes."""
    return tuple(q.page for q in answer.quotes if q.citation == citation and q.page is not None)


def html_messages(answer: Answer, limit: int = TELEGRAM_LIMIT, lang: str | None = None) -> list[str]:
    """The answer as Telegram HTML messages, each at most `limit` UTF-16 units."""
    return [chunk.html for chunk in chunks(answer, limit, lang)]


def plain_messages(answer: Answer, limit: int = TELEGRAM_LIMIT, lang: str | None = None) -> list[str]:
    """The answer as plain-text messages, each at most `limit` UTF-16 units."""
    return [chunk.plain for chunk in chunks(answer, limit, lang)]


def plain(answer: Answer, lang: str | None = None) -> str:
    """The answer as one plain-text block, for the terminal: no escape sequence from a document reaches it."""
    return for_terminal("\n\n".join(plain_messages(answer, 10**9, lang)))


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


def shorten(text: str, chars: int) -> str:
    """Text cut to at most `chars` characters, an ellipsis marking the cut."""
    return _short(text, chars)


def one_message(answer: Answer, limit: int = TELEGRAM_LIMIT, lang: str | None = None) -> str:
    """The answer as one HTML message (an inline result holds one): the last quotes dropped until it fits."""
    first = ""
    for count in range(len(answer.quotes), 0, -1):
        quotes = answer.quotes[:count]
        sources = tuple(dict.fromkeys(quote.document for quote in quotes))
        kept = tuple(dataclasses.replace(q, citation=sources.index(q.document) + 1) for q in quotes)
        messages = html_messages(dataclasses.replace(answer, quotes=kept, sources=sources), limit, lang)
        first = first or messages[0]
        if len(messages) == 1:
            return messages[0]
    return first or html_messages(answer, limit, lang)[0]


# The 📄 Source view shows this many sentences on each side of the quoted one, fewer if they do not fit.
CONTEXT_SENTENCES = 2


def source_view(
    document: Document, sentences: Sequence[str], position: int, limit: int = TELEGRAM_LIMIT, page: int | None = None
) -> str:
    """The quoted sentence (bold) among its neighbours, under the document's title, source, date, page and link."""
    title = html.escape(_short(document.title, TITLE_CHARS), quote=False)
    url = document.url or ""
    lines = [f"<b>{title}</b>"]
    details = " · ".join(html.escape(part, quote=False) for part in _details(document, () if page is None else (page,)))
    if details:
        lines.append(details)
    if url.startswith(("http://", "https://")) and len(url) <= URL_CHARS:
        lines.append(f'<a href="{html.escape(url, quote=True)}">{html.escape(_short(url, 80), quote=False)}</a>')
    elif url:
        lines.append(html.escape(_short(url, URL_CHARS), quote=False))
    others = _other_versions(document)
    if others:
        lines.append(f"🌐 {others}")
    head = "\n".join(lines) + "\n\n"
    room = limit - length(head)
    quoted = sentences[position]
    for around in range(CONTEXT_SENTENCES, -1, -1):
        start, stop = max(0, position - around), min(len(sentences), position + around + 1)
        passage = (
            ("… " if start > 0 else "")
            + " ".join(html.escape(s, quote=False) for s in sentences[start:position])
            + (" " if start < position else "")
            + f"<b>{html.escape(quoted, quote=False)}</b>"
            + (" " if position + 1 < stop else "")
            + " ".join(html.escape(s, quote=False) for s in sentences[position + 1 : stop])
            + (" …" if stop < len(sentences) else "")
        )
        if length(passage) <= room:
            return head + passage
    # A single sentence longer than a message: its start, cut so the escaped text fits.
    size = len(quoted)
    text = f"<b>{html.escape(quoted, quote=False)}</b>"
    while size > 1 and length(text) > room:
        size = size * 9 // 10
        text = f"<b>{html.escape(_short(quoted, size), quote=False)}</b>"
    return head + text


def as_json(answer: Answer) -> dict[str, object]:
    """The answer as a JSON-ready dict, every string valid UTF-8: what `citebot ask --json` prints."""

    def cite(document: Document) -> dict[str, str | None]:
        return {
            "document": document.path,
            "title": document.title,
            "source": document.source,
            "date": document.date,
            "url": document.url,
        }

    def passage(quote: Quote) -> dict[str, object]:
        return {"text": quote.text, "follow": list(quote.follow), "context": quote.context, "page": quote.page}

    closest = answer.closest
    data = {
        "question": answer.question,
        "answered": answer.answered,
        "probability": round(answer.probability, 4),
        "answer": [{**passage(q), "citation": q.citation, **cite(q.document)} for q in answer.quotes],
        # Declined, the sentence shown as the closest passage (None when none is shown).
        "closest": None if closest is None else {**passage(closest), **cite(closest.document)},
        "sources": [{"citation": n, **cite(d)} for n, d in enumerate(answer.sources, 1)],
        "results": [
            {
                "text": hit.sentence.text,
                "score": round(hit.score, 6),
                "position": hit.sentence.position,
                "page": hit.sentence.page,
                **cite(hit.sentence.document),
            }
            for hit in answer.results
        ],
        "took_ms": round(answer.took_ms, 3),
    }
    return {key: _utf8(value) for key, value in data.items()}
