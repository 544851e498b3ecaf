"""Shared fixtures for the core's tests: tiny corpora written into tmp_path, loaded into a Library.

`isolated` is autouse: every test runs without the caller's citebot variables, in a folder of its own.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

import bot.index.loader
from bot.config import LEGACY, PREFIX
from bot.index.library import Library
from bot.index.loader import load_library
from bot.ingest.corpus import Document
from bot.text.analyzers import AnalyzedDocument
from bot.text import languages
from bot.text.embeddings import Embedder, default_embedder
from bot.text.languages import Languages
from tests.helpers import MINI_CORPUS, SEED_CORPUS, Build, write_files


def caller_variables() -> list[str]:
    """The caller's environment variables that citebot reads, under any name it has had."""
    legacy = {name.upper() for name in LEGACY}
    return [
        name
        for name in os.environ
        if name.upper().startswith((PREFIX, "TELEGRAM_")) or name.upper() in legacy or name.upper() == "LANGUAGE"
    ]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No citebot variable from the developer's environment or `.env` leaks into a test; HOME is tmp_path."""
    for name in caller_variables():
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)  # `.env` is read from the working directory: there is none here.
    return tmp_path


@pytest.fixture(scope="session", autouse=True)
def language_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The language classifier's model (45 MB), unpacked once for the whole session; this process maps it from here.

    Without it, each process that detects a language unpacks its own copy into its test's cache folder.
    """
    previous = languages.model_home()
    languages.keep_model_in(tmp_path_factory.mktemp("language-model"))
    try:
        folder = languages._model_folder()
        assert folder is not None
        languages._model.cache_clear()
        languages._model()  # unpacks into `folder`, then every later load in this process maps this one
    finally:
        languages.keep_model_in(previous)
    return folder


@pytest.fixture
def model_in_cache(tmp_path: Path, language_model: Path) -> Path:
    """`tmp_path/cache` holding the session's unpacked language model (hard links), for a citebot subprocess to map."""
    kept = tmp_path / "cache" / language_model.name
    kept.mkdir(parents=True)
    for file in language_model.iterdir() if language_model.is_dir() else ():  # not kept: the subprocess unpacks it
        try:
            os.link(file, kept / file.name)
        except OSError:
            shutil.copyfile(file, kept / file.name)  # another file system: a copy still spares the unpacking
    return tmp_path / "cache"


@pytest.fixture
def build(tmp_path: Path, isolated: Path) -> Build:
    """`build(files, **options)`: write files into a fresh corpus folder and load it into a Library."""
    counter = itertools.count()

    def build(files: Mapping[str, str | bytes], **options: object) -> Library:
        root = write_files(tmp_path / f"corpus{next(counter)}", files)
        return load_library(root, tmp_path / "cache", **options)  # type: ignore[arg-type]

    return build


@pytest.fixture
def mini(build: Build) -> Library:
    """The MINI_CORPUS, loaded."""
    return build(MINI_CORPUS)


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Library:
    """The repository's seed corpus, loaded once, with its cache outside the working tree."""
    return load_library(SEED_CORPUS, tmp_path_factory.mktemp("seed-cache"))


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The installed wordllama's embeddings; the test is skipped when the `semantic` extra is not installed."""
    found = default_embedder()
    if found is None:
        pytest.skip("the semantic extra (wordllama) is not installed: pip install -e '.[semantic]'")
    return found


@pytest.fixture
def analyze_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the documents the loader analyzes (rather than takes from the cache or snapshot), in order."""
    calls: list[str] = []
    real = bot.index.loader.analyze_document

    def counting(document: Document, languages: Languages) -> AnalyzedDocument:
        calls.append(document.path)
        return real(document, languages)

    monkeypatch.setattr(bot.index.loader, "analyze_document", counting)
    return calls
