"""One corpus in several languages: each document analyzed in its own, each question searched in its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import cli
from bot.index.cache import SUFFIX, decode
from bot.index.loader import load_library
from bot.ranking.answer import answer
from bot.text.languages import Languages
from tests.helpers import Build, write_files

pytestmark = pytest.mark.usefixtures("isolated")

# The same news in English and Russian, as a publisher of both keeps it; a Kazakh one; one declared in front matter.
MIXED = {
    "en/meeting.md": (
        "The Prime Minister met the World Bank vice president in Astana.\n"
        "The sides discussed joint projects in water supply and education.\n"
        "Since 1992 the bank has financed 48 projects worth 8 billion dollars.\n"
    ),
    "ru/meeting.md": (
        "Премьер-министр встретился с вице-президентом Всемирного банка в Астане.\n"
        "Стороны обсудили совместные проекты в сфере водоснабжения и образования.\n"
        "С 1992 года банк профинансировал 48 проектов на сумму 8 миллиардов долларов.\n"
    ),
    "kk/sea.md": (
        "Арал теңізі Қазақстан мен Өзбекстан шекарасында орналасқан тұйық көл.\n"
        "Теңіздің ауданы соңғы жылдары қатты азайды.\n"
    ),
    "declared.md": "---\ntitle: Declared\nlanguage: ru\n---\nThe text is English but the front matter says Russian.\n",
}


@pytest.fixture
def mixed(build: Build):  # type: ignore[no-untyped-def]
    return build(MIXED)


def test_each_document_is_analyzed_in_its_own_language(mixed) -> None:  # type: ignore[no-untyped-def]
    languages = {entry.document.path: entry.language for entry in mixed.entries}
    assert languages == {"en/meeting.md": "en", "ru/meeting.md": "ru", "kk/sea.md": "kk", "declared.md": "ru"}
    assert mixed.document_languages() == {"ru": 2, "en": 1, "kk": 1}


@pytest.mark.parametrize(
    ("question", "expected", "folder"),
    [
        ("Who did the prime minister meet?", "The Prime Minister met the World Bank", "en/"),
        ("How many projects has the bank financed?", "Since 1992 the bank has financed 48 projects", "en/"),
        ("С кем встретился премьер-министр?", "Премьер-министр встретился с вице-президентом", "ru/"),
        ("Какие проекты обсудили стороны?", "Стороны обсудили совместные проекты", "ru/"),
        ("Арал теңізі қайда орналасқан?", "Арал теңізі Қазақстан мен Өзбекстан", "kk/"),
    ],
)
def test_a_question_is_answered_from_the_documents_of_its_language(
    mixed, question: str, expected: str, folder: str
) -> None:  # type: ignore[no-untyped-def]
    result = answer(mixed, question)
    assert result.answered and result.quotes[0].text.startswith(expected)
    assert all(quote.document.path.startswith(folder) for quote in result.quotes)


def test_question_analyzer_follows_the_question_language(mixed) -> None:  # type: ignore[no-untyped-def]
    assert mixed.question_analyzer("Who did the prime minister meet?").language == "en"
    assert mixed.question_analyzer("С кем встретился премьер-министр?").language == "ru"
    assert mixed.question_analyzer("Арал теңізі қайда?").language == "kk"


def test_an_unsure_question_is_searched_in_more_than_one_language(mixed) -> None:  # type: ignore[no-untyped-def]
    analyzer = mixed.question_analyzer("1992?")
    terms = analyzer.terms("1992")
    assert len(terms) >= 2 and "ru:1992" in terms


def test_forcing_one_language_analyzes_every_document_in_it(build: Build) -> None:
    library = build(MIXED, languages="en")
    assert {entry.language for entry in library.entries} == {"en"}
    assert library.question_analyzer("С кем встретился премьер-министр?").language == "en"


def test_restricting_languages_detects_among_them_only(build: Build) -> None:
    library = build(MIXED, languages="en,ru")
    assert {entry.language for entry in library.entries} == {"en", "ru"}


def test_an_unsupported_language_setting_is_refused_by_name(build: Build) -> None:
    with pytest.raises(ValueError, match="unsupported language 'xx'"):
        build(MIXED, languages="en,xx")


def test_the_cache_records_each_document_language_and_a_setting_change_rebuilds(tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "corpus", MIXED)
    cache = tmp_path / "cache"
    first = load_library(corpus, cache)
    warm = load_library(corpus, cache)
    assert [e.language for e in warm.entries] == [e.language for e in first.entries]
    files = list(cache.rglob(f"*{SUFFIX}"))
    assert len(files) == len(MIXED)
    entry = next(e for e in first.entries if e.document.path == "kk/sea.md")
    stored = next(p for p in files if p.stem == entry.digest)
    assert decode(stored.read_bytes(), Languages().key, entry.digest, entry.document).language == "kk"
    forced = load_library(corpus, cache, languages="ru")
    # Another setting is another key: its analyses are new files, never the "auto" ones read as Russian.
    assert {e.language for e in forced.entries} == {"ru"}
    assert {e.digest for e in forced.entries}.isdisjoint(e.digest for e in first.entries)


def test_check_reports_documents_per_language(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "corpus", MIXED)
    assert cli.main(["check", "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^languages: ru 2, en 1, kk 1$", out, re.M)


def test_unsupported_language_setting_exits_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_files(tmp_path / "corpus", MIXED)
    monkeypatch.setenv("CITEBOT_LANGUAGES", "en,xx")
    assert cli.main(["check", "--corpus", str(corpus)]) == 2  # a bad setting, said before anything is loaded
    err = capsys.readouterr().err
    assert err.startswith("citebot: bad setting: CITEBOT_LANGUAGES: unsupported language 'xx'; supported: ")
    assert "en, " in err and "kk, " in err
