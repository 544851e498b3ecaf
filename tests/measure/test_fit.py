"""Splits and `citebot fit`: questions go to their article's part, fitting reads train and dev only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot import cli
from bot.index.loader import load_library
from bot.measure import fit
from bot.measure.evaluation import Question, question_documents, read_questions, select_split, split_articles
from bot.ranking.ranker import read_ranker
from bot.text.embeddings import default_embedder
from tests.helpers import write_files


def article(title: str, *sentences: str) -> str:
    return f'---\ntitle: "{title}"\n---\n' + "\n\n".join(sentences) + "\n"


# Two train articles, two dev, one test (bot/data/splits.json), each with one fact per sentence.
ARTICLES = {
    "Geology": (
        "Geology",
        "Rocks form from cooled magma.",
        "Fossils date the layers of sediment.",
        "Erosion carves deep valleys.",
    ),
    "Ctenophora": (
        "Ctenophora",
        "Comb jellies swim with rows of cilia.",
        "Most ctenophores eat plankton.",
        "They glow in the dark sea.",
    ),
    "Huguenot": (
        "Huguenot",
        "Huguenots were French Protestants.",
        "Many fled to the Dutch Republic.",
        "Their churches were burned.",
    ),
    "Private_school": (
        "Private school",
        "Private schools charge tuition fees.",
        "Boarding schools house their pupils.",
        "Uniforms are common there.",
    ),
    "Normans": (
        "Normans",
        "The Normans settled in Normandy.",
        "Rollo was their first ruler.",
        "They conquered England in 1066.",
    ),
}
QUESTIONS = {
    "Geology": [
        ("What forms rocks?", "Rocks form from cooled magma."),
        ("What carves valleys?", "Erosion carves deep valleys."),
    ],
    "Ctenophora": [
        ("How do comb jellies swim?", "Comb jellies swim with rows of cilia."),
        ("What do ctenophores eat?", "Most ctenophores eat plankton."),
    ],
    "Huguenot": [
        ("Where did Huguenots flee?", "Many fled to the Dutch Republic."),
        ("Who were the Huguenots?", "Huguenots were French Protestants."),
    ],
    "Private_school": [
        ("What do private schools charge?", "Private schools charge tuition fees."),
        ("Who lives in boarding schools?", "Boarding schools house their pupils."),
    ],
    "Normans": [
        ("Where did the Normans settle?", "The Normans settled in Normandy."),
        ("When was England conquered?", "They conquered England in 1066."),
    ],
}


def qa_lines(prefix: str = "") -> list[str]:
    lines = []
    for name, pairs in QUESTIONS.items():
        for i, (question, expected) in enumerate(pairs):
            lines.append(json.dumps({"id": f"{prefix}{name}-{i}", "question": question, "expected": [expected]}))
        # Unanswerable questions follow their article's answerable ones.
        lines.append(json.dumps({"id": f"{prefix}{name}-none", "question": f"Who painted {name}?", "expected": []}))
    return lines


def benchmarks(root: Path) -> Path:
    corpus = {f"{name}.md": article(*text) for name, text in ARTICLES.items()}
    wiki = {
        "D1.md": article("Lighthouses", "A lighthouse guides ships at night.", "The lamp turns every ten seconds."),
        "D2.md": article("Bread", "Bread is baked from flour and water.", "Yeast makes the dough rise."),
    }
    wiki_qa = [
        json.dumps(
            {"id": "w1", "question": "What guides ships at night?", "expected": ["A lighthouse guides ships at night."]}
        ),
        json.dumps({"id": "w2", "question": "What makes dough rise?", "expected": ["Yeast makes the dough rise."]}),
    ]
    for part in ("train", "dev"):
        write_files(root / "wikiqa" / part, {"questions.jsonl": "\n".join(wiki_qa) + "\n"})
        write_files(root / "wikiqa" / part / "corpus", wiki)
    # The test part is never read: were it read, this line would stop the fit.
    write_files(root / "wikiqa", {"questions.jsonl": "not a QA line\n"})
    write_files(root / "squad2", {"questions.jsonl": "\n".join(qa_lines()) + "\n"})
    write_files(root / "squad2" / "corpus", corpus)
    write_files(root / "xquad", {"questions_en.jsonl": "\n".join(qa_lines("en:")) + "\n"})
    write_files(root / "xquad" / "corpus" / "en", corpus)
    return root


def test_split_file_parts_articles_by_title_hash() -> None:
    parts = split_articles()
    assert parts["Normans"] == "test" and parts["Huguenot"] == "dev" and parts["Geology"] == "train"
    assert parts["Арал теңізі"] in ("dev", "test")  # KazQAD's articles are halved into dev and test
    counts = {p: sum(1 for v in parts.values() if v == p) for p in ("train", "dev", "test")}
    assert counts == {"train": 8, "dev": 4 + 84, "test": 4 + 118}  # the 16 SQuAD-derived articles, then KazQAD's 202


def test_questions_go_to_the_document_of_their_expected_sentence_or_the_one_before(tmp_path: Path) -> None:
    root = benchmarks(tmp_path / "b")
    library = load_library(root / "squad2" / "corpus", tmp_path / "cache")
    questions = read_questions(root / "squad2" / "questions.jsonl")
    titles = [library.documents[n].title if n is not None else None for n in question_documents(questions, library)]
    assert titles[:6] == ["Geology"] * 3 + ["Ctenophora"] * 3  # the unanswerable third follows its article
    test = select_split(questions, library, "test")
    assert [q.id for q in test] == ["Normans-0", "Normans-1", "Normans-none"]
    assert {q.id for q in select_split(questions, library, "dev")} == {
        "Huguenot-0",
        "Huguenot-1",
        "Huguenot-none",
        "Private_school-0",
        "Private_school-1",
        "Private_school-none",
    }


def test_a_question_whose_expected_sentence_is_cut_otherwise_still_has_its_document(tmp_path: Path) -> None:
    # The benchmark's splitter kept a list item's marker that citebot's reading drops: the expected sentence is
    # not in the document's text as such, yet a sentence of it matches by the scoring rule.
    corpus = write_files(
        tmp_path / "c",
        {
            "a.md": article("Bread", "Bread is baked from flour and water."),
            "b.md": article("Lighthouses", "Some facts:", "* The lamp turns every ten seconds on stormy nights."),
        },
    )
    library = load_library(corpus, tmp_path / "cache")
    questions = [
        Question("q1", "How often does the lamp turn?", ("* The lamp turns every ten seconds on stormy nights.",)),
        Question("q2", "Who lit the lamp?", ()),
        Question("q3", "What is bread made of?", ("Bread is baked from flour and water.",)),
    ]
    titles = [library.documents[n].title if n is not None else None for n in question_documents(questions, library)]
    assert titles == ["Lighthouses", "Lighthouses", "Bread"]


def test_a_file_without_split_articles_is_refused(tmp_path: Path) -> None:
    library = load_library(
        write_files(tmp_path / "c", {"a.md": article("Bread", "Bread is baked.")}), tmp_path / "cache"
    )
    with pytest.raises(ValueError, match="no split"):
        select_split([Question("q", "What is baked?", ("Bread is baked.",))], library, "test")


def test_eval_split_option_scores_only_that_part(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = benchmarks(tmp_path / "b")
    code = cli.main(
        [
            "eval",
            str(root / "squad2" / "questions.jsonl"),
            "--corpus",
            str(root / "squad2" / "corpus"),
            "--split",
            "test",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "questions:   2 answerable, 1 unanswerable (split test)" in out


def test_fit_logistic_finds_the_signal_and_is_deterministic() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + 0.1 * rng.normal(size=400) > 0).astype(float)
    model = fit.fit_logistic(x, y, np.ones(400), ("signal", "noise"), l2=1.0)
    again = fit.fit_logistic(x, y, np.ones(400), ("signal", "noise"), l2=1.0)
    assert model.weights[0] > 2 and abs(model.weights[1]) < 0.5
    np.testing.assert_array_equal(model.weights, again.weights)
    assert ((model.logits(x) > 0) == (y == 1)).mean() > 0.95


def test_choose_threshold_keeps_the_answered_share() -> None:
    def row(answered: float) -> dict[str, dict[str, float]]:
        return {name: {"answered": answered} for name in fit.BENCHMARKS}

    assert fit.choose_threshold({"0.10": row(0.95), "0.20": row(0.9), "0.30": row(0.8)}) == 0.2
    assert fit.choose_threshold({"0.10": row(0.5), "0.20": row(0.4)}) == 0.1


def test_choose_threshold_counts_the_small_corpora_when_there() -> None:
    def row(benchmarks: float, small: float) -> dict[str, dict[str, float]]:
        return {**{name: {"answered": benchmarks} for name in fit.BENCHMARKS}, "small": {"answered": small}}

    # At 0.20 the benchmarks alone answer 90%, but with our small corpora's 50% the mean is under it.
    assert fit.choose_threshold({"0.10": row(0.95, 0.9), "0.20": row(0.92, 0.5)}) == 0.1
    assert fit.choose_threshold({"0.10": row(0.95, 0.9), "0.20": row(0.92, 0.9)}) == 0.2


def test_fit_command_writes_a_ranker_from_train_and_dev_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = benchmarks(tmp_path / "b")
    out = tmp_path / "ranker.json"
    assert cli.main(["fit", "--benchmarks", str(root), "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    # Train: wikiqa's 2 questions; squad2 and xquad 6 each (Geology, Ctenophora); never a Normans (test) question.
    assert data["training"]["questions"]["wikiqa"] == 2
    assert data["training"]["questions"]["squad2"] == 6 and data["training"]["questions"]["xquad_en"] == 6
    # The semantic variant is fitted where the embeddings are installed (make test installs them).
    assert set(data["variants"]) == ({"words", "semantic"} if default_embedder() else {"words"})
    for variant in data["variants"]:
        assert set(data["variants"][variant]["dev"]["0.10"]) >= {"wikiqa", "squad2", "xquad_en", "off_topic"}
    read_ranker(out)  # loads, with the feature names this code computes
    again = tmp_path / "again.json"
    assert cli.main(["fit", "--benchmarks", str(root), "--out", str(again)]) == 0
    assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_fit_names_missing_benchmarks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fit", "--benchmarks", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.json")]) == 1
    assert "not found" in capsys.readouterr().err and not (tmp_path / "r.json").exists()


def small_group(root: Path) -> Path:
    for part, fact in (("train", "Lamps are lit at dusk."), ("dev", "Gates close at ten.")):
        lines = [
            json.dumps({"id": f"{part}-1", "question": f"{fact.split()[0]}?", "expected": [fact]}),
            json.dumps({"id": f"{part}-2", "question": "Who won the chess final?", "expected": []}),
        ]
        write_files(root / part / "set_en", {"questions.jsonl": "\n".join(lines) + "\n"})
        write_files(root / part / "set_en" / "corpus", {"note.md": f"{fact} The park keeper has a key.\n"})
    return root


@pytest.mark.parametrize("fit_small", [False, True])
def test_fit_reports_the_small_corpora_dev_group_and_fits_on_their_train_group_only_when_asked(
    tmp_path: Path, fit_small: bool
) -> None:
    root, small, out = benchmarks(tmp_path / "b"), small_group(tmp_path / "small"), tmp_path / "ranker.json"
    args = ["fit", "--benchmarks", str(root), "--smallsets", str(small), "--out", str(out)]
    assert cli.main(args + (["--fit-small"] if fit_small else [])) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert ("small" in data["training"]["questions"]) is fit_small
    assert {"small", "small_off_topic"} <= set(data["variants"]["words"]["dev"]["0.10"])
