"""The features computed from the indexes equal the same features computed from each sentence's own text.

The fitted ranker (bot/data/ranker.json) is only valid while every feature keeps its value: whatever
shortcut the fast path takes (one index lookup for several row sets, text read only where it matters),
it must give what reading every candidate sentence gives.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.index.library import Library
from bot.ranking import features
from bot.ranking.features import INDEX_FEATURES, PREFIX, TEXT_FEATURES
from tests.helpers import NEWS, SEED_CORPUS, Build

SEED_QUESTIONS = [json.loads(line)["question"] for line in (SEED_CORPUS.parent / "tests" / "seed_qa.jsonl").open()]
NEWS_QUESTIONS = [
    "Which water projects were discussed?",
    "How did the Kazakh meeting conclude?",
    "What did the prime minister say about rural roads?",
    "How many projects has the bank financed in Kazakhstan?",
    "When did the bank vice president meet the prime minister?",
    "How much sunlight do tomatoes need?",
]


def sentence_terms(library: Library, row: int) -> list[str]:
    number, _ = library.locate(row)
    return library.document_analyzer(number).terms(library.sentence(row).text)


def document_terms(library: Library, number: int) -> set[str]:
    reader = library.document_analyzer(number)
    held = set(reader.terms(library.documents[number].title))
    for row in library.sentence_ids(number):
        held.update(sentence_terms(library, row))
    return held


def reference_index_features(library: Library, question: features.Question, rows: np.ndarray) -> np.ndarray:
    """INDEX_FEATURES from each sentence's analysed text (BM25 scores aside: those are tested against rank-bm25)."""
    terms, weights = question.terms, question.weights
    total = float(weights.sum()) or 1.0
    sentence = np.clip(library.sentence_index.scores(list(question.ids), rows), 0.0, None)
    numbers = [library.locate(int(row))[0] for row in rows]
    document = np.clip(library.document_index.scores(list(question.ids), np.array(numbers)), 0.0, None)
    best_document = float(document.max())
    out = []
    for i, (row, number) in enumerate(zip(rows.tolist(), numbers)):
        own = sentence_terms(library, row)
        ids = library.sentence_ids(number)
        near = set()
        for other in (row - 1, row + 1):
            if other in ids:
                near.update(sentence_terms(library, other))
        head = int(library.heads[row])
        heading = sentence_terms(library, head) if head >= 0 and head != row else []
        held = set(own) | set(heading)  # the heading a sentence sits under counts as its evidence
        hits = np.array([t in held for t in terms])
        matched = len({t for t in terms if t in own})
        held_matched = len({t for t in terms if t in held})
        in_document = document_terms(library, number)
        out.append(
            [
                sentence[i] / max(float(sentence.max()), 1e-9),
                sentence[i] / total,
                document[i] / max(best_document, 1e-9),
                document[i] >= best_document and best_document > 0,
                1.0 / (1.0 + row - ids.start),
                weights[hits].sum() / total,
                held_matched / max(len(set(terms)), 1),
                max((w for t, w in zip(terms, weights) if t not in held), default=0.0) / total,
                sum(w for t, w in zip(terms, weights) if t not in in_document) / total,
                sum(w for t, w in zip(terms, weights) if t in near and t not in held) / total,
                np.log1p(len(own)),
                1.0 - min(matched, len(own)) / max(len(own), 1),
                head == row,
                sum(w for t, w in zip(terms, weights) if t in heading and t not in own) / total,
            ]
        )
    return np.array(out, dtype=float)


def reference_text_features(library: Library, question: features.Question, rows: np.ndarray) -> np.ndarray:
    """TEXT_FEATURES from each sentence's analysed text."""
    terms, weights = question.terms, question.weights
    total = float(weights.sum()) or 1.0
    pairs = set(zip(terms, terms[1:]))
    out = []
    for row in rows.tolist():
        number, position = library.locate(row)
        reader = library.document_analyzer(number)
        text = library.sentence(row).text
        own = reader.terms(text)
        own_pairs = set(zip(own, own[1:]))
        found = [t in own for t in terms]
        words = reader.words(text)
        # A word's first PREFIX letters, and for a word one letter shorter, a longer word's that many letters.
        prefixes = {w[:PREFIX] for w in words if len(w) >= PREFIX} | {w[: PREFIX - 1] for w in words if len(w) > PREFIX}
        derived = sum(
            w
            for t, p, w, f in zip(terms, question.prefixes, weights, found)
            if len(p) >= PREFIX - 1 and not f and p in prefixes
        )
        document = library.documents[number]
        title = (
            set() if document.title_made else set(reader.terms(document.title))
        )  # a made-up title counts for nothing
        in_title = sum(w for t, w in zip(terms, weights) if t in title) / total
        # The document's subject: its title and its first sentence; the focus is the rest of the question.
        subject = title | set(reader.terms(library.sentence(library.offsets[number]).text))
        outside = [(t, p, w) for t, p, w in zip(terms, question.prefixes, weights) if t not in subject]
        held_outside = sum(w for t, p, w in outside if t in own or (len(p) >= PREFIX - 1 and p in prefixes))
        focus = held_outside / sum(w for _, _, w in outside) if outside else 0.0
        has_type = question.wanted is not None and bool(question.wanted.search(text))
        pieces = sum(
            1
            for j in range(len(terms))
            if found[j] and not (j and found[j - 1] and (terms[j - 1], terms[j]) in own_pairs)
        )
        out.append(
            [
                len(pairs & own_pairs) / max(len(pairs), 1),
                derived / total,
                in_title,
                in_title / (1.0 + position),
                has_type,
                question.wanted is not None and not has_type,
                min(pieces, 4),
                focus,
            ]
        )
    return np.array(out, dtype=float)


def check(library: Library, question: str) -> int:
    analyzed = features.analyze_question(library, question)
    rows = features.candidates(library, analyzed)
    if len(rows) == 0:
        return 0
    cheap = features.index_features(library, analyzed, rows)[:, : len(INDEX_FEATURES)]
    np.testing.assert_allclose(cheap, reference_index_features(library, analyzed, rows), rtol=0, atol=1e-12)
    expected = reference_text_features(library, analyzed, rows)
    covered = features.term_hits(library, analyzed, rows)
    text = features.text_features(library, analyzed, rows, covered)[:, : len(TEXT_FEATURES)]
    np.testing.assert_allclose(text, expected, rtol=0, atol=1e-12)
    # As the ranker computes them: with what the index stage found, titles that open their document included.
    stage = features.index_stage(library, analyzed, rows)
    assert stage.hits.tolist() == covered.tolist()
    text = features.text_features(library, analyzed, rows, stage.hits, stage.lead_hits)[:, : len(TEXT_FEATURES)]
    np.testing.assert_allclose(text, expected, rtol=0, atol=1e-12)
    return len(rows)


@pytest.mark.parametrize("question", NEWS_QUESTIONS)
def test_features_equal_those_read_from_the_text(build: Build, question: str) -> None:
    assert check(build(NEWS), question) > 0


@pytest.mark.parametrize("question", NEWS_QUESTIONS)
def test_features_equal_those_read_from_the_text_when_titles_are_headings(build: Build, question: str) -> None:
    # A Markdown heading is both the title and the first sentence: the index's terms stand in for its analysis.
    headed = {
        name: "# Kazakhstan and the World Bank meeting\n\n" + text.split("---\n", 2)[-1] for name, text in NEWS.items()
    }
    library = build(headed)
    assert library.entries[0].document.title == library.entries[0].sentences[0]
    assert check(library, question) > 0


def test_features_on_the_seed_corpus_equal_those_read_from_the_text(seed: Library) -> None:
    # The twenty answerable questions have candidates; off-topic ones may have none.
    assert sum(check(seed, question) > 0 for question in SEED_QUESTIONS) >= 20


FAQ = {
    "faq.md": "# Questions\n\n## How do I report a burst pipe?\n\n"
    "Call the emergency line. The crew comes in two hours.\n\n"
    "## Why is my water brown?\n\nRust in the mains makes it brown. Run the cold tap for ten minutes.\n",
    "tariffs.txt": "Water tariffs\n\nHouseholds pay 112 tenge per cubic metre.\n\nDiscounts\n\nPensioners pay less.\n",
}


@pytest.mark.parametrize(
    "question", ["How do I report a burst pipe?", "brown water tap", "water tariffs for households", "discounts"]
)
def test_features_equal_those_read_from_the_text_under_headings(build: Build, question: str) -> None:
    library = build(FAQ)
    assert int((library.heads == np.arange(library.sentence_count)).sum()) == 5
    assert check(library, question) > 0
