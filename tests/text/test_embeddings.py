"""Word embeddings as a ranking signal: the vectors, the package's own files, and answers without them."""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bot import cli
from bot.config import Settings
from bot.ranking import ranker as ranker_module
from bot.ranking.answer import answer
from bot.ranking.features import analyze_question
from bot.ranking.ranker import default_ranker, rank
from bot.text import embeddings as semantic
from bot.text.analyzers import Analyzer
from bot.text.embeddings import Embedder
from tests.helpers import MINI_CORPUS, SEED_CORPUS, Build


class WordTokenizer:
    """A stand-in tokenizer: one token per known word, unknown words dropped."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.ids = {word: i for i, word in enumerate(vocabulary)}

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[SimpleNamespace]:
        return [SimpleNamespace(ids=[self.ids[w] for w in text.lower().split() if w in self.ids]) for text in texts]


@pytest.fixture
def tiny() -> Embedder:
    matrix = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float16)
    return Embedder(WordTokenizer(["cat", "dog", "pet", "car"]), matrix)


def test_a_text_is_the_unit_mean_of_its_token_vectors(tiny: Embedder) -> None:
    vectors = tiny.embed(["cat dog", "car", "nothing known"])
    np.testing.assert_allclose(vectors[0], [2**-0.5, 2**-0.5, 0], rtol=1e-3)
    np.testing.assert_allclose(vectors[1], [0, 0, 1])
    np.testing.assert_array_equal(vectors[2], [0, 0, 0])  # no token: no direction, similar to nothing


def test_similarities_rank_sentences_by_meaning(tiny: Embedder) -> None:
    similarity = tiny.similarities("pet", ["cat", "car", "dog cat"])
    assert similarity.argmax() == 2 and similarity[1] == 0.0
    assert len(tiny.similarities("pet", [])) == 0


@pytest.fixture
def uncached() -> Iterator[None]:
    """default_embedder looks for the package again, and forgets what it found after the test."""
    semantic.default_embedder.cache_clear()
    yield
    semantic.default_embedder.cache_clear()


def test_without_the_package_there_is_no_embedder(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, uncached: None
) -> None:
    monkeypatch.setattr(semantic.importlib.util, "find_spec", lambda name: None)
    with caplog.at_level(logging.INFO, logger="bot.text.embeddings"):
        assert semantic.default_embedder() is None
    assert "citebot[semantic]" in caplog.text


def test_damaged_package_files_turn_the_signal_off_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, uncached: None
) -> None:
    (tmp_path / semantic.TOKENIZER).parent.mkdir(parents=True)
    (tmp_path / semantic.TOKENIZER).write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(semantic, "package_folder", lambda: tmp_path)
    with caplog.at_level(logging.WARNING, logger="bot.text.embeddings"):
        assert semantic.default_embedder() is None
    assert "semantic signal off" in caplog.text


def test_the_installed_vectors_put_paraphrases_near_each_other(embedder: Embedder) -> None:
    similarity = embedder.similarities(
        "When were the joint projects carried out?",
        ["The projects were implemented from 1992 to 2024.", "The Aral Sea is shrinking."],
    )
    assert similarity[0] > similarity[1]
    # Read from the package's files: wordllama's own loader (which would go to the network) is never imported.
    assert "wordllama" not in sys.modules


def test_words_alone_by_default() -> None:
    assert not default_ranker().semantic


@pytest.mark.parametrize("semantic", [False, True])
def test_answers_with_or_without_embeddings(build: Build, embedder: Embedder, semantic: bool) -> None:
    library = build(MINI_CORPUS)
    result = answer(library, "Which is the most active volcano in Europe?", semantic=semantic)
    assert result.answered and result.quotes[0].text == "Mount Etna is the most active volcano in Europe."
    assert (
        result.probability
        != answer(library, "Which is the most active volcano in Europe?", semantic=not semantic).probability
    )


def test_the_setting_turns_the_embeddings_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().answer_options()["semantic"] is False
    monkeypatch.setenv("CITEBOT_SEMANTIC", "true")
    assert Settings().answer_options()["semantic"] is True


def test_a_question_in_another_language_is_ranked_by_words(build: Build, embedder: Embedder) -> None:
    library = build(MINI_CORPUS)
    ranker = default_ranker(semantic=True)
    question = analyze_question(library, "Which is the most active volcano in Europe?")
    assert rank(library, question, ranker).threshold == ranker.threshold
    russian = dataclasses.replace(question, analyzer=Analyzer("ru"))
    assert ranker.for_question(russian) is ranker.fallback
    assert rank(library, russian, ranker).threshold == ranker.fallback.threshold


def test_asking_for_missing_embeddings_is_said_once_at_start(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    uncached: None,
) -> None:
    monkeypatch.setattr(semantic.importlib.util, "find_spec", lambda name: None)
    ranker_module.default_ranker.cache_clear()
    monkeypatch.setenv("CITEBOT_SEMANTIC", "true")
    try:
        assert cli.main(["ask", "--corpus", str(SEED_CORPUS), "Who did the Kazakh prime minister meet?"]) == 0
    finally:
        ranker_module.default_ranker.cache_clear()
    assert "Olzhas Bektenov" in capsys.readouterr().out  # answered, by words
    said = [
        r
        for r in caplog.records
        if "CITEBOT_SEMANTIC is on but the word embeddings are not installed" in r.getMessage()
    ]
    assert len(said) == 1 and said[0].levelno == logging.WARNING


def test_a_cache_cleared_by_another_thread_loses_no_vector(tiny: Embedder) -> None:
    class ClearedAtOnce(dict):
        """A shared cache that another answer's thread empties right after each update."""

        def update(self, *args: object) -> None:
            super().update(*args)
            self.clear()

    tiny._words = ClearedAtOnce()
    vectors = tiny.words(["cat", "dog", "cat"])
    assert vectors.shape == (3, 3)
    np.testing.assert_allclose(vectors[0], vectors[2])
