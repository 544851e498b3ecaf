"""Rendering answers: escaped Telegram HTML within the message limit, plain text, and JSON."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from bot.chat.render import (
    NOT_FOUND,
    TELEGRAM_LIMIT,
    as_json,
    chunks,
    highlight,
    html_messages,
    plain,
    plain_messages,
    split,
)
from bot.index.library import Hit, Sentence
from bot.ingest.corpus import Document
from bot.ranking.answer import Answer, Quote, answer
from tests.botapi import utf16_length
from tests.helpers import Build

pytestmark = pytest.mark.usefixtures("isolated")

ALLOWED_TAGS = {"b", "i", "a"}


class _Visible(HTMLParser):
    """Visible text of one Telegram HTML message; raises on a tag Telegram rejects or leaves open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        assert not attrs or (tag == "a" and [name for name, _ in attrs] == ["href"]), attrs
        if tag == "a":
            self.links.append(attrs[0][1] or "")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible(message: str) -> tuple[str, list[str]]:
    # Telegram understands only &lt; &gt; &amp; &quot; and numeric references; a bare & or < is an error.
    assert not re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", message), message
    parser = _Visible()
    parser.feed(message)
    parser.close()
    assert parser.stack == [], f"unclosed tags {parser.stack}"
    return "".join(parser.text), parser.links


def document(**fields: str | None) -> Document:
    return Document(**{"path": "docs/a.md", "title": "A title", "text": "", **fields})  # type: ignore[arg-type]


def make_answer(
    texts: list[str],
    documents: list[Document] | None = None,
    words: tuple[str, ...] = (),
    contexts: list[str | None] | None = None,
) -> Answer:
    documents = documents or [document()]
    contexts = contexts or [None] * len(texts)
    quotes = tuple(
        Quote(text, i % len(documents) + 1, 1.0 - i / 100, documents[i % len(documents)], i, context)
        for i, (text, context) in enumerate(zip(texts, contexts))
    )
    hits = tuple(Hit(Sentence(i, q.document, q.position, q.text), q.score) for i, q in enumerate(quotes))
    return Answer("a question", True, quotes, tuple(documents), hits, 0.9, 1.5, words)


UNANSWERED = Answer("Who won the World Cup?", False, (), (), (), 0.1, 1.0, ("won", "world", "cup"))


# --- escaping and markup -------------------------------------------------------------------------------


def test_everything_from_the_corpus_and_the_user_is_escaped() -> None:
    evil = document(
        title="Q&A <script>alert(1)</script>",
        source="<b>site</b> & co",
        date="2024 <i>",
        url="https://e.org/?a=1&b=<2>",
    )
    result = make_answer(
        ["Profits <fell> by 5% & costs rose > 3%."],
        [evil],
        words=("<fell>", "costs", "&"),
        contexts=['It\'s "quoted" & <odd>.'],
    )
    [message] = html_messages(result)
    text, links = visible(message)
    assert "Profits <fell> by 5% & costs rose > 3%." in text
    assert 'It\'s "quoted" & <odd>.' in text
    assert "Q&A <script>alert(1)</script>" in text
    assert "<b>site</b> & co" in text and "2024 <i>" in text
    assert links == ["https://e.org/?a=1&b=<2>"]
    assert "<script>" not in message and "<fell>" not in message


def test_query_words_are_bold_whole_words_any_case_and_runs_share_a_tag() -> None:
    out = highlight("Lava flows; LAVATORY lava, flow & lava.", ["lava", "flows"])
    assert out == "<b>Lava flows</b>; LAVATORY <b>lava</b>, flow &amp; <b>lava</b>."


def test_real_answer_bolds_the_question_words(build: Build) -> None:
    library = build(
        {
            "etna.txt": "Mount Etna is the most active volcano in Europe.\nIts lava flows reach Catania.\n",
            "other.txt": "Bread is baked in an oven.\n",
        }
    )
    [message] = html_messages(answer(library, "Where do Etna's LAVA flows reach?"))
    assert "<b>lava flows reach</b>" in message
    assert "<b>Where</b>" not in message


def test_bold_words_are_the_quote_s_own_forms_of_the_question_s_terms(build: Build) -> None:
    library = build(
        {
            "law.txt": "Parliament approved the water law in 2021.\nFarmers opposed it.\n",
            "other.txt": "Bread is baked in an oven.\n",
        }
    )
    [message] = html_messages(answer(library, "When did parliament approve the water laws?"))
    assert "<b>Parliament approved</b> the <b>water law</b> in 2021." in message


def test_citation_markers_and_sources_list() -> None:
    first = document(
        path="a.md", title="First doc", source="example.org", date="2025-06-01", url="https://example.org/1"
    )
    second = document(path="b.txt", title="Second doc", source=None, date=None, url=None)
    third = document(path="c.md", title="Third doc", source="gov.kz", date=None, url="http://gov.kz/x")
    [message] = html_messages(make_answer(["One.", "Two.", "Three."], [first, second, third]))
    text, links = visible(message)
    assert "One. [1]" in text and "Two. [2]" in text and "Three. [3]" in text
    sources = text[text.index("Sources") :].splitlines()
    assert sources == ["Sources", "[1] First doc — example.org, 2025-06-01", "[2] Second doc", "[3] Third doc — gov.kz"]
    assert links == ["https://example.org/1", "http://gov.kz/x"]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>",
        "file:///etc/passwd",
        "ftp://e.org/x",
        "//e.org",
        "e.org/page",
    ],
)
def test_only_http_links_are_linked(url: str) -> None:
    [message] = html_messages(make_answer(["A sentence."], [document(title="Doc", url=url)]))
    text, links = visible(message)
    assert links == [] and "href" not in message
    assert "[1] Doc" in text


def test_plain_messages_have_no_markup_and_show_the_url() -> None:
    doc = document(title="Q&A <notes>", source="site & co", date="2025-01-02", url="https://e.org/?a=1&b=2")
    result = make_answer(["Costs rose > 3% & more."], [doc], words=("costs",), contexts=["It's <here>."])
    [message] = plain_messages(result)
    assert "<b>" not in message and "<i>" not in message and "&amp;" not in message and "&lt;" not in message
    assert "(It's <here>.) Costs rose > 3% & more. [1]" in message
    assert "[1] Q&A <notes> — site & co, 2025-01-02 — https://e.org/?a=1&b=2" in message
    assert plain(result) == message


@pytest.mark.parametrize("render", [html_messages, plain_messages], ids=["html", "plain"])
def test_unanswered_gives_the_not_found_message_and_no_citations(render) -> None:
    messages = render(UNANSWERED)
    assert len(messages) == 1
    assert NOT_FOUND in (visible(messages[0])[0] if render is html_messages else messages[0])
    assert "[1]" not in messages[0] and "Sources" not in messages[0]


# --- the message limit -------------------------------------------------------------------------------------


LONG_WORDS = " ".join(f"word{i}" for i in range(2000))  # ~14,000 characters, one sentence
QUOTES_AND_AMPERSANDS = " ".join(["\"R&D\" <isn't> 'cheap' & fast"] * 300)


@pytest.mark.parametrize("limit", [200, 500, 1000, TELEGRAM_LIMIT])
@pytest.mark.parametrize(
    ("texts", "words"),
    [
        (["Short sentence."] * 10, ("sentence",)),
        (
            [f"Sentence number {i} about the water supply of the capital city. " * 3 for i in range(40)],
            ("water", "city"),
        ),
        ([LONG_WORDS], ("word7",)),
        ([QUOTES_AND_AMPERSANDS], ("r", "d", "fast")),
        (["x" * 9000], ()),  # no space to cut at
        (["a & b " * 2000, "Tiny."], ("a", "b")),
    ],
    ids=["ten-short", "forty-medium", "one-huge", "escapes", "no-spaces", "bold-and-escapes"],
)
def test_every_message_fits_the_limit(limit: int, texts: list[str], words: tuple[str, ...]) -> None:
    documents = [
        document(
            path=f"d{i}.md", title=f"Document {i} <with> & markup", source="example.org", url=f"https://e.org/{i}?a&b"
        )
        for i in range(min(len(texts), 5))
    ]
    result = make_answer(
        texts,
        documents,
        words,
        contexts=[None, "This is context & more."] * (len(texts) // 2) + [None] * (len(texts) % 2),
    )
    for render in (html_messages, plain_messages):
        messages = render(result, limit)
        assert all(len(m) <= limit for m in messages), (render.__name__, [len(m) for m in messages])
    html_parts = html_messages(result, limit)
    shown = squeeze("".join(visible(m)[0] for m in html_parts))
    # Nothing is lost: every quote reaches the reader whole, if in pieces.
    for text in texts:
        assert squeeze(text) in shown
    assert "Sources" in visible(html_parts[-1])[0] or any("Sources" in visible(m)[0] for m in html_parts)


def squeeze(text: str) -> str:
    return "".join(text.split())


def test_messages_split_between_sentences_not_inside_them() -> None:
    texts = [f"Sentence {i} " + "filler " * 60 + "end." for i in range(20)]
    result = make_answer(texts)
    messages = html_messages(result)
    assert len(messages) > 1
    for text in texts:
        assert sum(text in visible(m)[0] for m in messages) == 1


@pytest.mark.parametrize(
    "doc",
    [
        document(title="T" * 5000),
        document(source="S" * 5000),
        document(date="2024-01-01 " * 500),
        document(url="https://e.org/?" + "a=1&" * 249),
        document(url="https://e.org/" + "x" * 5000),
    ],
    ids=["title", "source", "date", "url-with-ampersands", "url-long"],
)
def test_huge_metadata_still_fits_the_telegram_limit(doc: Document) -> None:
    result = make_answer(["A sentence."], [doc])
    for render in (html_messages, plain_messages):
        assert all(len(m) <= TELEGRAM_LIMIT for m in render(result)), render.__name__


@pytest.mark.parametrize("character", ["'", '"', "&"])
def test_sentence_made_of_escaped_characters_fits(character: str) -> None:
    # Escaping can grow text sixfold (' becomes &#x27;): the cut must measure the escaped text.
    result = make_answer([f"Start {character * 4000} end."])
    assert all(len(m) <= TELEGRAM_LIMIT for m in html_messages(result))


def test_short_bold_words_between_escaped_characters_fit() -> None:
    result = make_answer(["8&" * 3000], words=("8",))
    assert all(len(m) <= TELEGRAM_LIMIT for m in html_messages(result))


# Telegram counts UTF-16 code units: these characters take two each, so code points undercount them.
WIDE = {"emoji": "\U0001f600", "math-letter": "\U0001d431", "cjk-extension": "\U00020000"}


@pytest.mark.parametrize("limit", [200, TELEGRAM_LIMIT])
@pytest.mark.parametrize("spaced", [True, False], ids=["words", "one-word"])
@pytest.mark.parametrize("wide", WIDE.values(), ids=WIDE.keys())
def test_messages_fit_the_limit_in_utf16_units(wide: str, spaced: bool, limit: int) -> None:
    body = (f"{wide}{wide} " if spaced else wide) * 3000
    texts = [f"Start {body} end.", f"Short {wide} sentence."]
    doc = document(title=f"Title {wide * 300}", source=wide * 300, url="https://e.org/" + wide * 100)
    result = make_answer(texts, [doc], words=("start", wide + wide), contexts=[None, f"Context {wide * 50}."])
    html, plain_texts = html_messages(result, limit), plain_messages(result, limit)
    for message in html + plain_texts:
        assert utf16_length(message) <= limit
    shown = squeeze("".join(visible(m)[0] for m in html))
    assert all(squeeze(text) in shown for text in texts)
    assert all(squeeze(text) in squeeze("".join(plain_texts)) for text in texts)


@pytest.mark.parametrize("limit", [100, 1000])
@pytest.mark.parametrize(
    "text",
    [
        "\n".join(f"- file{i}.txt: not UTF-8 text" for i in range(500)),
        "\n".join(f"- {WIDE['emoji'] * (i % 40)} line {i}" for i in range(500)),
        " ".join(WIDE["math-letter"] * 7 for _ in range(800)),
        WIDE["emoji"] * 3000,
    ],
    ids=["lines", "emoji-lines", "wide-words", "no-break"],
)
def test_split_fits_in_utf16_units_keeps_everything_and_prefers_line_breaks(text: str, limit: int) -> None:
    pieces = split(text, limit)
    assert all(0 < utf16_length(piece) <= limit for piece in pieces)
    assert squeeze("".join(pieces)) == squeeze(text)
    if "\n" in text:
        # Lines are much shorter than the limit, so no line is ever cut in two.
        lines = set(text.splitlines())
        assert all(line in lines for piece in pieces for line in piece.splitlines())


@pytest.mark.parametrize(
    ("texts", "doc"),
    [
        # HTML far heavier than plain text: every word bold, every & escaped.
        ([f"Zork & Zork & Zork number {i} " * 40 for i in range(12)], document(title="Doc")),
        # Plain text heavier than HTML: plain shows a long non-web url, HTML leaves it out.
        ([f"Short quote {i}." for i in range(10)], document(title="Doc", url="ftp://e.org/" + "x" * 290)),
    ],
    ids=["html-heavier", "plain-heavier"],
)
def test_html_and_plain_chunks_carry_the_same_quotes(texts: list[str], doc: Document) -> None:
    documents = [Document(**{**doc.__dict__, "path": f"d{i}.txt"}) for i in range(len(texts))]
    result = make_answer(texts, documents, words=("zork",))
    pairs = chunks(result, 1000)
    assert len(pairs) > 1
    for pair in pairs:
        assert utf16_length(pair.html) <= 1000 and utf16_length(pair.plain) <= 1000
        html_text = squeeze(visible(pair.html)[0])
        # A quote (or a piece of one) is in an HTML message exactly when it is in the plain one.
        for text in texts:
            assert (squeeze(text) in html_text) == (squeeze(text) in squeeze(pair.plain))
    assert [p.html for p in pairs] == html_messages(result, 1000)
    assert [p.plain for p in pairs] == plain_messages(result, 1000)


# --- JSON -------------------------------------------------------------------------------------------


def test_as_json_schema() -> None:
    doc = document(path="sub/a.md", title="Title", source="src", date="2025-06-01", url="https://e.org")
    result = make_answer(["First.", "Second."], [doc], contexts=[None, "First."])
    data = json.loads(json.dumps(as_json(result)))
    assert set(data) == {"question", "answered", "probability", "answer", "closest", "sources", "results", "took_ms"}
    assert data["closest"] is None  # answered: no closest passage
    assert (data["question"], data["answered"]) == ("a question", True)
    assert isinstance(data["probability"], float) and isinstance(data["took_ms"], float)
    cite = {"document": "sub/a.md", "title": "Title", "source": "src", "date": "2025-06-01", "url": "https://e.org"}
    assert data["answer"] == [
        {"text": "First.", "follow": [], "citation": 1, "context": None, "page": None, **cite},
        {"text": "Second.", "follow": [], "citation": 1, "context": "First.", "page": None, **cite},
    ]
    assert data["sources"] == [{"citation": 1, **cite}]
    assert [r["text"] for r in data["results"]] == ["First.", "Second."]
    for row in data["results"]:
        assert set(row) == {"text", "score", "position", "page", *cite}
        assert isinstance(row["score"], float) and isinstance(row["position"], int)


def test_as_json_of_an_unanswered_question() -> None:
    data = as_json(UNANSWERED)
    assert data["answered"] is False and data["answer"] == [] and data["sources"] == []
