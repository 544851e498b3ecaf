"""Appended posts are merged into the exact library in the background, never losing a post or the library."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.index import snapshot
from bot.index.library import Library
from bot.index.loader import corpus_cache_folder, load_library
from bot.telegram import reloads
from bot.telegram.state import BotState
from tests.helpers import write_files
from tests.index.test_loader import assert_identical

CORPUS = {
    "harbour.md": "# Harbour\n\nThe harbour opens at six. Ships wait outside the harbour in a storm.\n",
    "tides.md": "# Tides\n\nThe tide turns twice a day. Fog rolls in over the coast at night.\n",
}


def post(word: str) -> str:
    return f"# Ferry\n\nThe {word} ferry sails to the island at noon.\n"


@pytest.fixture(autouse=True)
def no_drift_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # In a corpus this small one post moves the average length past MERGE_DRIFT: merges would come at once.
    monkeypatch.setattr(reloads, "MERGE_DRIFT", 1.0)


@pytest.fixture
async def state(tmp_path: Path) -> BotState:
    corpus = write_files(tmp_path / "corpus", CORPUS)
    settings = load_settings(_env_file=None, corpus_dir=corpus, cache_dir=tmp_path / "cache", workers=1)
    return BotState(settings=settings, library=load_library(corpus, settings.cache_dir))


async def add(state: BotState, name: str, word: str) -> Library:
    write_files(state.settings.corpus_dir, {name: post(word)})
    library, _ = await reloads.reload_library(state, {name})
    return library


def cold(state: BotState, tmp_path: Path) -> Library:
    return load_library(state.settings.corpus_dir, tmp_path / "cold", snapshot=False)


async def test_a_new_post_is_appended_and_merged_after_a_quiet_spell(
    state: BotState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reloads, "MERGE_QUIET", 0.3)
    pointer = snapshot.folder(corpus_cache_folder(state.settings.cache_dir, state.settings.corpus_dir))
    before = (pointer / snapshot.POINTER).read_bytes()
    await add(state, "channels/press/1.md", "zorbak")
    await asyncio.sleep(0.1)
    appended = await add(state, "channels/press/2.md", "kerbin")  # within the quiet spell: it starts again
    assert state.library is appended and appended.delta_documents == 2
    assert state.merge_task is not None
    await asyncio.wait_for(state.merge_task, 10)
    assert state.library.delta_documents == 0
    assert_identical(state.library, cold(state, tmp_path))
    state.snapshots.flush()
    assert (pointer / snapshot.POINTER).read_bytes() != before  # the merge wrote the snapshot, the appends none


async def test_a_large_delta_is_merged_at_once(state: BotState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reloads, "MERGE_SENTENCES", 2)
    await add(state, "n/1.md", "zorbak")
    assert state.merge_task is not None and state.library.delta_documents == 1
    await asyncio.wait_for(state.merge_task, 10)
    assert state.library.delta_documents == 0


async def test_a_delta_whose_scores_drift_is_merged_at_once(state: BotState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reloads, "MERGE_DRIFT", 0.001)
    appended = await add(state, "n/1.md", "zorbak")
    assert appended.drift() > 0.001 and reloads.merge_delay(appended) == 0.0
    assert state.merge_task is not None
    await asyncio.wait_for(state.merge_task, 10)
    assert state.library.delta_documents == 0 and state.library.drift() == 0.0


async def test_posts_appended_during_a_merge_are_appended_to_it_and_merged_next(
    state: BotState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(state, "n/1.md", "zorbak")
    first = state.library
    merging = asyncio.create_task(reloads.merge_library(state))
    await asyncio.sleep(0)  # the merge has taken the library it merges and is computing in its thread
    second = await add(state, "n/2.md", "kerbin")
    assert second.appended_since(first) is not None
    await merging
    merged = state.library
    assert merged is not second and merged.delta_documents == 1
    assert [d.path for d in merged.documents] == ["harbour.md", "n/1.md", "tides.md", "n/2.md"]
    assert merged.search(merged.document_analyzer(0).terms("kerbin"))
    assert state.merge_task is not None  # the reload scheduled the next merge
    await reloads.merge_library(state)
    assert_identical(state.library, cold(state, tmp_path))
    state.merge_task.cancel()


async def test_a_merge_is_dropped_when_a_reload_replaced_the_library(state: BotState, tmp_path: Path) -> None:
    await add(state, "n/1.md", "zorbak")
    merging = asyncio.create_task(reloads.merge_library(state))
    await asyncio.sleep(0)
    write_files(state.settings.corpus_dir, {"tides.md": post("quaxle")})
    edited, _ = await reloads.reload_library(state, {"tides.md"})  # an edit: the exact path
    await merging
    assert state.library is edited and edited.delta_documents == 0
    assert_identical(state.library, cold(state, tmp_path))
    assert state.merge_task is not None
    state.merge_task.cancel()


async def test_a_failed_merge_keeps_the_library_and_its_posts(
    state: BotState, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    appended = await add(state, "n/1.md", "zorbak")

    def broken(self: Library) -> Library:
        raise MemoryError("no room for the merge")

    monkeypatch.setattr(Library, "compacted", broken)
    await reloads.merge_library(state)
    assert state.library is appended
    assert state.library.search(appended.document_analyzer(0).terms("zorbak"))
    assert "Merging 1 appended documents failed" in caplog.text
    assert state.merge_task is not None
    state.merge_task.cancel()
