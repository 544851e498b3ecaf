"""Language detection: documents by front matter or text, questions weighed by what the corpus holds."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.index.loader import load_library
from bot.ingest.corpus import Document
from bot.text import languages
from bot.text.languages import Guess, detect, detectable, document_language, question_language
from tests.helpers import Build

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


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Our annual report.", "en"),  # the classifier alone: Esperanto
        ("New ferry timetable from Monday.", "en"),
        ("Новое расписание.", "ru"),
        ("Жаңа кесте.", "kk"),
        ("Die Regierung hat das nationale Projekt zur Wasserversorgung genehmigt.", "de"),  # sure: kept
    ],
)
def test_a_few_words_the_classifier_is_unsure_of_are_read_by_their_script(text: str, language: str) -> None:
    assert document_language(document(text)) == language


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


# The classifier's model, unpacked once into the cache folder and mapped by later processes.


@pytest.fixture
def fresh_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each call of the test starts as a new process would: no model in memory, none kept anywhere."""

    def forget() -> None:
        for cached in (languages._model, languages._identifier, languages.detectable):
            cached.cache_clear()

    forget()
    yield
    forget()


def kept_folders(home: Path) -> list[Path]:
    return sorted(home.glob(f"{languages.MODEL_PREFIX}*"))


def unpacking_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, unpacking the package's compressed model fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the compressed model was unpacked")

    monkeypatch.setattr(languages.LanguageIdentifier, "from_model_file", classmethod(refuse))


def detections(home: Path | None = None) -> dict[str, str]:
    return {language: detect(text, home=home) for language, text in TEXTS.items()}


def test_a_kept_model_is_mapped_instead_of_unpacked(
    fresh_model: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path
    first = detections(home)
    [folder] = kept_folders(tmp_path)
    # Plain arrays: every file loads without pickle.
    for name in languages.MODEL_ARRAYS:
        np.load(folder / f"{name}.npy", allow_pickle=False)
    languages._model.cache_clear()
    languages._identifier.cache_clear()
    unpacking_forbidden(monkeypatch)
    assert detections(home) == first == {language: language for language in TEXTS}
    guess = question_language("С кем встретился премьер-министр?", {"en": 0.5, "ru": 0.5}, home)
    assert guess.language == "ru"


def test_without_a_folder_the_model_is_unpacked_and_nothing_is_written(fresh_model: None, tmp_path: Path) -> None:
    assert detections() == {language: language for language in TEXTS}
    assert not list(tmp_path.rglob(f"*{languages.MODEL_PREFIX}*"))  # the working directory and HOME included


def _truncate(folder: Path) -> None:
    path = folder / "nextmove.npy"
    path.write_bytes(path.read_bytes()[:1000])


def _garble_classes(folder: Path) -> None:
    (folder / "classes.json").write_bytes(b"\xff{not json")


def _point_outside(folder: Path) -> None:
    # A well-formed array whose transitions lead to states that do not exist.
    nextmove = np.load(folder / "nextmove.npy")
    nextmove[:256] = np.iinfo(nextmove.dtype).max
    np.save(folder / "nextmove.npy", nextmove)


def _pickled(folder: Path) -> None:
    np.save(folder / "ptc.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)


@pytest.mark.parametrize("spoil", [_truncate, _garble_classes, _point_outside, _pickled])
def test_a_spoilt_kept_model_is_unpacked_again(
    fresh_model: None, tmp_path: Path, spoil: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path
    detections(home)
    [folder] = kept_folders(tmp_path)
    spoil(folder)
    languages._model.cache_clear()
    languages._identifier.cache_clear()
    assert detections(home) == {language: language for language in TEXTS}
    assert "unusable" in caplog.text
    # Written anew, whole: the next process maps it again.
    languages._model.cache_clear()
    languages._identifier.cache_clear()
    monkeypatch = pytest.MonkeyPatch()
    try:
        unpacking_forbidden(monkeypatch)
        assert detections(home) == {language: language for language in TEXTS}
    finally:
        monkeypatch.undo()


def test_an_unwritable_cache_folder_only_costs_the_unpacking(fresh_model: None, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    home = blocker / "cache"
    assert detections(home) == {language: language for language in TEXTS}
    assert blocker.read_text() == "not a folder"


def test_a_kept_model_of_another_version_is_removed(fresh_model: None, tmp_path: Path) -> None:
    old = tmp_path / f"{languages.MODEL_PREFIX}0000000000000000"
    old.mkdir()
    (old / "ptc.npy").write_bytes(b"old")
    home = tmp_path
    detections(home)
    assert len(kept_folders(tmp_path)) == 1 and not old.exists()


def test_a_corpus_that_declares_its_languages_loads_without_the_classifier(
    fresh_model: None, build: Build, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    unpacking_forbidden(monkeypatch)
    library = build(
        {"a.md": f"---\nlanguage: ru\n---\n{TEXTS['ru']}\n", "b.md": f"---\nlanguage: en\n---\n{TEXTS['en']}\n"}
    )
    assert library.document_languages() == {"ru": 1, "en": 1}
    assert not kept_folders(tmp_path / "cache")


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_warm_load_detects_nothing(
    fresh_model: None, build: Build, monkeypatch: pytest.MonkeyPatch, snapshot: bool
) -> None:
    files = {f"{language}.md": text for language, text in TEXTS.items()}
    first = build(files, snapshot=snapshot)
    assert len(first.entries) == len(TEXTS)
    [folder] = kept_folders(Path("cache"))
    shutil.rmtree(folder)  # and no kept model either: the languages must come from the cached analyses
    languages._model.cache_clear()
    unpacking_forbidden(monkeypatch)
    again = load_library(Path("corpus0"), Path("cache"), snapshot=snapshot)
    assert {e.document.path: e.language for e in again.entries} == {f"{code}.md": code for code in TEXTS}


OPENINGS = {
    "a numbers table": "| 2023 | 1 234,5 | 12% | 0,75 |\n" * 40,
    "a column of dates": "2023-01-01 12:00 — 1 234,5\n" * 40,
    "a heading padded with non-breaking spaces": "# " + "\u00a0" * 600 + "Report\u00a0\u00a0\n\n",
}


@pytest.mark.parametrize("opening", sorted(OPENINGS))
@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_a_document_is_detected_by_its_words_not_what_it_opens_with(opening: str, language: str) -> None:
    body = " ".join([TEXTS[language]] * 6)
    assert document_language(document(OPENINGS[opening] + body)) == language


def test_the_sample_is_taken_from_across_a_long_text() -> None:
    # A long appendix in another language does not decide, nor does a long opening: the words across the text do.
    text = TEXTS["de"] * 3 + " " + " ".join([TEXTS["en"]] * 200) + " " + TEXTS["de"] * 3
    assert document_language(document(text)) == "en"
