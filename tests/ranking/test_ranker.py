"""The fitted ranker: its file, its models, and how answers use its probability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.ranking import ranker
from bot.ranking.answer import answer
from bot.ranking.features import INDEX_FEATURES, SEMANTIC_FEATURES, TEXT_FEATURES, analyze_question
from bot.ranking.ranker import ANSWER_FEATURES, MODEL_FILE, SEMANTIC_ANSWER_FEATURES, LinearModel, read_ranker
from bot.text.embeddings import Embedder
from tests.helpers import MINI_CORPUS, Build


def test_linear_model_round_trips_through_its_json_form() -> None:
    model = LinearModel(("a", "b"), np.array([1.0, 2.0]), np.array([0.5, 4.0]), np.array([2.0, -1.0]), 0.25)
    again = LinearModel.from_dict(json.loads(json.dumps(model.as_dict())))
    x = np.array([[2.0, 6.0], [0.0, 0.0]])
    assert again.names == ("a", "b")
    np.testing.assert_allclose(again.logits(x), model.logits(x))
    np.testing.assert_allclose(
        model.logits(x), [(2 - 1) / 0.5 * 2 - (6 - 2) / 4 + 0.25, (0 - 1) / 0.5 * 2 + 0.5 + 0.25]
    )


def test_shipped_ranker_matches_the_code_and_says_how_it_was_made() -> None:
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    shipped = read_ranker(MODEL_FILE)
    assert shipped.second.names == INDEX_FEATURES + TEXT_FEATURES and shipped.answers.names == ANSWER_FEATURES
    assert 0.0 < shipped.threshold < 1.0 and shipped.shortlist >= 10
    assert data["split"] == "bot/data/splits.json" and data["training"]["questions"]
    assert set(data["variants"]) == {"words", "semantic"}
    assert f"{shipped.threshold:.2f}" in data["variants"]["words"]["dev"]


def test_the_semantic_variant_reads_embeddings_and_keeps_words_for_other_languages(embedder: Embedder) -> None:
    shipped = read_ranker(MODEL_FILE, embedder)
    assert shipped.semantic and shipped.second.names == INDEX_FEATURES + TEXT_FEATURES + SEMANTIC_FEATURES
    assert shipped.answers.names == SEMANTIC_ANSWER_FEATURES
    assert shipped.fallback is not None and not shipped.fallback.semantic
    assert shipped.fallback.second.names == INDEX_FEATURES + TEXT_FEATURES


def test_a_file_fitted_without_embeddings_ranks_by_words(tmp_path: Path, embedder: Embedder) -> None:
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    del data["variants"]["semantic"]
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert not read_ranker(path, embedder).semantic


@pytest.mark.parametrize("variant", ["words", "semantic"])
def test_a_ranker_file_for_other_features_is_refused(tmp_path: Path, variant: str, embedder: Embedder) -> None:
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    second = data["variants"][variant]["models"]["second"]["features"]
    second["renamed"] = second.pop("lead")
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="this code computes"):
        read_ranker(path, embedder)


def test_rank_orders_by_score_and_gives_a_probability(build: Build) -> None:
    library = build(MINI_CORPUS)
    ranking = ranker.rank(
        library, analyze_question(library, "Which is the most active volcano in Europe?"), ranker.default_ranker()
    )
    assert list(ranking.scores) == sorted(ranking.scores, reverse=True)
    assert library.sentence(int(ranking.rows[0])).text == "Mount Etna is the most active volcano in Europe."
    assert 0.0 < ranking.probability < 1.0


@pytest.mark.parametrize(("bar", "answered"), [(0.0, True), (1.0, False)])
def test_min_confidence_is_the_probability_bar(build: Build, bar: float, answered: bool) -> None:
    library = build(MINI_CORPUS)
    result = answer(library, "Which is the most active volcano in Europe?", min_confidence=bar)
    assert result.answered is answered
    assert result.results[0].sentence.text == "Mount Etna is the most active volcano in Europe."


def test_default_bar_is_the_rankers_threshold(build: Build) -> None:
    library = build(MINI_CORPUS)
    question = "Which is the most active volcano in Europe?"
    result = answer(library, question)
    assert result.answered is (result.probability >= ranker.default_ranker().threshold)
    assert answer(library, question, min_confidence=result.probability).answered
