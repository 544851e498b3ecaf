"""Where the library is loaded: in this process, or sharded on the Dask cluster the settings name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import simplemma

import bot.index
from bot.chat.loading import load_for
from bot.config import Settings, SettingsError, load_settings
from bot.index.library import Library
from bot.text import analyzers
from tests.helpers import MINI_CORPUS, write_files


def test_cluster_settings_are_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    monkeypatch.setenv("CITEBOT_SHARDS", "12")
    settings = load_settings()
    assert (settings.dask_scheduler, settings.shards) == ("tcp://10.0.0.5:8786", 12)


def test_zero_shards_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_SHARDS", "0")
    with pytest.raises(SettingsError, match="CITEBOT_SHARDS"):
        load_settings()


def test_without_a_scheduler_the_library_is_loaded_here(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=write_files(tmp_path / "corpus", MINI_CORPUS), cache_dir=tmp_path / "cache")
    library = load_for(settings)
    assert type(library) is Library and len(library.documents) == len(MINI_CORPUS)


def test_a_scheduler_without_dask_installed_says_which_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What an install without the extra looks like: Dask cannot be imported, bot.index.cluster was never loaded.
    for name in ("dask", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "bot.index.cluster", raising=False)
    monkeypatch.delattr(bot.index, "cluster", raising=False)
    settings = Settings(corpus_dir=tmp_path, cache_dir=tmp_path / "cache", dask_scheduler="local")
    with pytest.raises(SettingsError, match=r"citebot\[cluster\]"):
        load_for(settings)


def test_loading_reads_the_lemmatizer_before_the_first_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(corpus_dir=write_files(tmp_path / "corpus", MINI_CORPUS), cache_dir=tmp_path / "cache")
    load_for(settings)  # builds the snapshot: the next load maps it and analyses nothing
    analyzers._memo.cache_clear()  # a fresh process: no word lemmatized yet
    languages: list[str] = []
    real = simplemma.lemmatize

    def lemmatize(word: str, lang: str) -> str:
        languages.append(lang)
        return real(word, lang=lang)

    monkeypatch.setattr(simplemma, "lemmatize", lemmatize)
    load_for(settings)
    assert "en" in languages  # simplemma reads a language's dictionary at its first word
