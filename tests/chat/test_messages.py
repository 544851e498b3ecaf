"""The bot's fixed texts: every one in English, Russian and Kazakh, chosen by language code."""

from __future__ import annotations

import string

import pytest

from bot.chat import messages


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(messages.TEXTS))
def test_every_text_exists_in_each_language_with_the_same_placeholders(key: str) -> None:
    variants = messages.TEXTS[key]
    assert set(variants) == set(messages.LANGUAGES)
    assert fields(variants["ru"]) == fields(variants["en"]) == fields(variants["kk"])


@pytest.mark.parametrize("key", sorted(messages.TEXTS))
def test_russian_and_kazakh_are_translated(key: str) -> None:
    variants = messages.TEXTS[key]
    assert variants["ru"] != variants["en"] and variants["kk"] != variants["en"] and variants["kk"] != variants["ru"]


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("ru", "ru"),
        ("kk", "kk"),
        ("kk-KZ", "kk"),
        ("RU", "ru"),
        ("en-GB", "en"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_falls_back_to_english(code: str | None, language: str) -> None:
    assert messages.language(code) == language


def test_text_fills_values_in_the_chosen_language() -> None:
    assert (
        messages.text("not_admin", "kk", command="gaps")
        == "Кешіріңіз, /gaps командасын тек бот әкімшілері қолдана алады."
    )
    assert messages.text("not_found", "pt-BR") == "I couldn't find this in the documents."
