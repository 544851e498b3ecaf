"""Sentence splitting on the news prose that trips splitters up."""

from __future__ import annotations

import time

import pytest

from bot.text.analyzers import Analyzer, is_title_line

CASES = [
    (
        "Mr. Smith went to Washington. He arrived at 5 p.m. on Monday.",
        ["Mr. Smith went to Washington.", "He arrived at 5 p.m. on Monday."],
    ),
    (
        "The U.S. economy grew 2.5% last year. Analysts expected 3.1%.",
        ["The U.S. economy grew 2.5% last year.", "Analysts expected 3.1%."],
    ),
    (
        "Apple Inc. agreed to pay $8 billion. The deal closes in Jan. 2025.",
        ["Apple Inc. agreed to pay $8 billion.", "The deal closes in Jan. 2025."],
    ),
    ('"We will win," she said. "Nobody doubts it."', ['"We will win," she said.', '"Nobody doubts it."']),
    (
        "\u201cWe will win. Nobody doubts it,\u201d she said. Then she left.",
        ["\u201cWe will win. Nobody doubts it,\u201d she said.", "Then she left."],
    ),
    (
        "Jean-Claude Van Damme met Dr. Anne-Marie Dupont. They talked for hours.",
        ["Jean-Claude Van Damme met Dr. Anne-Marie Dupont.", "They talked for hours."],
    ),
    ("J. K. Rowling wrote the books. They sold well.", ["J. K. Rowling wrote the books.", "They sold well."]),
    (
        "Prices rose by 0.25 percentage points, e.g. on bread. Wages did not.",
        ["Prices rose by 0.25 percentage points, e.g. on bread.", "Wages did not."],
    ),
    ("Is it true? Yes! It is.", ["Is it true?", "Yes!", "It is."]),
    (
        "He paid $1.5 million for No. 5 Main St. in 2019. It was a bargain.",
        ["He paid $1.5 million for No. 5 Main St. in 2019.", "It was a bargain."],
    ),
    (
        "The company, Acme Corp., reported losses. Its CEO resigned.",
        ["The company, Acme Corp., reported losses.", "Its CEO resigned."],
    ),
    (
        "Sen. Elizabeth Warren (D-Mass.) spoke first. Gov. Brown followed.",
        ["Sen. Elizabeth Warren (D-Mass.) spoke first.", "Gov. Brown followed."],
    ),
    (
        "She said: \u201cIt\u2019s over.\u201d The room fell silent.",
        ["She said: \u201cIt\u2019s over.\u201d", "The room fell silent."],
    ),
    (
        "The rate was 4.75 per cent. That is high... Or is it?",
        ["The rate was 4.75 per cent.", "That is high...", "Or is it?"],
    ),
    ('"Stop. Now," he said. Everyone froze.', ['"Stop. Now," he said.', "Everyone froze."]),
    (
        "The F.B.I. opened a case. Officials declined to comment.",
        ["The F.B.I. opened a case.", "Officials declined to comment."],
    ),
    (
        "Revenue hit $3.2bn vs. $2.9bn a year ago. Margins widened.",
        ["Revenue hit $3.2bn vs. $2.9bn a year ago.", "Margins widened."],
    ),
    ("It opened in 1999. In 2004 it closed.", ["It opened in 1999.", "In 2004 it closed."]),
    ("Prof. Ivanov arrived at 10 a.m. The lecture began.", ["Prof. Ivanov arrived at 10 a.m.", "The lecture began."]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_sentences_on_tricky_news_prose(text: str, expected: list[str]) -> None:
    assert Analyzer().sentences(text) == expected


def test_paragraphs_never_merge() -> None:
    text = "First paragraph ends without a stop\n\nSecond one. It has two sentences."
    assert Analyzer().sentences(text) == ["First paragraph ends without a stop", "Second one.", "It has two sentences."]


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        (
            "en",
            "It aired on Fox. ), and later on NBC. It ended.",
            ["It aired on Fox. ), and later on NBC.", "It ended."],
        ),
        (
            "en",
            "See Feynman 1970. :212–219 for more. Then stop.",
            ["See Feynman 1970. :212–219 for more.", "Then stop."],
        ),
        (
            "ru",
            "Сеть создала Merit Network, Inc. , независимая корпорация. Она росла.",
            ["Сеть создала Merit Network, Inc. , независимая корпорация.", "Она росла."],
        ),
    ],
)
def test_a_piece_opening_with_punctuation_stays_with_its_sentence(
    language: str, text: str, expected: list[str]
) -> None:
    assert Analyzer(language).sentences(text) == expected


def test_russian_sentences() -> None:
    assert Analyzer("russian").sentences("Он сказал: «Мы победим». Все согласились.") == [
        "Он сказал: «Мы победим».",
        "Все согласились.",
    ]


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        # Two initials before a name, and initials with no space between them.
        (
            "ru",
            "Например, Э. И. Дюпон де Немур основал завод. Это было давно.",
            ["Например, Э. И. Дюпон де Немур основал завод.", "Это было давно."],
        ),
        (
            "ru",
            "Галерея Т.Т. Цуй открылась в 1991 году. Она популярна.",
            ["Галерея Т.Т. Цуй открылась в 1991 году.", "Она популярна."],
        ),
        (
            "ru",
            "Президент Токаев К.-Ж. провёл встречу. Затем он уехал.",
            ["Президент Токаев К.-Ж. провёл встречу.", "Затем он уехал."],
        ),
        # An abbreviation before a lower-case word never ends a sentence.
        (
            "ru",
            "Фонд в 37,6 млрд. долларов крупнейший. Он растёт.",
            ["Фонд в 37,6 млрд. долларов крупнейший.", "Он растёт."],
        ),
        (
            "kk",
            "1936 жылы Д. Қонаев институтты бітірді. Ол инженер болды.",
            ["1936 жылы Д. Қонаев институтты бітірді.", "Ол инженер болды."],
        ),
        (
            "kk",
            "Генерал-губернатор П.К.Эссен жоба жасады. Комитет бекітті.",
            ["Генерал-губернатор П.К.Эссен жоба жасады.", "Комитет бекітті."],
        ),
        (
            "kk",
            "Ә. Бөкейханов, А. Байтұрсынов және М. Дулатов ақталды. Бұл маңызды болды.",
            ["Ә. Бөкейханов, А. Байтұрсынов және М. Дулатов ақталды.", "Бұл маңызды болды."],
        ),
        ("kk", "Ол XIX ғ. өмір сүрді. Кейін кетті.", ["Ол XIX ғ. өмір сүрді.", "Кейін кетті."]),
    ],
    ids=[
        "ru-two-initials",
        "ru-joined-initials",
        "ru-hyphened-initials",
        "ru-abbreviation",
        "kk-initial",
        "kk-joined-initials",
        "kk-list-of-names",
        "kk-abbreviation",
    ],
)
def test_russian_and_kazakh_initials_and_abbreviations_stay_inside_their_sentence(
    language: str, text: str, expected: list[str]
) -> None:
    assert Analyzer(language).sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "sentences", "heads"),
    [
        (
            "# Title\n\n## How do I pay?\n\nBy card. Or in cash.",
            ["Title", "How do I pay?", "By card.", "Or in cash."],
            [0, 1, 1, 1],
        ),
        (
            "City opens new bridge\n\nThe bridge opened on Monday.",
            ["City opens new bridge", "The bridge opened on Monday."],
            [0, 0],
        ),
        (
            "The bridge opened on Monday.\n\nTraffic: light.",
            ["The bridge opened on Monday.", "Traffic: light."],
            [-1, -1],
        ),
        ("Prices rose.\nWages did not\n\n- one item", ["Prices rose.", "Wages did not", "one item"], [-1, -1, -1]),
    ],
    ids=["markdown", "title-line", "prose", "wrapped-and-list"],
)
def test_split_marks_headings_and_the_heading_each_sentence_sits_under(
    text: str, sentences: list[str], heads: list[int]
) -> None:
    assert Analyzer("en").split(text) == (sentences, heads)


@pytest.mark.parametrize(
    ("text", "heads"),
    [
        ("The ferry ticket costs 100 tenge for adults", [-1]),
        ("Opening hours\n\nMonday to Friday", [0, 0]),
    ],
    ids=["only-line", "last-line"],
)
def test_a_line_that_heads_nothing_is_no_heading(text: str, heads: list[int]) -> None:
    assert Analyzer("en").split(text)[1] == heads


@pytest.mark.parametrize(
    "line",
    [
        "Notes of the working group on the roof, 2 April 2026.",
        "Заметки рабочей группы по ремонту крыши, 2 апреля 2026 года.",
        "«Жігер» жастар клубының кездесуі туралы жазба, 2026 жылғы 12 сәуір.",
    ],
    ids=["en", "ru", "kk"],
)
def test_a_title_with_its_date_after_a_comma_is_a_title_line_despite_its_full_stop(line: str) -> None:
    assert is_title_line(line, opening=True)
    assert Analyzer("en").split(f"{line}\n\nThe contractor found two leaks.")[1] == [0, 0]


def test_a_dated_sentence_inside_a_text_stays_prose() -> None:
    # Notes put the next meeting's date in a paragraph of its own; only a text's opening line is read as a title.
    text = "The roof leaks.\n\nThe next meeting is on Thursday, 16 April 2026.\n\nBring the estimates."
    assert Analyzer("en").split(text)[1] == [-1, -1, -1]
    assert not is_title_line("The next meeting is on Thursday, 16 April 2026.")


@pytest.mark.parametrize(
    "line",
    [
        "The vote was held in 2026.",
        "The council met on Monday, and the vote passed.",
        "Prices rose by 5 percent, the most since 2019 and far above what the ministry had planned for.",
        "The roof was repaired, 2026.",
    ],
    ids=["year-no-comma", "comma-no-year", "long-tail", "no-day-or-month"],
)
def test_a_sentence_ending_in_a_year_is_no_title_line_even_opening_a_text(line: str) -> None:
    assert not is_title_line(line, opening=True)


def test_a_hostile_line_of_commas_and_years_is_read_in_linear_time() -> None:
    # Every comma followed by a year opens a possible date: a backtracking pattern tries each to the line's end.
    line = "a " + "2026," * 40_000 + "x."
    started = time.perf_counter()
    assert not is_title_line(line, opening=True)
    assert set(Analyzer("en").split(f"{line}\n\nThe rest.")[1]) == {-1}
    assert time.perf_counter() - started < 5


def test_a_line_ending_a_sentence_behind_escape_sequences_is_no_title_line() -> None:
    assert not is_title_line("Prices rose.\x1b[0m \x07")
    assert is_title_line("Water tariffs\x1b[0m") and is_title_line("How do I pay?")
