"""A library with documents appended (a new channel post) answers from them at once, and merges to a cold build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.index import snapshot
from bot.index.library import Library
from bot.index.loader import compact, corpus_cache_folder, load_library
from bot.index.stacked import Stacked, drift
from bot.ranking.answer import answer
from tests.helpers import write_files
from tests.index.test_loader import assert_identical

CORPUS = {
    "a-harbour.md": "# Harbour\n\nThe harbour opens at six. Ships wait outside the harbour in a storm.\n",
    "m-lighthouse.md": "# Lighthouse\n\n## Keeper\n\nThe keeper lights the lamp at dusk. The beam reaches the rock.\n",
    "z-tides.md": "# Tides\n\nThe tide turns twice a day. Fog rolls in over the coast at night.\n",
}


def post(number: int, word: str) -> str:
    return f"# Ferry {number}\n\n## Timetable\n\nThe {word} ferry sails to the island at noon. Tickets cost a coin.\n"


def find(library: Library, words: str) -> list[str]:
    """The texts of the sentences a search for these words finds, best first."""
    return [hit.sentence.text for hit in library.search(library.document_analyzer(0).terms(words), k=50)]


def load(corpus: Path, cache: Path, previous: Library | None = None, changed: set[str] | None = None) -> Library:
    return load_library(corpus, cache, previous=previous, changed=changed, snapshot=False)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_files(tmp_path / "corpus", CORPUS)


def append(corpus: Path, cache: Path, library: Library, posts: dict[str, str]) -> Library:
    write_files(corpus, posts)
    return load(corpus, cache, library, set(posts))


def test_a_new_post_is_appended_after_the_documents_and_read_like_any(corpus: Path, tmp_path: Path) -> None:
    library = load(corpus, tmp_path / "cache")
    # `channels/` sorts between `a-` and `m-`: appended, it goes after `z-tides.md` all the same.
    appended = append(corpus, tmp_path / "cache", library, {"channels/press/7.md": post(7, "zorbak")})
    assert isinstance(appended.sentence_index, Stacked) and isinstance(appended.document_index, Stacked)
    assert appended.delta_documents == 1
    assert [d.path for d in appended.documents] == [*sorted(CORPUS), "channels/press/7.md"]
    # The old rows are untouched: same ids, same texts, and the old library still answers as it did.
    assert appended.offsets[:-1].tolist() == library.offsets.tolist()
    assert appended.heads[: library.sentence_count].tolist() == library.heads.tolist()
    number = len(CORPUS)
    ids = appended.sentence_ids(number)
    assert ids.start == library.sentence_count and ids.stop == appended.sentence_count
    texts = [appended.sentence(i).text for i in ids]
    assert any("zorbak ferry sails" in text for text in texts)
    assert all(appended.locate(i) == (number, i - ids.start) for i in ids)
    heading = next(i for i in ids if appended.sentence(i).text == "Timetable")
    assert appended.is_heading(heading)
    assert appended.heads[heading + 1] == heading  # the sentence under it points at it, in the new numbering
    hits = appended.search(appended.document_analyzer(0).terms("zorbak"))
    assert hits and all(hit.sentence.document.path == "channels/press/7.md" for hit in hits)
    assert find(library, "zorbak") == []
    found = answer(appended, "When does the zorbak ferry sail?")
    assert found.quotes and found.quotes[0].document.path == "channels/press/7.md"
    assert sum(appended.language_mix.values()) == pytest.approx(1.0)


def test_a_post_appended_then_merged_equals_a_cold_load(corpus: Path, tmp_path: Path) -> None:
    library = load(corpus, tmp_path / "cache")
    for burst in range(3):  # bursts of one and of several posts, each on top of the delta before
        posts = {f"channels/press/{burst}{n}.md": post(n, f"word{burst}x{n}") for n in range(burst + 1)}
        library = append(corpus, tmp_path / "cache", library, posts)
        assert library.delta_documents == sum(range(1, burst + 2))
        assert answer(library, f"When does the word{burst}x0 ferry sail?").quotes
    merged = library.compacted()
    assert merged.delta_documents == 0 and not isinstance(merged.sentence_index, Stacked)
    cold = load(corpus, tmp_path / "cold")
    assert_identical(merged, cold)
    assert merged.offsets.tolist() == cold.offsets.tolist() and merged.heads.tolist() == cold.heads.tolist()
    assert merged.language_mix == pytest.approx(cold.language_mix)
    assert merged.compacted() is merged


def test_scores_before_a_merge_are_the_merged_ones_up_to_the_average_length(corpus: Path, tmp_path: Path) -> None:
    library = load(corpus, tmp_path / "cache")
    appended = append(corpus, tmp_path / "cache", library, {"n/1.md": post(1, "zorbak"), "n/2.md": post(2, "kerbin")})
    merged = appended.compacted()
    assert isinstance(appended.sentence_index, Stacked)
    tolerance = drift(appended.sentence_index) + 1e-12
    for words in ("ferry island", "harbour storm", "zorbak", "keeper lamp beam"):
        terms = appended.document_analyzer(0).terms(words)
        before = {h.sentence.text: h.score for h in appended.search(terms, k=50)}
        after = {h.sentence.text: h.score for h in merged.search(terms, k=50)}
        assert before and before.keys() == after.keys()
        # Positive IDFs: each score is within stacked.drift of the merged one (see tests/index/test_stacked.py).
        assert all(before[text] == pytest.approx(after[text], rel=tolerance) for text in after)


@pytest.mark.parametrize("held", ["channels/press/7.md", "m-lighthouse.md"])
def test_an_edited_post_takes_the_exact_path_and_its_old_text_is_gone(corpus: Path, tmp_path: Path, held: str) -> None:
    library = load(corpus, tmp_path / "cache")
    library = append(corpus, tmp_path / "cache", library, {"channels/press/7.md": post(7, "zorbak")})
    write_files(corpus, {held: post(8, "quaxle")})  # an appended post edited, or an old document
    edited = load(corpus, tmp_path / "cache", library, {held})
    assert edited.delta_documents == 0 and not isinstance(edited.sentence_index, Stacked)
    assert_identical(edited, load(corpus, tmp_path / "cold"))
    assert find(edited, "quaxle")
    gone = "zorbak" if held.startswith("channels") else "keeper"
    assert find(edited, gone) == [] and find(library, gone)
    assert not any(gone in q.text for q in answer(edited, f"Who is the {gone}?").quotes)


def test_an_edit_in_a_burst_of_new_posts_takes_the_exact_path(corpus: Path, tmp_path: Path) -> None:
    library = load(corpus, tmp_path / "cache")
    write_files(corpus, {"n/1.md": post(1, "zorbak"), "z-tides.md": post(2, "quaxle")})
    loaded = load(corpus, tmp_path / "cache", library, {"n/1.md", "z-tides.md"})
    assert loaded.delta_documents == 0
    assert_identical(loaded, load(corpus, tmp_path / "cold"))


def test_a_skipped_new_file_is_reported_and_appends_nothing(corpus: Path, tmp_path: Path) -> None:
    library = load(corpus, tmp_path / "cache")
    write_files(corpus, {"n/empty.md": "   \n", "n/.hidden.md": post(1, "zorbak")})
    loaded = load(corpus, tmp_path / "cache", library, {"n/empty.md", "n/.hidden.md", "n/gone.md"})
    assert loaded.delta_documents == 0 and loaded.sentence_count == library.sentence_count
    assert [s.path for s in loaded.skipped if not s.warning] == ["n/empty.md"]
    assert find(loaded, "zorbak") == []


def test_a_library_with_a_delta_is_never_written_as_a_snapshot(corpus: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    library = load_library(corpus, cache)
    pointer = snapshot.folder(corpus_cache_folder(cache, corpus)) / snapshot.POINTER
    written = pointer.read_bytes()
    write_files(corpus, {"n/1.md": post(1, "zorbak")})
    appended = load_library(corpus, cache, previous=library, changed={"n/1.md"})  # a snapshot asked for
    assert appended.delta_documents == 1 and pointer.read_bytes() == written
    assert snapshot.write(appended, corpus_cache_folder(cache, corpus)) is None
    writer = snapshot.SnapshotWriter()
    merged = compact(appended, cache, corpus, writer=writer)
    writer.flush()
    assert pointer.read_bytes() != written
    restarted = load_library(corpus, cache)  # from the merged library's snapshot
    assert find(restarted, "zorbak") and restarted.delta_documents == 0
    assert np.array_equal(restarted.offsets, merged.offsets)


def test_appended_since_names_what_came_on_top(corpus: Path, tmp_path: Path) -> None:
    library = load(corpus, tmp_path / "cache")
    one = append(corpus, tmp_path / "cache", library, {"n/1.md": post(1, "zorbak")})
    two = append(corpus, tmp_path / "cache", one, {"n/2.md": post(2, "kerbin")})
    assert [e.document.path for e in two.appended_since(one) or ()] == ["n/2.md"]
    assert [e.document.path for e in two.appended_since(library) or ()] == ["n/1.md", "n/2.md"]
    assert two.appended_since(two.compacted()) is None
    assert one.appended_since(two) is None
