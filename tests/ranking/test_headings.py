"""Headings are context, not answers; a declined question's closest passage."""

from __future__ import annotations

import numpy as np
import pytest

from bot.chat.passages import shown_ids
from bot.chat.render import as_json, plain
from bot.index.library import Library
from bot.ranking.answer import answer
from bot.ranking.features import analyze_question
from bot.ranking.ranker import answer_logit, default_ranker, first_under_headings, passage_has_type
from tests.helpers import Build

pytestmark = pytest.mark.usefixtures("isolated")

FAQ = {
    "faq.md": "# Customer questions\n\n"
    "## How do I report a burst pipe?\n\n"
    "Call our emergency line on 0800 555 0199, day and night. Turn off the stop tap if water floods the house.\n\n"
    "## Why is my water brown?\n\n"
    "Rust stirred up in the mains makes it brown. Run the cold tap for ten minutes.\n\n"
    "## Can I pay my bill in instalments?\n\n"
    "Yes, any household can spread its annual bill over twelve monthly payments.\n",
    "tariffs.txt": "Water tariffs\n\nHouseholds pay 112 tenge per cubic metre of cold water.\n\n"
    "Discounts\n\nPensioners living alone get a discount of 30 percent on water.\n",
}


@pytest.fixture
def faq(build: Build) -> Library:
    return build(FAQ)


def test_headings_and_title_lines_are_marked_with_the_sentences_under_them(faq: Library) -> None:
    headings = [faq.sentence(i).text for i in range(faq.sentence_count) if faq.is_heading(i)]
    assert headings == [
        "Customer questions",
        "How do I report a burst pipe?",
        "Why is my water brown?",
        "Can I pay my bill in instalments?",
        "Water tariffs",
        "Discounts",
    ]
    under = {faq.sentence(i).text: faq.sentence(int(faq.heads[i])).text for i in range(faq.sentence_count)}
    assert under["Run the cold tap for ten minutes."] == "Why is my water brown?"
    assert under["Pensioners living alone get a discount of 30 percent on water."] == "Discounts"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How do I report a burst pipe?", "Call our emergency line"),
        ("Can I pay my bill in instalments?", "Yes, any household can spread"),
        ("Who gets discounts?", "Pensioners living alone"),
    ],
)
def test_a_question_that_repeats_a_heading_is_answered_by_the_sentence_under_it(
    faq: Library, question: str, expected: str
) -> None:
    result = answer(faq, question, min_confidence=0.0)
    assert result.answered
    assert result.quotes[0].text.startswith(expected)
    assert not any(faq.is_heading(hit.sentence.id) for hit in result.results[:1])
    assert all(not quote.text.endswith("?") for quote in result.quotes)


@pytest.mark.parametrize("question", ["How do I report a burst pipe?", "Can I pay my bill in instalments?"])
def test_a_question_that_repeats_a_heading_passes_the_bar_on_the_headings_strength(faq: Library, question: str) -> None:
    # The sentence under the heading holds none of the question's words; the heading holds them all. Scored on
    # the sentence alone, these passed the bar only just (0.15 and 0.20 against 0.12).
    assert answer(faq, question, min_confidence=2 * default_ranker(False).threshold).answered


def test_the_answers_logit_is_its_headings_when_that_scores_higher(faq: Library) -> None:
    heading, under = faq_id(faq, "Why is my water brown?"), faq_id(faq, "Run the cold tap for ten minutes.")
    other = faq_id(faq, "Yes, any household can spread its annual bill over twelve monthly payments.")
    rows = np.array([heading, under, other])
    assert answer_logit(faq, rows, np.array([2.0, -1.0, 0.5]), np.array([1, 0, 2])) == 2.0
    assert answer_logit(faq, rows, np.array([-3.0, -1.0, 0.5]), np.array([1, 0, 2])) == -1.0
    # A sentence's logit is never raised by another section's heading.
    assert answer_logit(faq, rows, np.array([2.0, -1.0, 0.5]), np.array([2, 0, 1])) == 0.5


def test_a_heading_is_never_quoted(faq: Library) -> None:
    for question in ("Customer questions", "Water tariffs", "brown water", "instalments bill"):
        result = answer(faq, question, min_confidence=0.0)
        assert all(not faq.is_heading(faq_id(faq, q.text)) for q in result.quotes)


def faq_id(library: Library, text: str) -> int:
    return next(i for i in range(library.sentence_count) if library.sentence(i).text == text)


def test_declined_question_shows_its_closest_passage_labelled(faq: Library) -> None:
    result = answer(faq, "Why is my water brown?", min_confidence=1.0)
    assert not result.answered
    # The closest passage is the heading's short section, in reading order.
    assert result.closest is not None and result.closest.text == "Rust stirred up in the mains makes it brown."
    assert result.closest.follow == ("Run the cold tap for ten minutes.",)
    data = as_json(result)
    assert data["answer"] == [] and data["closest"]["text"] == result.closest.text
    assert data["closest"]["follow"] == ["Run the cold tap for ten minutes."]
    assert data["closest"]["document"] == "faq.md" and data["closest"]["title"] == "Customer questions"
    shown = plain(result)
    assert shown.startswith("I found no confident answer. The closest passage in the documents:")
    assert (
        "Rust stirred up in the mains makes it brown. Run the cold tap for ten minutes. [1]" in shown
        and "[1] Customer questions" in shown
    )
    assert plain(result, "ru").startswith("Уверенного ответа я не нашёл")


def test_off_topic_question_gets_no_closest_passage(faq: Library) -> None:
    for question in ("Who won the football World Cup in 2018?", "What is a good recipe for banana bread?"):
        result = answer(faq, question)
        assert not result.answered and result.closest is None
        assert as_json(result)["closest"] is None
        assert plain(result).startswith("I couldn't find this in the documents.")


def test_closest_passage_needs_the_question_s_most_specific_word(faq: Library) -> None:
    # "water" is everywhere here; "Mars" and "colonies" nowhere: the best sentence holds no specific word.
    result = answer(faq, "water colonies on Mars", min_confidence=1.0)
    assert not result.answered and result.closest is None


def test_a_word_the_corpus_lacks_leaves_the_closest_passage_to_the_rarest_word_it_has(faq: Library) -> None:
    # "rain" is nowhere in the corpus; "brown", in two of its sentences, says where to look.
    result = answer(faq, "Why is my water brown after the rain?", min_confidence=1.0)
    assert result.closest is not None and result.closest.text == "Rust stirred up in the mains makes it brown."


TARIFFS = {
    "heat.md": "# Heat tariffs\n\n## Heating\n\n"
    "Flats without a building meter pay 215 tenge per square metre a month. Flats with one pay by its reading.\n\n"
    "## Hot water\n\nA cubic metre of hot water costs 540 tenge.\n\n"
    "## Discounts\n\nPensioners living alone get a discount of 25 percent on heating and hot water.\n",
}


def test_the_hand_over_moves_a_sentence_up_only_past_those_that_hold_less(build: Build) -> None:
    library = build(TARIFFS)
    ids = {library.sentence(i).text.split()[0]: i for i in range(library.sentence_count)}
    rows = np.array([ids["Heating"], ids["Pensioners"], ids["Flats"]])
    scores = np.array([3.0, 2.0, 1.0])
    # Holding as much as the others, the heading's sentence takes its first place; holding less, it stops
    # below the one that holds more.
    assert rows[first_under_headings(library, rows, scores, np.array([0.5, 0.5, 0.5]))].tolist() == [
        ids["Flats"],
        ids["Heating"],
        ids["Pensioners"],
    ]
    covered = np.array([0.5, 1.0, 0.5])
    assert rows[first_under_headings(library, rows, scores, covered)].tolist() == [
        ids["Pensioners"],
        ids["Flats"],
        ids["Heating"],
    ]


SECTIONS = {
    "meters.md": "# Meter questions\n\n"
    "## How do I read my meter?\n\n"
    "The meter sits in a chamber under a metal lid by the gate. "
    "Read the black digits from left to right and ignore the red ones.\n\n"
    "## Who replaces a broken meter?\n\n"
    "We replace it free of charge within ten days. Call 0800 555 0100 to book a visit. "
    "An engineer seals the new meter. The old one is taken away. You get a letter with the new number.\n",
}


def test_a_sentence_of_a_short_section_is_quoted_with_its_whole_section_in_reading_order(build: Build) -> None:
    library = build(SECTIONS)
    result = answer(library, "Which digits do I read, black or red?", min_confidence=0.0)
    first = result.quotes[0]
    assert first.text == "The meter sits in a chamber under a metal lid by the gate."
    assert first.follow == ("Read the black digits from left to right and ignore the red ones.",)
    assert first.context is None
    assert "The meter sits in a chamber under a metal lid by the gate. Read the black digits" in plain(result)
    # Neither sentence of the section is quoted again on its own.
    assert all(quote.text not in first.follow for quote in result.quotes[1:])


def test_a_longer_section_is_quoted_a_sentence_at_a_time(build: Build) -> None:
    result = answer(build(SECTIONS), "Which number do I call to book a visit?", min_confidence=0.0)
    assert result.quotes[0].text == "Call 0800 555 0100 to book a visit."
    assert result.quotes[0].follow == ()


def test_more_never_repeats_a_sentence_of_a_section_already_shown(build: Build) -> None:
    library = build(SECTIONS)
    result = answer(library, "How do I read my meter digits?", min_confidence=0.0, max_quotes=1)
    assert result.quotes[0].follow
    shown = shown_ids(library, result)
    assert len(shown) == 2
    more = answer(library, "How do I read my meter digits?", min_confidence=0.0, exclude=shown)
    assert not {q.text for q in more.quotes} & set(result.quotes[0].sentences)


def _sentence_id(library: Library, text: str) -> int:
    return next(i for i in range(library.sentence_count) if library.sentence(i).text == text)


def test_the_asked_for_kind_of_fact_counts_anywhere_in_the_short_section_an_answer_shows(build: Build) -> None:
    visit, price = "The class will visit the museum in April.", "The trip costs 15,000 tenge per pupil."
    notes = build({"notes.md": f"# Class notes\n\n## Trip\n\n{visit} {price}\n\n## Repairs\n\nNew windows.\n"})
    question = analyze_question(notes, "How much does the museum visit cost?")
    assert passage_has_type(notes, question, _sentence_id(notes, visit))
    # Without headings the sentence is shown alone, and it holds no price.
    plain_notes = build({"notes.txt": f"{visit} The windows will be replaced. {price}\n"})
    asked = analyze_question(plain_notes, "How much does the museum visit cost?")
    assert not passage_has_type(plain_notes, asked, _sentence_id(plain_notes, visit))
    # A question that asks for no kind of fact has none to find.
    assert not passage_has_type(notes, analyze_question(notes, "Which museum?"), _sentence_id(notes, visit))
