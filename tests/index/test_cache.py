"""The on-disk analysis cache: round trips, partial re-analysis, corrupt files, atomic writes."""

from __future__ import annotations

import dataclasses
import logging
import os
import struct
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import bot.index.loader
from bot.index import cache as cache_module
from bot.index.cache import SUFFIX, AnalysisCache, CorruptCache, decode, encode
from bot.index.library import Library
from bot.index.loader import corpus_cache_folder, load_library
from bot.ingest.corpus import Document
from bot.text.analyzers import Analyzer, analyze
from tests.helpers import write_files

DOCUMENTS = {
    "budget.md": "# Budget\n\nThe U.S. budget grew 2.5% last year. Mr. Smith said $8 billion was spent.\n\n"
    "Cuts came later.",
    "rivers.txt": "The Nile is long. The Amazon carries more water than any other river.\n\nRivers flood in spring.",
    "notes/space.md": "---\ntitle: Space\n---\nThe Moon orbits the Earth. Mars has two moons, Phobos and Deimos.",
}
QUERIES = [["budget"], ["river", "water"], ["moon", "moon", "mar"], ["unknown"], ["spring", "flood", "nile"]]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")


@dataclass(frozen=True)
class Dirs:
    """Where a test's corpus and cache live."""

    corpus_dir: Path
    cache_dir: Path


def load(dirs: Dirs, previous: Library | None = None) -> Library:
    return load_library(dirs.corpus_dir, dirs.cache_dir, previous=previous, snapshot=False)  # the cache alone


@pytest.fixture
def settings(tmp_path: Path) -> Dirs:
    corpus = tmp_path / "corpus"
    write(corpus, DOCUMENTS)
    return Dirs(corpus, tmp_path / "cache")


def assert_same_index(one: Library, other: Library) -> None:
    """Same documents, sentences and terms, and the same scores for every query."""
    assert [d.path for d in one.documents] == [d.path for d in other.documents]
    assert [one.sentence(i).text for i in range(one.sentence_count)] == [
        other.sentence(i).text for i in range(other.sentence_count)
    ]
    for terms in QUERIES:
        ours, theirs = one.search(terms, 10), other.search(terms, 10)
        assert [(h.sentence.id, h.sentence.text) for h in ours] == [(h.sentence.id, h.sentence.text) for h in theirs]
        assert np.allclose([h.score for h in ours], [h.score for h in theirs], rtol=0, atol=1e-12)
        rows = np.arange(one.sentence_count)
        assert np.allclose(
            one.sentence_index.scores(one.term_ids(terms), rows),
            other.sentence_index.scores(other.term_ids(terms), rows),
            rtol=0,
            atol=1e-12,
        )
        docs = np.arange(len(one.documents))
        assert np.allclose(
            one.document_index.scores(one.term_ids(terms), docs),
            other.document_index.scores(other.term_ids(terms), docs),
            rtol=0,
            atol=1e-12,
        )


def test_round_trip_of_one_analysis() -> None:
    document = Document("a.md", "A", "First sentence here. Second one, with café and naïve words.\n\nThird.")
    analyzed = analyze(document, Analyzer())
    back = decode(encode(analyzed, "k", "d"), "k", "d", document)
    assert back.sentences == analyzed.sentences
    assert back.terms == analyzed.terms
    assert back.title_terms == analyzed.title_terms
    for name in ("lengths", "rows", "columns", "counts"):
        assert np.array_equal(getattr(back, name), getattr(analyzed, name))


def test_warm_start_equals_cold_build(settings: Dirs, analyze_calls: list[str]) -> None:
    cold = load(settings)
    assert len(analyze_calls) == 3
    assert len(list(settings.cache_dir.rglob(f"*{SUFFIX}"))) == 3
    warm = load(settings)
    assert len(analyze_calls) == 3, "a warm start must analyze nothing"
    assert_same_index(cold, warm)


def test_changed_added_deleted_files_reprocess_only_themselves(settings: Dirs, analyze_calls: list[str]) -> None:
    load(settings)
    analyze_calls.clear()
    root = settings.corpus_dir
    (root / "rivers.txt").write_text(
        "The Volga is the longest river in Europe. It flows into the Caspian Sea.", "utf-8"
    )
    (root / "new.md").write_text("A new document about the budget of rivers.", "utf-8")
    (root / "notes/space.md").unlink()
    warm = load(settings)
    assert sorted(analyze_calls) == ["new.md", "rivers.txt"]
    # The stale cache files of the old rivers.txt and the deleted space.md are gone.
    assert len(list(settings.cache_dir.rglob(f"*{SUFFIX}"))) == 3
    fresh_settings = replace(settings, cache_dir=settings.cache_dir.parent / "other-cache")
    assert_same_index(load(fresh_settings), warm)


def test_reload_reuses_previous_and_equals_cold_build(settings: Dirs, analyze_calls: list[str]) -> None:
    first = load(settings)
    analyze_calls.clear()
    (settings.corpus_dir / "budget.md").write_text("# Budget\n\nThe budget shrank. Taxes rose by 3.1%.", "utf-8")
    reloaded = load(settings, first)
    assert analyze_calls == ["budget.md"]
    cold = load(replace(settings, cache_dir=settings.cache_dir.parent / "cold"))
    assert [h.sentence.text for h in reloaded.search(["budget"])] == [h.sentence.text for h in cold.search(["budget"])]
    # Term ids stay stable across a reload, so scores agree even though the vocabularies differ in order.
    for terms in QUERIES:
        assert [(h.sentence.id, round(h.score, 12)) for h in reloaded.search(terms)] == [
            (h.sentence.id, round(h.score, 12)) for h in cold.search(terms)
        ]


def corrupt_variants(data: bytes) -> dict[str, bytes]:
    magic, version, size = struct.unpack_from("<8sII", data)
    head = data[16 : 16 + size]
    return {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "garbage": os.urandom(len(data)),
        "wrong magic": b"NOTOURS!" + data[8:],
        "wrong version": struct.pack("<8sII", magic, version + 1, size) + data[16:],
        "wrong key": data[:16] + head.replace(b'"key":"', b'"key":"x') + data[16 + size :],
        "flipped byte": data[:-1] + bytes([data[-1] ^ 0xFF]),
        "huge header": struct.pack("<8sII", magic, version, 2**31) + data[16:],
        "bad json": data[:16] + b"{" * size + data[16 + size :],
    }


@pytest.mark.parametrize("kind", list(corrupt_variants(b"CITEBOT\x00" + bytes(8) + b"{}")))
def test_corrupt_cache_file_is_detected_and_rebuilt(
    kind: str, settings: Dirs, analyze_calls: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    cold = load(settings)
    analyze_calls.clear()
    files = sorted(settings.cache_dir.rglob(f"*{SUFFIX}"))
    victim = files[0]
    bad = corrupt_variants(victim.read_bytes())[kind]
    victim.write_bytes(bad)
    with caplog.at_level(logging.INFO):
        warm = load(settings)
    assert len(analyze_calls) == 1
    # Damage is a warning; an entry of another cache format is what an upgrade leaves, and is said calmly.
    said = "re-analyzing" if kind == "wrong version" else "rejected"
    level = logging.INFO if kind == "wrong version" else logging.WARNING
    assert any(said in r.getMessage() and r.levelno == level for r in caplog.records)
    assert victim.read_bytes() != bad, "the bad file is replaced by a good one"
    assert_same_index(cold, warm)
    analyze_calls.clear()
    load(settings)
    assert analyze_calls == []


def test_decode_rejects_other_content_and_inconsistent_arrays() -> None:
    document = Document("a.md", "A", "One sentence. Two sentences.")
    analyzed = analyze(document, Analyzer())
    data = encode(analyzed, "k", "d")
    with pytest.raises(CorruptCache):
        decode(data, "k", "other", document)
    with pytest.raises(CorruptCache):
        decode(data, "other", "d", document)
    with pytest.raises(CorruptCache):
        decode(data, "k", "d", Document("a.md", "Another title", document.text))


def test_interrupted_write_leaves_no_partial_file(
    settings: Dirs, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.os, "replace", crash)
    with caplog.at_level(logging.WARNING):
        library = load(settings)
    assert library.sentence_count > 0
    assert [p for p in settings.cache_dir.rglob("*") if p.is_file()] == [], (
        "neither a partial cache file nor a temporary one is left"
    )
    assert sum("not writable" in r.getMessage() for r in caplog.records) == 1, "warned once, not per document"


def test_leftover_temporary_files_are_pruned_but_not_another_process_s_write(settings: Dirs) -> None:
    load(settings)
    folder = corpus_cache_folder(settings.cache_dir, settings.corpus_dir)
    leftover, writing = folder / f".tmp-abc{SUFFIX}", folder / f".tmp-def{SUFFIX}"
    leftover.write_bytes(b"half a file")
    hours_ago = time.time_ns() - 2 * 3600 * 10**9
    os.utime(leftover, ns=(hours_ago, hours_ago))  # left by a process killed two hours ago
    writing.write_bytes(b"being written")  # another process, writing now
    load(settings)
    assert not leftover.exists() and writing.exists()


def test_cache_dir_that_is_a_file_is_tolerated(settings: Dirs, caplog: pytest.LogCaptureFixture) -> None:
    settings.cache_dir.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        cold = load(settings)
        warm = load(settings)
    assert_same_index(cold, warm)
    assert settings.cache_dir.read_text() == "not a folder"
    assert sum("not writable" in r.getMessage() for r in caplog.records) == 2, "once per load"


def test_cache_lives_outside_the_corpus(settings: Dirs) -> None:
    load(settings)
    assert not any(p.suffix == SUFFIX for p in settings.corpus_dir.rglob("*"))


def test_cache_key_separates_analyzers(tmp_path: Path) -> None:
    document = Document("a.md", "A", "Sentence one. Sentence two.")
    english = AnalysisCache(tmp_path, Analyzer("english").key)
    english.store("d", analyze(document, Analyzer("english")))
    russian = AnalysisCache(tmp_path, Analyzer("russian").key)
    assert russian.load("d", document) is None
    assert english.load("d", document) is not None


def test_an_upgrade_says_once_that_every_entry_is_re_analyzed(
    settings: Dirs, analyze_calls: list[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(settings)
    analyze_calls.clear()
    monkeypatch.setattr(cache_module, "VERSION", cache_module.VERSION + 1)  # what the next release finds
    with caplog.at_level(logging.INFO, logger="bot.index.cache"):
        load(settings)
    assert len(analyze_calls) > 1
    told = [r for r in caplog.records if r.name == "bot.index.cache" and r.levelno >= logging.INFO]
    assert len(told) == 1 and told[0].levelno == logging.INFO and "re-analyzing" in told[0].getMessage()


def test_file_rewritten_while_a_rejected_cache_entry_is_rebuilt_is_never_quoted(
    settings: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Analyse exactly the bytes that were hashed: a file edited mid-load never lands under the old digest."""
    ferry = settings.corpus_dir / "ferry.md"
    ferry.write_text("# Ferry\n\nThe ferry ticket costs 100 tenge for adults.", "utf-8")
    load(settings)
    for path in settings.cache_dir.rglob(f"*{SUFFIX}"):
        path.write_bytes(b"garbage")  # every entry is rejected on the next load
    real_load = AnalysisCache.load

    def edited_meanwhile(self: AnalysisCache, digest: str, document: Document):  # type: ignore[no-untyped-def]
        if document.path == "ferry.md":
            ferry.write_text(
                "# Ferry\n\nThe ferry ticket costs 999 tenge for adults.", "utf-8"
            )  # an editor saves mid-load
        return real_load(self, digest, document)

    monkeypatch.setattr(AnalysisCache, "load", edited_meanwhile)
    load(settings)
    monkeypatch.setattr(AnalysisCache, "load", real_load)
    ferry.write_text("# Ferry\n\nThe ferry ticket costs 100 tenge for adults.", "utf-8")
    library = load(settings)
    texts = [library.sentence(i).text for i in range(library.sentence_count)]
    assert "The ferry ticket costs 100 tenge for adults." in texts
    assert not any("999" in text for text in texts)


def test_file_that_keeps_changing_while_read_is_reported_not_half_indexed(
    settings: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Size or mtime differing before and after the read means a torn read: retried, then skipped by name."""
    ferry = settings.corpus_dir / "ferry.txt"
    ferry.write_text("The ferry ticket costs 100 tenge for adults.", "utf-8")
    real_fstat = os.fstat
    ferry_inode = ferry.stat().st_ino
    calls = {"n": 0}

    def drifting(descriptor):  # type: ignore[no-untyped-def]
        result = real_fstat(descriptor)
        if result.st_ino == ferry_inode:
            calls["n"] += 1  # the modification time moves on every look: the file is being written
            fields = {name: getattr(result, name) for name in dir(result) if name.startswith("st_")}
            return SimpleNamespace(**(fields | {"st_mtime_ns": result.st_mtime_ns + calls["n"]}))
        return result

    monkeypatch.setattr(os, "fstat", drifting)
    library = load(settings)
    assert "ferry.txt" not in [d.path for d in library.documents]
    assert any(s.path == "ferry.txt" and "changed while" in s.reason for s in library.skipped)


def test_another_corpus_sharing_the_cache_folder_keeps_this_ones_entries(
    settings: Dirs, tmp_path: Path, analyze_calls: list[str]
) -> None:
    """Loading corpus B never deletes what corpus A cached: `ask --corpus other` must not cost A a cold start."""
    load(settings)
    other = tmp_path / "other"
    write(other, {"lakes.txt": "Lake Baikal is the deepest lake in the world."})
    load(replace(settings, corpus_dir=other))
    analyze_calls.clear()
    load(settings)
    assert analyze_calls == []


def test_a_file_swapped_for_a_fifo_after_the_scan_is_skipped_not_waited_on(
    settings: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between listing and reading, a file can become a FIFO: opening it must not block the load."""
    fifo = settings.corpus_dir / "pipe.txt"
    real = bot.index.loader.corpus_paths

    def then_swapped(root: Path):  # type: ignore[no-untyped-def]
        found = real(root)
        os.mkfifo(fifo)
        return dataclasses.replace(found, files=(*found.files, ("pipe.txt", str(fifo))))

    monkeypatch.setattr(bot.index.loader, "corpus_paths", then_swapped)
    library = load(settings)
    assert any(s.path == "pipe.txt" and "not a regular file" in s.reason for s in library.skipped)
    assert len(library.documents) == 3


def test_a_cached_document_is_not_parsed_again(settings: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache is consulted before a file's text is parsed: a costly parse is paid once, not at every start."""
    cold = load(settings)
    parsed: list[str] = []
    real = bot.index.loader.parse_file
    monkeypatch.setattr(bot.index.loader, "parse_file", lambda path, data: parsed.append(path) or real(path, data))
    warm = load(settings)
    assert parsed == []
    assert_same_index(cold, warm)
    assert [d.title for d in warm.documents] == [d.title for d in cold.documents]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_long_document_analysed_in_pieces_equals_one_analysed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Pieces cut at blank lines change no sentence and no count; they only let every worker share the work."""
    paragraphs = [
        f"Paragraph {i} tells of harbour {i % 7} and its lighthouse. The keeper wrote it down." for i in range(400)
    ]
    corpus = write_files(
        tmp_path / "corpus", {"long.md": "# Log\n\n" + "\n\n".join(paragraphs), "short.txt": "A ship."}
    )
    whole = load_library(corpus, tmp_path / "whole", snapshot=False)
    monkeypatch.setattr(bot.index.loader, "PIECE_CHARS", 2_000)
    monkeypatch.setattr(bot.index.loader, "PARALLEL_MIN_CHARS", 1_000)
    pieces = load_library(corpus, tmp_path / "pieces", snapshot=False, workers=workers)
    assert_same_index(whole, pieces)
    assert whole.sentence_index.lengths.tolist() == pieces.sentence_index.lengths.tolist()
    assert whole.document_index.lengths.tolist() == pieces.document_index.lengths.tolist()
    for query in (["harbour", "lighthous"], ["keeper", "paragraph", "3"], ["399"]):
        assert [(h.sentence.id, h.score) for h in whole.search(query)] == [
            (h.sentence.id, h.score) for h in pieces.search(query)
        ]
