"""The analyzer: one set of terms for corpus sentences and questions alike, in English and Russian.

Sentence splitting of tricky prose is covered by test_core_sentences.py; here, only Markdown blocks.
"""

from __future__ import annotations

import re

import pytest

from bot.ingest.corpus import Document
from bot.text.analyzers import LANGUAGES, Analyzer, analyze

EN = Analyzer()
RU = Analyzer("russian")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, World!", ["hello", "world"]),
        (
            "It's 48 projects worth $8 billion (1992–2024).",
            ["it", "s", "48", "projects", "worth", "8", "billion", "1992", "2024"],
        ),
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
    assert "ru:2024" in RU.terms("в 2024 году")


@pytest.mark.parametrize(
    ("forms", "stem"),
    [
        (["проекты", "проекта", "проектов", "Проект"], "проект"),
        (["правительство", "Правительства", "правительству"], "правительств"),
        (["национальный", "национального", "национальных"], "национальн"),
    ],
)
def test_russian_stems_cyrillic_forms_to_one_term(forms: list[str], stem: str) -> None:
    assert [RU.terms(form) for form in forms] == [[f"ru:{stem}"]] * len(forms)


def test_russian_drops_russian_stop_words_and_english_keeps_them() -> None:
    stop = "и в на не что как он она они по с"
    assert RU.terms(stop) == []
    assert EN.terms(stop) != []  # English has no Russian stop words: the languages really differ
    assert RU.terms("Правительство утвердило национальный проект") == [
        "ru:правительств",
        "ru:утверд",
        "ru:национальн",
        "ru:проект",
    ]


def test_english_stemmer_leaves_cyrillic_alone_and_russian_stemmer_leaves_latin_alone() -> None:
    assert EN.terms("проекты") == ["проекты"]
    assert RU.terms("projects") == ["ru:projects"]


def test_analyzer_key_names_language_and_changes_with_it() -> None:
    assert EN.key.endswith(":en") and RU.key.endswith(":ru") and EN.key != RU.key


def test_analyze_counts_terms_per_sentence() -> None:
    document = Document(
        path="d.md", title="Water projects", text="Water projects. Clean water, clean water!\n\nThe end."
    )
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
        (
            "Line wrapped\nin the middle of a sentence. Next one.",
            ["Line wrapped in the middle of a sentence.", "Next one."],
        ),
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


def test_language_names_and_codes_make_the_same_analyzer() -> None:
    assert Analyzer("russian") == Analyzer("ru") == Analyzer(" RU ")
    assert Analyzer("kazakh").language == "kk"


@pytest.mark.parametrize("language", ["xx", "klingon", ""])
def test_unsupported_language_is_refused_by_name(language: str) -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        Analyzer(language)


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_every_supported_language_analyzes_its_own_text(code: str) -> None:
    analyzer = Analyzer(code)
    assert analyzer.sentences("Alpha 1. Beta 2.")
    terms = analyzer.terms("Alpha 2024")
    assert terms and all(term.startswith(f"{code}:") for term in terms) != (code == "en")


def test_terms_of_different_languages_never_collide() -> None:
    # The same spelling in two languages' documents stays two terms in one index.
    languages = ["en", "de", "fr", "ru", "kk"]
    terms = [set(Analyzer(code).terms("Berlin 2024")) for code in languages]
    assert all(a.isdisjoint(b) for i, a in enumerate(terms) for b in terms[i + 1 :])


@pytest.mark.parametrize(
    ("corpus_form", "question_form"),
    [("met", "meet"), ("children", "child"), ("went", "go"), ("meeting", "meet")],
)
def test_english_lemmas_join_irregular_forms(corpus_form: str, question_form: str) -> None:
    assert EN.terms(corpus_form) == EN.terms(question_form)


@pytest.mark.parametrize(
    ("code", "forms"),
    [
        ("de", ["Häuser", "Häusern"]),
        ("fr", ["gouvernements", "gouvernement"]),
        ("es", ["naciones", "nación"]),
        ("tr", ["evler", "evlerde"]),
    ],
)
def test_snowball_languages_stem_their_inflections_together(code: str, forms: list[str]) -> None:
    analyzer = Analyzer(code)
    assert len({tuple(analyzer.terms(form)) for form in forms}) == 1


@pytest.mark.parametrize(
    ("code", "text"),
    [("de", "und der die das"), ("fr", "le la les et"), ("kk", "және мен бұл қандай"), ("ru", "и в на не")],
)
def test_each_language_drops_its_own_stop_words(code: str, text: str) -> None:
    assert Analyzer(code).terms(text) == []
    assert EN.terms(text)  # the words are stop words of that language, not of every language


KK = Analyzer("kk")


@pytest.mark.parametrize(
    ("forms", "term"),
    [
        (["теңіз", "теңізі", "теңізінің", "теңізде", "теңізге", "теңіздер"], "kk:теңіз"),
        (["Қазақстан", "Қазақстанда", "Қазақстанның", "қазақстандық"], "kk:қазақ"),
        (["өсімдік", "өсімдіктер", "өсімдіктерден"], "kk:өсімд"),
    ],
)
def test_kazakh_inflected_forms_share_a_term(forms: list[str], term: str) -> None:
    assert [KK.terms(form) for form in forms] == [[term]] * len(forms)


def test_kazakh_short_roots_stay_whole_and_question_words_are_dropped() -> None:
    assert KK.terms("Финка дегеніміз не?") == ["kk:финка"]
    assert KK.terms("көз тіс қан") == ["kk:көз", "kk:тіс", "kk:қан"]


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("Каких животных считают сестринской группой?", ["ru:животн", "ru:счита", "ru:сестринск", "ru:групп"]),
        ("Почему сеть Merit сформировалась в Мичигане?", ["ru:сет", "ru:merit", "ru:сформирова", "ru:мичиган"]),
        ("Что такое Интернет2?", ["ru:интернет2"]),
        (
            "С кем сотрудничал консорциум, который построил сеть?",
            ["ru:сотруднича", "ru:консорциум", "ru:постро", "ru:сет"],
        ),
    ],
)
def test_russian_question_words_in_any_case_are_not_terms(question: str, terms: list[str]) -> None:
    # "каких" would stem to "как", "почему" to "поч", "такое" to "так": terms that only match by accident.
    assert Analyzer("ru").terms(question) == terms
