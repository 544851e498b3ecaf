"""Language detection: documents by front matter or text, questions weighed by what the corpus holds."""

from __future__ import annotations

import time

import pytest

from bot.corpus import Document
from bot.languages import Guess, detect, detectable, document_language, question_language

TEXTS = {
    "en": "The government approved the national project on water supply for the northern regions.",
    "ru": "Правительство утвердило национальный проект по водоснабжению северных регионов.",
    "kk": "Үкімет солтүстік өңірлерді сумен қамтамасыз ету жөніндегі ұлттық жобаны бекітті.",
    "de": "Die Regierung hat das nationale Projekt zur Wasserversorgung der nördlichen Regionen genehmigt.",
}


def document(text: str, language: str | None = None) -> Document:
    return Document(path="d.md", title="d", text=text, language=language)


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_document_language_is_detected_from_its_text(language: str) -> None:
    assert document_language(document(TEXTS[language])) == language


def test_front_matter_language_wins_over_the_text() -> None:
    assert document_language(document(TEXTS["en"], language="ru")) == "ru"
    assert document_language(document(TEXTS["en"], language="Russian")) == "ru"


@pytest.mark.parametrize("declared", ["xx", "english-ish", ""])
def test_unsupported_front_matter_language_falls_back_to_detection(declared: str) -> None:
    assert document_language(document(TEXTS["kk"], language=declared)) == "kk"


def test_a_restriction_to_one_language_forces_it() -> None:
    assert document_language(document(TEXTS["ru"]), {"en"}) == "en"
    assert document_language(document(TEXTS["ru"], language="kk"), {"en", "ru"}) == "ru"


def test_detection_only_answers_with_allowed_languages() -> None:
    assert detect(TEXTS["kk"], {"en", "ru"}) == "ru"
    assert {"en", "ru", "kk", "de"} <= detectable()
    with pytest.raises(ValueError, match="no detectable language"):
        detect("text", {"xx"})


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Who did the prime minister meet?", "en"),
        ("С кем встретился премьер-министр?", "ru"),
        ("Премьер-министр кіммен кездесті?", "kk"),
        ("Финка дегеніміз не?", "kk"),
        ("what is it", "en"),
    ],
)
def test_question_language_among_the_corpus_languages(question: str, language: str) -> None:
    guess = question_language(question, {"en": 1 / 3, "ru": 1 / 3, "kk": 1 / 3})
    assert guess.language == language
    assert sum(p for _, p in guess.ranked) == pytest.approx(1.0)


def test_a_question_without_language_signal_follows_the_corpus_mix() -> None:
    # "2024?" says nothing about its language: the corpus's own mix decides, and the caller is told it is unsure.
    mostly_russian = question_language("2024?", {"en": 0.1, "ru": 0.9})
    mostly_english = question_language("2024?", {"en": 0.9, "ru": 0.1})
    assert mostly_russian.language == "ru" and mostly_english.language == "en"
    assert mostly_russian.probability < 0.95


def test_an_unsure_guess_offers_the_runner_up_too() -> None:
    assert Guess((("en", 0.6), ("ru", 0.4))).likely() == ("en", "ru")
    assert Guess((("en", 0.97), ("ru", 0.03))).likely() == ("en",)


def test_a_one_language_corpus_needs_no_detection() -> None:
    assert question_language("Кто это?", {"en": 1.0}).ranked == (("en", 1.0),)


def test_a_language_the_classifier_does_not_know_keeps_its_prior_share() -> None:
    # Yiddish has a stemmer but py3langid has no model for it; a front matter can still declare it.
    guess = question_language("Who is it?", {"en": 0.5, "yi": 0.5})
    assert dict(guess.ranked)["yi"] == pytest.approx(0.5) and guess.language in {"en", "yi"}


def test_an_empty_prior_is_refused() -> None:
    with pytest.raises(ValueError, match="empty prior"):
        question_language("Who?", {})


def test_question_detection_does_not_hang_on_long_input() -> None:
    started = time.perf_counter()
    question_language("word " * 20_000, {"en": 0.5, "ru": 0.5})
    assert time.perf_counter() - started < 5
