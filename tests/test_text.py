"""The analyzer: one set of terms for corpus sentences and questions alike, in English and Russian.

Sentence splitting of tricky prose is covered by test_core_sentences.py; here, only Markdown blocks.
"""

from __future__ import annotations

import re

import pytest

from bot.corpus import Document
from bot.text import Analyzer, analyze

EN = Analyzer()
RU = Analyzer("russian")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("It's 48 projects worth $8 billion (1992–2024).", ["it", "s", "48", "projects", "worth", "8", "billion", "1992", "2024"]),
        ("COVID-19 e-mail", ["covid", "19", "e", "mail"]),
        ("café naïve Zürich", ["café", "naïve", "zürich"]),
        ("Straße", ["strasse"]),  # full case folding, not just lower()
        ("Москва, 2024 год", ["москва", "2024", "год"]),
        ("日本語 テキスト", ["日本語", "テキスト"]),
        ("  \n\t ", []),
    ],
)
def test_words_are_unicode_case_folded_tokens(text: str, words: list[str]) -> None:
    assert EN.words(text) == words


@pytest.mark.parametrize(
    ("corpus_form", "question_form"),
    [
        ("projects", "project"),
        ("Projects", "PROJECT"),
        ("financed", "financing"),
        ("connections", "connected"),
        ("running", "runs"),
        ("modernization", "modernization's"),
        ("railways", "railway"),
    ],
)
def test_corpus_and_question_forms_share_a_term(corpus_form: str, question_form: str) -> None:
    assert EN.terms(corpus_form)
    assert EN.terms(corpus_form)[0] == EN.terms(question_form)[0]


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Who did the prime minister meet?", ["prime", "minist", "meet"]),
        ("The PROJECTS were financed!", ["project", "financ"]),
        ("In 1992 there were 48 projects", ["1992", "48", "project"]),
        ("the of and is was what who when", []),
        ("", []),
    ],
)
def test_english_terms_drop_stop_words_and_stem(text: str, terms: list[str]) -> None:
    assert EN.terms(text) == terms


def test_digits_are_kept_as_terms() -> None:
    assert {"48", "8", "2024"} <= set(EN.terms("48 projects, $8 billion, in 2024"))
    assert "2024" in RU.terms("в 2024 году")


@pytest.mark.parametrize(
    ("forms", "stem"),
    [
        (["проекты", "проекта", "проектов", "Проект"], "проект"),
        (["правительство", "Правительства", "правительству"], "правительств"),
        (["национальный", "национального", "национальных"], "национальн"),
    ],
)
def test_russian_stems_cyrillic_forms_to_one_term(forms: list[str], stem: str) -> None:
    assert [RU.terms(form) for form in forms] == [[stem]] * len(forms)


def test_russian_drops_russian_stop_words_and_english_keeps_them() -> None:
    stop = "и в на не что как он она они по с"
    assert RU.terms(stop) == []
    assert EN.terms(stop) != []  # English has no Russian stop words: the languages really differ
    assert RU.terms("Правительство утвердило национальный проект") == ["правительств", "утверд", "национальн", "проект"]


def test_english_stemmer_leaves_cyrillic_alone_and_russian_stemmer_leaves_latin_alone() -> None:
    assert EN.terms("проекты") == ["проекты"]
    assert RU.terms("projects") == ["projects"]


def test_analyzer_key_names_language_and_changes_with_it() -> None:
    assert "english" in EN.key and "russian" in RU.key and EN.key != RU.key


def test_analyze_counts_terms_per_sentence() -> None:
    document = Document(path="d.md", title="Water projects", text="Water projects. Clean water, clean water!\n\nThe end.")
    analyzed = analyze(document, EN)
    assert analyzed.sentences == ("Water projects.", "Clean water, clean water!", "The end.")
    assert analyzed.title_terms == ("water", "project")
    assert analyzed.lengths.tolist() == [2, 4, 1]
    counts = {
        (int(r), analyzed.terms[int(c)]): int(n) for r, c, n in zip(analyzed.rows, analyzed.columns, analyzed.counts)
    }
    assert counts == {(0, "water"): 1, (0, "project"): 1, (1, "water"): 2, (1, "clean"): 2, (2, "end"): 1}


# --- Markdown blocks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Line wrapped\nin the middle of a sentence. Next one.", ["Line wrapped in the middle of a sentence.", "Next one."]),
        ("## Results\n\nThe plan worked.", ["Results", "The plan worked."]),
        ("- item one\n  continues the item\n- item two", ["item one continues the item", "item two"]),
        ("> A quoted line. Another.", ["A quoted line.", "Another."]),
        ("Windows\r\nline endings.\r\n\r\nSecond paragraph.", ["Windows line endings.", "Second paragraph."]),
        ("Unfinished paragraph\n\nNext paragraph.", ["Unfinished paragraph", "Next paragraph."]),
    ],
)
def test_blocks_become_sentences(text: str, sentences: list[str]) -> None:
    assert EN.sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        # A heading stands alone even when the text follows on the very next line.
        ("# Title\nText of the article.", ["Title", "Text of the article."]),
        ("Intro.\n## Method\nWe measured twice.", ["Intro.", "Method", "We measured twice."]),
        # A horizontal rule is markup, never part of a sentence.
        ("Para one.\n---\nPara two.", ["Para one.", "Para two."]),
    ],
)
def test_headings_and_rules_stand_alone(text: str, sentences: list[str]) -> None:
    assert EN.sentences(text) == sentences


def test_numbered_list_markers_are_not_sentences() -> None:
    sentences = EN.sentences("Steps:\n1. Dig a hole.\n2. Plant the tree.\n3) Water it well.")
    assert not [s for s in sentences if re.fullmatch(r"\d+[.)]", s)], sentences
    for item in ("Dig a hole.", "Plant the tree.", "Water it well."):
        assert any(s.endswith(item) for s in sentences), (item, sentences)


def test_a_wall_of_text_is_cut_between_sentences() -> None:
    sentence = "The committee reviewed the annual budget for the water sector in detail. "
    sentences = EN.sentences(sentence * 300)  # ~22,000 characters with no paragraph break
    assert len(sentences) == 300
    assert set(sentences) == {sentence.strip()}
