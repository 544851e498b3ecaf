"""Reading a corpus folder: which files count, what metadata they carry, and what is skipped and why."""

from __future__ import annotations

import logging
import os
import socket
import stat
import time
from pathlib import Path

import pytest

from bot.index.loader import load_library
from bot.ingest.corpus import CorpusError, Document, corpus_paths, parse_file, title_from_path
from bot.text.analyzers import Analyzer, analyze
from tests.helpers import SEED_FILE, Build, write_files

pytestmark = pytest.mark.usefixtures("isolated")


def parse(text: str | bytes, path: str = "doc.md") -> tuple[Document | None, object]:
    return parse_file(path, text.encode("utf-8") if isinstance(text, str) else text)


# --- metadata -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("front", "expected"),
    [
        (
            "title: Kazakhstan and the World Bank\nsource: primeminister.kz\ndate: 2025-06-01\nurl: https://primeminister.kz/en/news/1",
            {
                "title": "Kazakhstan and the World Bank",
                "source": "primeminister.kz",
                "date": "2025-06-01",
                "url": "https://primeminister.kz/en/news/1",
            },
        ),
        # A YAML timestamp is a datetime: only its date is kept, as an ISO string.
        ("title: T\ndate: 2024-02-29 10:30:00", {"title": "T", "date": "2024-02-29", "source": None, "url": None}),
        # A quoted date stays as written; a numeric title is still a title.
        ("title: 1984\ndate: 'June 2024'", {"title": "1984", "date": "June 2024"}),
        # Empty values count as missing: the title falls back to the body's heading.
        ("title: ''\nsource: ' '", {"title": "Heading of the body", "source": None}),
    ],
)
def test_front_matter_metadata(front: str, expected: dict[str, str | None]) -> None:
    document, problem = parse(f"---\n{front}\n---\n# Heading of the body\n\nThe body sentence.\n")
    assert problem is None
    assert document is not None
    for field, value in expected.items():
        assert getattr(document, field) == value, field
    assert "---" not in document.text and "title:" not in document.text


def test_yaml_date_is_an_iso_string() -> None:
    document, _ = parse("---\ndate: 2025-06-01\n---\nBody.\n")
    assert document is not None and document.date == "2025-06-01" and isinstance(document.date, str)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_front_matter_with_either_line_ending(newline: str) -> None:
    text = newline.join(["---", "title: Windows file", "date: 2024-02-03", "---", "Body here.", ""])
    document, problem = parse(text)
    assert problem is None and document is not None
    assert (document.title, document.date) == ("Windows file", "2024-02-03")
    assert document.text.strip() == "Body here."


@pytest.mark.parametrize(
    ("header", "date", "site"),
    [
        (" date 2025-06-01 Images | primeminister.kz", "2025-06-01", "primeminister.kz"),
        ("date 2024-12-31 World News | www.example.com ", "2024-12-31", "www.example.com"),
        ("date 2023-01-02 |example.org", "2023-01-02", "example.org"),
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_scraped_header_gives_date_and_source(header: str, date: str, site: str, newline: str) -> None:
    body = "The minister opened the new bridge over the river on Monday. Traffic started at noon."
    document, problem = parse(header + newline + newline + body + newline, path="0a1b2c3d4e5f.txt")
    assert problem is None and document is not None
    assert (document.date, document.source) == (date, site)
    # The title is the article's first sentence, never the hash file name, and never the header line.
    assert document.title == "The minister opened the new bridge over the river on Monday"
    assert "date" not in document.text and "|" not in document.text


def test_scraped_header_long_lead_gives_first_clause_as_title() -> None:
    lead = (
        "The Prime Minister of the Republic met the visiting delegation of the development bank, who arrived "
        "to take part in the international forum on energy, water and transport, the press office reports."
    )
    document, _ = parse(f" date 2025-06-01 News | gov.example\n\n{lead}\n", path="ff00.txt")
    assert document is not None
    assert document.title == "The Prime Minister of the Republic met the visiting delegation of the development bank"


@pytest.mark.parametrize(
    "first_line",
    [
        "date 2025-06-01 without a site",  # no `|`: an ordinary sentence, not a header
        "Our date 2025-06-01 Images | site.kz",  # not at the start
        "date 25-06-01 Images | site.kz",  # not an ISO date
    ],
)
def test_lines_that_only_look_like_a_header_stay_in_the_body(first_line: str) -> None:
    document, _ = parse(f"{first_line}\nMore text.\n")
    assert document is not None
    assert document.date is None and document.source is None
    assert first_line in document.text


def test_real_seed_file() -> None:
    document, problem = parse_file(SEED_FILE.name, SEED_FILE.read_bytes())
    assert problem is None and document is not None
    assert document.source == "primeminister.kz"
    assert document.date == "2025-06-01"
    assert document.title == (
        "Prime Minister of the Republic of Kazakhstan Olzhas Bektenov met with World Bank Vice President "
        "Antonella Bassani"
    )
    sentences = Analyzer().sentences(document.text)
    assert sentences[0].startswith("Prime Minister of the Republic of Kazakhstan")
    assert not any("primeminister.kz" in s and "date" in s for s in sentences)
    assert not any(s.lstrip().startswith("date 2025") for s in sentences)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("# Growing tomatoes\n\nTomatoes need sun.\n", "Growing tomatoes"),
        ("## Closed heading ##\nBody.\n", "Closed heading"),
        ("   ### Indented three spaces\nBody.\n", "Indented three spaces"),
        ("Short first line. Then a second sentence.\n", "Short first line"),
        ("A question first? Then more.\n", "A question first?"),
        ("#hashtag is not a heading. Body.\n", "#hashtag is not a heading"),
    ],
)
def test_title_from_heading_or_first_sentence(text: str, title: str) -> None:
    document, _ = parse(text, path="notes/untitled_file.md")
    assert document is not None and document.title == title


@pytest.mark.parametrize("path", ["notes/plain.txt", "notes/marked.md"])
def test_a_later_heading_is_the_title_over_the_opening_line_in_any_text_file(path: str) -> None:
    # docs/documents.md: the first Markdown heading anywhere in the text, before a title made from the opening.
    document, _ = parse("An opening line of text.\n\n# The heading further down\nBody.\n", path=path)
    assert document is not None and (document.title, document.title_made) == ("The heading further down", False)


@pytest.mark.parametrize(
    ("text", "made"),
    [
        ("---\ntitle: Given\n---\nBody text here.\n", False),
        ("# A heading\n\nBody text here.\n", False),
        ("Prime Minister met the bank, officials said. More text.\n", True),  # the opening's first clause
        ("...\n", True),  # the file name
    ],
)
def test_a_title_citebot_made_up_is_marked(text: str, made: bool) -> None:
    document, _ = parse(text, path="notes/untitled_file.md")
    assert document is not None and document.title_made is made


def test_title_of_an_endless_first_line_is_cut_at_a_word() -> None:
    words = " ".join(["word"] * 60)  # no full stop and no comma: nothing better to cut at
    document, _ = parse(words + "\n")
    assert document is not None
    assert document.title.endswith("…") and len(document.title) <= 121
    assert document.title[:-1].split() == ["word"] * len(document.title[:-1].split())


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("war_and-peace.md", "war and peace"),
        ("a/b/2024__report--final.txt", "2024 report final"),
        ("___.txt", "___.txt"),
    ],
)
def test_title_from_path(path: str, title: str) -> None:
    assert title_from_path(path) == title


@pytest.mark.parametrize(
    ("body", "title"),
    [
        # Lines without words (an ellipsis, a rule) are no headline: the first line with words is.
        ("...\nThe text starts after an ellipsis line.\n", "The text starts after an ellipsis line"),
        ("---\nJust a rule first.\n\nThen text.\n", "Just a rule first"),
        # Nothing with words at all: the file name is the last resort.
        (".\n\n!!!\n", "field notes 2024"),
    ],
)
def test_title_skips_wordless_lines_then_falls_back_to_file_name(body: str, title: str) -> None:
    document, _ = parse(body, path="notes/field_notes-2024.md")
    assert document is not None and document.title == title


# --- broken and unreadable files -----------------------------------------------------------------


@pytest.mark.parametrize(
    "front",
    ["title: [unclosed", "title: a: b: c", "\ttitle: tab-indented", "title: 'unterminated"],
)
def test_broken_front_matter_is_ignored_with_a_warning(front: str) -> None:
    document, problem = parse(f"---\n{front}\n---\nThe body survives the broken header.\n", path="news/broken.md")
    assert document is not None
    assert document.text.strip() == "The body survives the broken header."
    assert document.title == "The body survives the broken header"
    assert problem is not None and problem.warning and problem.path == "news/broken.md"
    assert "front matter" in problem.reason


def test_broken_front_matter_warning_names_the_file(build: Build, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        library = build({"good.md": "A good document.\n", "sub/broken.md": "---\ntitle: [oops\n---\nStill read.\n"})
    assert [d.path for d in library.documents] == ["good.md", "sub/broken.md"]
    [warning] = library.skipped
    assert warning.warning and warning.path == "sub/broken.md"
    assert any("sub/broken.md" in r.getMessage() and "front matter" in r.getMessage() for r in caplog.records)


def test_a_few_undecodable_bytes_are_replaced_and_the_file_kept() -> None:
    data = ("Prices rose in the capital this year. " * 10).encode() + b"caf\xe9 " + ("More text here. " * 5).encode()
    document, problem = parse(data, path="latin.txt")
    assert document is not None and "\ufffd" in document.text
    assert problem is not None and problem.warning and "replaced" in problem.reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("Привет, мир. Это текст в другой кодировке.".encode("cp1251"), "not UTF-8"),
        (bytes(range(128, 256)) * 4, "not UTF-8"),
        (b"PDF-like\x00\x01\x02binary" * 20, "binary"),
        ("Text saved as UTF-16.".encode("utf-16"), "binary"),
        (b"", "empty file"),
        (b"  \n\n\t \n", "empty file"),
        (b"---\ntitle: Only metadata\n---\n\n", "empty"),
    ],
    ids=["cp1251", "garbage", "nul-bytes", "utf16", "empty", "blank", "metadata-only"],
)
def test_unusable_files_are_skipped_with_a_reason(data: bytes, reason: str) -> None:
    document, problem = parse(data, path="x.txt")
    assert document is None
    assert problem is not None and not problem.warning and problem.path == "x.txt"
    assert reason in problem.reason


def test_utf8_bom_is_dropped() -> None:
    document, problem = parse(b"\xef\xbb\xbf# Title with BOM\nBody.\n")
    assert problem is None and document is not None
    assert document.title == "Title with BOM" and "\ufeff" not in document.text


# --- discovery -------------------------------------------------------------------------------------


def test_discovery_is_recursive_sorted_and_skips_hidden_and_other_types(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "docs",
        {
            "b.txt": "b",
            "a.md": "a",
            "UPPER.TXT": "u",
            "sub/deeper/c.md": "c",
            "sub/d.txt": "d",
            ".hidden.txt": "h",
            ".git/e.md": "e",
            "sub/.drafts/f.md": "f",
            "notes.rst": "r",
            "data.json": "{}",
            "readme": "no suffix",
        },
    )
    (root / "folder.md").mkdir()  # a folder with a document's suffix is not a document
    found = [relative for relative, _ in corpus_paths(root)]
    assert found == ["UPPER.TXT", "a.md", "b.txt", "sub/d.txt", "sub/deeper/c.md"]


def test_corpus_inside_a_hidden_folder_still_works(tmp_path: Path) -> None:
    root = write_files(tmp_path / ".local" / "docs", {"a.txt": "A sentence about rivers.\n"})
    library = load_library(root, tmp_path / "cache")
    assert [d.path for d in library.documents] == ["a.txt"]


def test_document_paths_are_relative_to_the_corpus(build: Build) -> None:
    library = build({"top.md": "Top level text.\n", "x/y/deep.txt": "Deep text.\n"})
    assert [d.path for d in library.documents] == ["top.md", "x/y/deep.txt"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "does not exist"),
        (lambda tmp: write_files(tmp / "empty", {}), "no .txt, .md, .html"),
        (lambda tmp: write_files(tmp / "other", {"a.rtf": "x", "b.xlsx": "y", ".c.txt": "z"}), "no .txt, .md, .html"),
        (lambda tmp: write_files(tmp, {"file.txt": "x"}) / "file.txt", "not a folder"),
    ],
    ids=["missing", "empty", "no-documents", "a-file"],
)
def test_unusable_corpus_folder_raises_a_clear_error(tmp_path: Path, make, message: str) -> None:
    root = make(tmp_path)
    with pytest.raises(CorpusError, match=message) as raised:
        load_library(root, tmp_path / "cache")
    assert str(root) in str(raised.value)


def test_all_bad_corpus_lists_every_reason(build: Build) -> None:
    files = {
        "empty.txt": b"",
        "binary.txt": b"\x00\x01\x02" * 10,
        "foreign.md": "Чужая кодировка текста.".encode("cp1251"),
    }
    with pytest.raises(CorpusError) as raised:
        build(files)
    message = str(raised.value)
    assert "no usable document" in message
    for path, reason in [("empty.txt", "empty file"), ("binary.txt", "binary"), ("foreign.md", "not UTF-8")]:
        assert f"{path}: {reason}" in message


def test_library_keeps_good_files_and_reports_the_rest(build: Build) -> None:
    library = build(
        {
            "good.md": "Rivers flow to the sea.\n",
            "few-bad-bytes.txt": ("Lakes are calm and deep in the north. " * 10).encode() + b"\xff",
            "empty.md": "",
            "image.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        }
    )
    assert [d.path for d in library.documents] == ["few-bad-bytes.txt", "good.md"]
    reasons = {s.path: (s.warning, s.reason) for s in library.skipped}
    assert reasons["empty.md"] == (False, "empty file")
    assert reasons["image.txt"][0] is False and "binary" in reasons["image.txt"][1]
    assert reasons["few-bad-bytes.txt"][0] is True and "replaced" in reasons["few-bad-bytes.txt"][1]


def test_a_file_over_the_size_limit_is_skipped_by_name_while_the_rest_loads(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "docs", {"small.txt": "Owls hunt at night.\n", "big.txt": "Owls sleep by day.\n" * 60_000}
    )
    library = load_library(root, tmp_path / "cache", max_file_mb=1)
    assert [d.path for d in library.documents] == ["small.txt"]
    [skipped] = library.skipped
    assert skipped.path == "big.txt" and skipped.reason == "too large: 1.1 MB, over the 1 MB limit"


# --- hostile front matter ----------------------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    """The billion laughs: nine aliases of nine aliases of ... nine strings, 9**9 of them once expanded."""
    names = "abcdefghi"[:levels]
    lines = ["a: &a [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]" for previous, name in zip(names, names[1:])]
    return "---\n" + "\n".join(lines) + f"\ntitle: *{names[-1]}\n---\n# Heading of the body\n\nThe body sentence.\n"


def test_alias_bomb_in_front_matter_is_refused_quickly() -> None:
    started = time.perf_counter()
    document, problem = parse(alias_bomb(), path="bomb.md")
    assert time.perf_counter() - started < 2  # "does not hang": the expansion would take minutes and gigabytes
    assert document is not None and document.title == "Heading of the body"
    assert document.text.strip().endswith("The body sentence.")
    assert problem is not None and problem.warning and "alias" in problem.reason


@pytest.mark.parametrize(
    ("front", "why"),
    [
        ("title: T\ntags: [" + "tag, " * 20_000 + "]", "longer than"),  # past the size budget
        ("title: " + "[" * 5_000, "nested"),  # deeper than the parser's recursion
    ],
    ids=["huge", "deep"],
)
def test_front_matter_past_its_budget_is_ignored_with_a_warning(front: str, why: str) -> None:
    document, problem = parse(f"---\n{front}\n---\nThe body survives.\n")
    assert document is not None and document.text.strip() == "The body survives."
    assert problem is not None and problem.warning and "front matter" in problem.reason and why in problem.reason


@pytest.mark.parametrize(
    "written",
    ["no", "yes", "off", "On", "3.10", "0x1F", "1_000", ".inf", "2024-02-30"],
)
@pytest.mark.parametrize("field", ["title", "source", "url"])
def test_front_matter_text_stays_as_written(field: str, written: str) -> None:
    # YAML 1.1 would make `no` False, `3.10` 3.1 and `0x1F` 31: metadata is what the author typed.
    document, problem = parse(f"---\n{field}: {written}\n---\nThe body sentence.\n")
    assert problem is None and document is not None
    assert getattr(document, field) == written


@pytest.mark.parametrize(
    ("written", "date"),
    [
        ("2025-06-01", "2025-06-01"),
        ("2025-06-01T23:30:00+05:00", "2025-06-01"),
        ("'2025-06-01 10:00:00'", "2025-06-01"),  # quoted, but a date all the same
        ("2025-13-45", "2025-13-45"),  # not a calendar date: kept as written, like any other text
    ],
)
def test_front_matter_dates_are_parsed_as_dates(written: str, date: str) -> None:
    document, problem = parse(f"---\ndate: {written}\n---\nThe body sentence.\n")
    assert problem is None and document is not None and document.date == date


@pytest.mark.parametrize(
    ("front", "field", "kind"),
    [
        ("title: !!set {gamma, alpha, beta, delta}", "title", "a set"),  # str() of a set changes between runs
        ("title: [a, b]", "title", "a list"),
        ("title: {a: 1}", "title", "a mapping"),
        ("title: !!binary aGVsbG8=", "title", "binary"),
        ("title: !!bool yes", "title", "a boolean"),
        ("title: !!int 7", "title", "a number"),
        ("source: [x, y]", "source", "a list"),
        ("url: {href: 'https://example.org'}", "url", "a mapping"),
        ("date: [2024, 2025]", "date", "a list"),
    ],
)
def test_front_matter_values_that_are_not_text_are_named_warnings(front: str, field: str, kind: str) -> None:
    document, problem = parse(f"---\n{front}\n---\n# Heading of the body\n\nThe body sentence.\n")
    assert document is not None
    assert getattr(document, field) == ("Heading of the body" if field == "title" else None)
    assert problem is not None and problem.warning and field in problem.reason and kind in problem.reason


def test_front_matter_that_is_not_key_value_pairs_is_a_named_warning() -> None:
    document, problem = parse("---\n- a list\n- not a mapping\n---\nThe body sentence.\n")
    assert document is not None and document.text.strip() == "The body sentence."
    assert problem is not None and problem.warning and "front matter" in problem.reason and "a list" in problem.reason


# --- hostile whitespace --------------------------------------------------------------------------------

HOSTILE_SPACES = ["\u00a0", " \t", "\u2003\u00a0 "]
HOSTILE_LINES = [
    "# Report{ws}x",
    "#{ws}Report{ws}#{ws}x",
    "{ws}#{ws}",
    "date 2025-06-01{ws}|{ws}x{ws}y",
    "---{ws}x",
    "-{ws}-{ws}-{ws}x",
    "1.{ws}x",
    ">{ws}x",
    "x{ws}x",
]


@pytest.mark.parametrize("where", ["first line", "after a paragraph", "in front matter"])
@pytest.mark.parametrize("line", HOSTILE_LINES)
@pytest.mark.parametrize("space", HOSTILE_SPACES, ids=["nbsp", "space-tab", "em-nbsp-space"])
def test_100_kb_of_hostile_whitespace_in_a_line_parses_at_once(space: str, line: str, where: str) -> None:
    hostile = line.format(ws=space * (100_000 // len(space)))
    text = {
        "first line": f"{hostile}\nThe body sentence.\n",
        "after a paragraph": f"The body sentence.\n\n{hostile}\n\nAnother sentence.\n",
        "in front matter": f"---\ntitle: {hostile}\n---\nThe body sentence.\n",
    }[where]
    started = time.perf_counter()
    document, _ = parse(text)
    assert document is not None
    analyze(document, Analyzer())
    assert time.perf_counter() - started < 2  # "does not hang": it takes milliseconds; the old pattern took hours


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ("# Learn C#", "Learn C#"),  # a closing run of #s needs a space before it
        ("# Report\u00a0\u00a0\u00a0#\u00a0", "Report"),
        ("#\u00a0Spaced\u00a0out\u00a0", "Spaced\u00a0out"),
    ],
)
def test_heading_titles(line: str, title: str) -> None:
    document, _ = parse(f"{line}\nBody.\n")
    assert document is not None and document.title == title


# --- symlinks and special files ------------------------------------------------------------------------


def skipped_reasons(root: Path) -> dict[str, str]:
    return {s.path: s.reason for s in corpus_paths(root).skipped}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_files(tmp_path / "docs", {"real.md": "Real text.\n", "sub/inner.txt": "Inner text.\n"})


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("sub/up", ".."),  # a folder that contains itself
        ("sub/here", "."),
        ("self.md", "self.md"),  # a link to itself
        ("ping.md", "pong.md"),  # two links to each other (pong.md is made below)
    ],
)
def test_symlink_loops_are_skipped_with_a_reason(docs: Path, name: str, target: str) -> None:
    (docs / name).symlink_to(target)
    if name == "ping.md":
        (docs / "pong.md").symlink_to("ping.md")
    found = corpus_paths(docs)
    assert [relative for relative, _ in found] == ["real.md", "sub/inner.txt"]
    assert "symlink loop" in skipped_reasons(docs)[name]


def test_broken_symlink_is_skipped_with_a_reason(docs: Path) -> None:
    (docs / "gone.md").symlink_to("nowhere.md")
    assert [relative for relative, _ in corpus_paths(docs)] == ["real.md", "sub/inner.txt"]
    assert skipped_reasons(docs) == {"gone.md": "broken symlink"}


def test_symlink_to_a_document_is_read_once(docs: Path) -> None:
    (docs / "alias.md").symlink_to("real.md")
    (docs / "sub" / "again.md").symlink_to("../real.md")
    assert [relative for relative, _ in corpus_paths(docs)] == ["real.md", "sub/inner.txt"]
    reasons = skipped_reasons(docs)
    assert reasons.keys() == {"alias.md", "sub/again.md"} and all("real.md" in r for r in reasons.values())


def test_symlink_to_a_file_that_is_no_document_itself_is_followed_once(docs: Path) -> None:
    write_files(docs, {".drafts/note.md": "A hidden draft.\n", "data/notes.text": "Notes with another suffix.\n"})
    (docs / "draft.md").symlink_to(".drafts/note.md")
    (docs / "other.md").symlink_to("draft.md")  # the same file by another way: read once, under the first name
    (docs / "notes.txt").symlink_to("data/notes.text")
    assert [relative for relative, _ in corpus_paths(docs)] == ["draft.md", "notes.txt", "real.md", "sub/inner.txt"]
    assert "draft.md" in skipped_reasons(docs)["other.md"]


def test_symlinks_leading_out_of_the_corpus_are_not_followed(docs: Path, tmp_path: Path) -> None:
    secret = write_files(tmp_path / "elsewhere", {"secret.txt": "TELEGRAM_BOT_TOKEN=123:abc\n", "more/a.md": "A.\n"})
    (docs / "leak.txt").symlink_to(secret / "secret.txt")
    (docs / "more").symlink_to(secret / "more")
    (docs / "mirror").symlink_to("sub")  # a folder inside: its files are read at their own paths
    assert [relative for relative, _ in corpus_paths(docs)] == ["real.md", "sub/inner.txt"]
    reasons = skipped_reasons(docs)
    assert "outside the corpus" in reasons["leak.txt"]
    assert "folder" in reasons["more"] and "folder" in reasons["mirror"]


def test_a_corpus_reached_through_a_symlink_works(docs: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(docs)
    (docs / "alias.md").symlink_to("real.md")
    found = corpus_paths(tmp_path / "link")
    assert [relative for relative, _ in found] == ["real.md", "sub/inner.txt"]
    assert [s.path for s in found.skipped] == ["alias.md"]


def test_special_files_are_skipped_with_a_reason_and_never_opened(docs: Path) -> None:
    os.mkfifo(docs / "pipe.txt")  # opening it to read would block forever
    os.mkfifo(docs / "pipe")  # not a document's name: not even mentioned
    (docs / "null.md").symlink_to("/dev/null")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(docs / "sock.md"))
        assert [relative for relative, _ in corpus_paths(docs)] == ["real.md", "sub/inner.txt"]
        reasons = skipped_reasons(docs)
    assert reasons.keys() == {"pipe.txt", "null.md", "sock.md"}
    assert "FIFO" in reasons["pipe.txt"] and "socket" in reasons["sock.md"] and "device" in reasons["null.md"]


def test_a_device_file_is_skipped_with_a_reason(docs: Path) -> None:
    try:
        os.mknod(docs / "zero.txt", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("making a device file needs CAP_MKNOD")
    assert [relative for relative, _ in corpus_paths(docs)] == ["real.md", "sub/inner.txt"]
    assert "character device" in skipped_reasons(docs)["zero.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_folder_is_skipped_with_a_reason(docs: Path) -> None:
    (docs / "sub").chmod(0)
    try:
        assert [relative for relative, _ in corpus_paths(docs)] == ["real.md"]
        assert "cannot list" in skipped_reasons(docs)["sub"]
    finally:
        (docs / "sub").chmod(0o755)


def test_a_corpus_with_a_loop_and_a_fifo_loads_without_blocking(docs: Path, tmp_path: Path) -> None:
    (docs / "sub" / "up").symlink_to("..")
    os.mkfifo(docs / "pipe.md")
    library = load_library(docs, tmp_path / "cache")
    assert [d.path for d in library.documents] == ["real.md", "sub/inner.txt"]
