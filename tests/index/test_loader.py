"""A reload after any mix of edits builds the very index a cold start would."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

from bot.index.bm25 import BM25
from bot.index.library import Library
from bot.index.loader import load_library

WORDS = "harbour lighthouse beam keeper storm ship rock tide lamp island coast fog bell night".split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))).capitalize() + "."


def document(rng: random.Random) -> str:
    paragraphs = [" ".join(sentence(rng) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
    return f"# {rng.choice(WORDS).title()} notes\n\n" + "\n\n".join(paragraphs) + "\n"


def postings_by_term(library: Library, index: BM25) -> dict[str, tuple[list[int], list[int], list[float]]]:
    """The index in terms of words rather than ids, which differ between builds."""
    out = {}
    for term, number in library.vocabulary.items():
        if number < index.n_terms and index.indptr[number] < index.indptr[number + 1]:
            part = slice(index.indptr[number], index.indptr[number + 1])
            out[term] = (index.postings[part].tolist(), index.counts[part].tolist(), index.weights[part].tolist())
    return out


def assert_identical(reloaded: Library, cold: Library) -> None:
    assert [d.path for d in reloaded.documents] == [d.path for d in cold.documents]
    assert [e.sentences for e in reloaded.entries] == [e.sentences for e in cold.entries]
    for ours, theirs in (
        (reloaded.sentence_index, cold.sentence_index),
        (reloaded.document_index, cold.document_index),
    ):
        assert ours.lengths.tolist() == theirs.lengths.tolist()
        # Same rows, counts and weights, bit for bit, for every word.
        assert postings_by_term(reloaded, ours) == postings_by_term(cold, theirs)
        for term, number in cold.vocabulary.items():
            if theirs.indptr[number] < theirs.indptr[number + 1]:
                assert ours.idf[reloaded.vocabulary[term]] == pytest.approx(theirs.idf[number], abs=1e-12)


def edit(rng: random.Random, corpus: Path) -> list[str]:
    """Make one random change to the corpus; the paths it touched, relative to the corpus."""
    files = sorted(corpus.rglob("*.md"))
    action = rng.choice(["add", "add", "delete", "change", "touch", "rename", "empty"]) if files else "add"
    file = rng.choice(files) if files else corpus
    if action == "add":
        # Names sort anywhere among the others, so new documents land between old ones.
        folder = corpus / rng.choice(["", "a", "b/c"])
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / f"{rng.randint(0, 999):03d}.md"
        file.write_text(document(rng))
    elif action == "delete":
        file.unlink()
    elif action == "change":
        file.write_text(document(rng))
    elif action == "touch":
        os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 1_000_000_000))
    elif action == "rename":
        moved = file.with_name(f"{rng.randint(0, 999):03d}-moved.md")
        file.rename(moved)
        return [file.relative_to(corpus).as_posix(), moved.relative_to(corpus).as_posix()]
    else:
        file.write_text("   \n")
    return [file.relative_to(corpus).as_posix()]


@pytest.mark.parametrize("seed", range(8))
def test_reload_after_random_edits_equals_a_cold_build(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for _ in range(6):
        edit(rng, corpus)
    library = load_library(corpus, tmp_path / "cache")
    for step in range(12):
        edit(rng, corpus)
        if not any(corpus.rglob("*.md")):
            edit(rng, corpus)
        try:
            library = load_library(corpus, tmp_path / "cache", previous=library)
        except Exception as exc:  # noqa: BLE001 - only an all-empty corpus may fail, and then cold fails too
            with pytest.raises(type(exc)):
                load_library(corpus, tmp_path / f"cold-{step}")
            continue
        cold = load_library(corpus, tmp_path / f"cold-{step}")
        assert_identical(library, cold)


@pytest.mark.parametrize("seed", range(6))
def test_a_reload_of_only_the_named_changed_files_equals_a_cold_build(tmp_path: Path, seed: int) -> None:
    # What writes into the corpus names what it wrote: the rest is trusted, and the index is a cold start's.
    rng = random.Random(100 + seed)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for _ in range(6):
        edit(rng, corpus)
    (corpus / "bad.md").write_bytes(b"\x00binary")
    (corpus / "keep.md").write_text(document(rng))
    library = load_library(corpus, tmp_path / "cache")
    for step in range(12):
        changed = edit(rng, corpus) + edit(rng, corpus)
        if not any(corpus.rglob("*.md")):
            changed += edit(rng, corpus)
        try:
            library = load_library(corpus, tmp_path / "cache", previous=library, changed=changed)
        except Exception as exc:  # noqa: BLE001 - only an all-empty corpus may fail, and then cold fails too
            with pytest.raises(type(exc)):
                load_library(corpus, tmp_path / f"cold-{step}")
            continue
        cold = load_library(corpus, tmp_path / f"cold-{step}")
        # Only new files are appended (a delta, out of order), and the next reload builds on that library.
        assert_identical(library.compacted(), cold)
        assert sorted(s.path for s in library.skipped) == sorted(s.path for s in cold.skipped)


def test_weights_match_a_fresh_index_after_update() -> None:
    # Two rows dropped, one renumbered, new postings spliced in: the same arrays as building anew.
    corpus = [["a", "b"], ["b", "c", "c"], ["a"], ["d", "a", "b"]]
    index, vocabulary = BM25.from_tokens(corpus)
    ids = {term: number for term, number in vocabulary.items()}
    kept = {0: 0, 3: 1}  # old row -> new row
    row_map = np.array([kept.get(row, -1) for row in range(len(corpus))])
    new_rows = [["c", "b"], ["b"]]  # become rows 2 and 3
    rows, columns, counts = [], [], []
    for offset, tokens in enumerate(new_rows, start=2):
        for term in sorted(set(tokens)):
            rows.append(offset)
            columns.append(ids[term])
            counts.append(tokens.count(term))
    expected_corpus = [corpus[0], corpus[3], *new_rows]
    lengths = np.array([len(t) for t in expected_corpus])
    updated = index.updated(row_map, np.array(rows), np.array(columns), np.array(counts), lengths, len(vocabulary))
    fresh, fresh_vocabulary = BM25.from_tokens(expected_corpus)
    for term, number in fresh_vocabulary.items():
        ours = slice(updated.indptr[ids[term]], updated.indptr[ids[term] + 1])
        theirs = slice(fresh.indptr[number], fresh.indptr[number + 1])
        assert updated.postings[ours].tolist() == fresh.postings[theirs].tolist()
        assert updated.weights[ours].tolist() == fresh.weights[theirs].tolist()
        assert updated.idf[ids[term]] == pytest.approx(fresh.idf[number], abs=1e-12)
