"""The memory-mapped snapshot: a restart maps the last build, a changed corpus updates it, a bad one is rebuilt."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from bot.index import snapshot
from bot.index.library import Library
from bot.index.loader import corpus_cache_folder, load_library
from bot.text.languages import Languages
from tests.helpers import MINI_CORPUS, write_files

QUERIES = [
    ["bank"],
    ["volcano", "europ"],
    ["train", "town", "cotton"],
    ["tomato", "sunlight"],
    ["ferri", "island"],
    ["nothing"],
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_files(tmp_path / "corpus", MINI_CORPUS)


def same(one: Library, other: Library, bitwise: bool = True) -> None:
    """Same documents, sentences and exact scores; `bitwise`: the very same arrays and term ids too."""
    assert [e.document for e in one.entries] == [e.document for e in other.entries]
    assert [e.sentences for e in one.entries] == [e.sentences for e in other.entries]
    for query in QUERIES:
        assert [(h.sentence.id, h.score) for h in one.search(query)] == [
            (h.sentence.id, h.score) for h in other.search(query)
        ]
    if not bitwise:
        return  # an update keeps the term ids it had, where a fresh build numbers terms anew
    assert one.vocabulary == other.vocabulary
    for index in ("sentence_index", "document_index"):
        for name, array in getattr(one, index).arrays().items():
            assert np.array_equal(array, getattr(other, index).arrays()[name]), (index, name)


def snapshot_files(cache: Path, corpus: Path) -> list[Path]:
    root = snapshot.folder(corpus_cache_folder(cache, corpus))
    current = (root / snapshot.POINTER).read_text().strip()
    return sorted((root / current).iterdir())


def test_a_start_with_an_unchanged_corpus_maps_the_snapshot(
    tmp_path: Path, corpus: Path, analyze_calls: list[str]
) -> None:
    cold = load_library(corpus, tmp_path / "cache")
    analyze_calls.clear()
    warm = load_library(corpus, tmp_path / "cache")
    assert analyze_calls == []
    assert isinstance(warm.sentence_index.postings, np.memmap) and isinstance(warm.sentence_index.weights, np.memmap)
    assert all(isinstance(e.sentences, snapshot.MappedTexts) for e in warm.entries)  # decoded when read
    same(warm, cold)


def test_a_file_name_that_is_not_utf8_goes_through_the_snapshot(
    tmp_path: Path, corpus: Path, analyze_calls: list[str]
) -> None:
    name = os.fsdecode(b"caf\xe9.txt")  # the file system hands such a name over with a lone surrogate
    (corpus / name).write_text("Espresso is brewed under nine bars of pressure.\n", encoding="utf-8")
    cold = load_library(corpus, tmp_path / "cache")
    analyze_calls.clear()
    warm = load_library(corpus, tmp_path / "cache")
    assert analyze_calls == [] and name in [d.path for d in warm.documents]
    same(warm, cold)


def test_a_changed_corpus_updates_the_snapshot_incrementally(
    tmp_path: Path, corpus: Path, analyze_calls: list[str]
) -> None:
    load_library(corpus, tmp_path / "cache")
    (corpus / "garden.txt").write_text("Basil likes warm soil and daily water.\n", "utf-8")
    (corpus / "volcano.txt").unlink()
    (corpus / "new.md").write_text("# Ferry\n\nThe ferry to the island leaves at noon.\n", "utf-8")
    analyze_calls.clear()
    updated = load_library(corpus, tmp_path / "cache")
    assert sorted(analyze_calls) == ["garden.txt", "new.md"]
    same(updated, load_library(corpus, tmp_path / "cold", snapshot=False), bitwise=False)
    analyze_calls.clear()
    same(load_library(corpus, tmp_path / "cache"), updated)  # the update was written as the new snapshot
    assert analyze_calls == []


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(
            lambda files: flip_last_byte(next(p for p in files if p.name == "sentences.weights.npy")), id="flipped byte"
        ),
        pytest.param(lambda files: files[0].write_bytes(files[0].read_bytes()[:20]), id="truncated"),
        pytest.param(lambda files: files[-1].unlink(), id="missing file"),
        pytest.param(lambda files: (files[0].parent / "manifest.json").write_text("{"), id="bad manifest"),
        pytest.param(
            lambda files: (files[0].parent.parent / snapshot.POINTER).write_text("../../etc"), id="bad pointer"
        ),
        pytest.param(lambda files: (files[0].parent / "documents.json").write_text("[]"), id="wrong documents"),
    ],
)
def test_a_damaged_snapshot_is_never_trusted(  # type: ignore[no-untyped-def]
    tmp_path: Path, corpus: Path, damage, analyze_calls: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    cold = load_library(corpus, tmp_path / "cache")
    damage(snapshot_files(tmp_path / "cache", corpus))
    with caplog.at_level(logging.INFO, logger="bot.index.loader"):
        rebuilt = load_library(corpus, tmp_path / "cache")
    assert any(r.levelno == logging.WARNING and "building the index" in r.getMessage() for r in caplog.records)
    same(rebuilt, cold)
    analyze_calls.clear()
    same(load_library(corpus, tmp_path / "cache"), cold)  # and a good snapshot replaced it
    assert analyze_calls == []


def test_a_half_written_snapshot_is_not_current(tmp_path: Path, corpus: Path) -> None:
    cold = load_library(corpus, tmp_path / "cache")
    root = snapshot.folder(corpus_cache_folder(tmp_path / "cache", corpus))
    (root / "half").mkdir()
    (root / "half" / "sentences.postings.npy").write_bytes(b"\x93NUMPY")
    same(load_library(corpus, tmp_path / "cache"), cold)


def test_another_language_setting_does_not_use_the_snapshot(
    tmp_path: Path, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_library(corpus, tmp_path / "cache")
    with caplog.at_level(logging.INFO, logger="bot.index.loader"):
        russian = load_library(corpus, tmp_path / "cache", languages="ru")
    # A changed setting is expected to rebuild: said once, at INFO, not as a warning.
    rebuilt = [r for r in caplog.records if "building the index" in r.getMessage()]
    assert [r.levelno for r in rebuilt] == [logging.INFO] and "another language setting" in rebuilt[0].getMessage()
    assert russian.languages == Languages(frozenset({"ru"})) and {e.language for e in russian.entries} == {"ru"}
    same(russian, load_library(corpus, tmp_path / "cold", languages="ru", snapshot=False))


def test_the_snapshot_keeps_each_document_language(tmp_path: Path) -> None:
    files = {
        "en.md": "The bank financed new water projects in the south.",
        "ru.md": "Банк профинансировал новые проекты.",
    }
    corpus = write_files(tmp_path / "mixed", files)
    cold = load_library(corpus, tmp_path / "cache")
    mapped = load_library(corpus, tmp_path / "cache")
    assert [e.language for e in mapped.entries] == [e.language for e in cold.entries] == ["en", "ru"]
    assert mapped.language_mix == cold.language_mix


def test_a_background_write_lands_and_only_the_newest_library_is_written(tmp_path: Path, corpus: Path) -> None:
    first = load_library(corpus, tmp_path / "cache", snapshot=False)
    (corpus / "garden.txt").write_text("Basil likes warm soil.\n", "utf-8")
    writer = snapshot.SnapshotWriter()
    second = load_library(corpus, tmp_path / "cache", previous=first, writer=writer)
    (corpus / "garden.txt").write_text("Basil likes warm soil and daily water.\n", "utf-8")
    third = load_library(corpus, tmp_path / "cache", previous=second, writer=writer)
    writer.flush()
    mapped = snapshot.read(corpus_cache_folder(tmp_path / "cache", corpus), third.languages)
    same(mapped, third)
