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
from bot.text import languages
from bot.text.analyzers import AnalyzedDocument
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


@pytest.fixture(scope="session")
def language_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The language classifier's model (45 MB) unpacked once for the whole session: the folder it is kept in."""
    home = tmp_path_factory.mktemp("language-model")
    languages._model(home)
    folder = languages._model_folder(home)
    assert folder is not None
    return folder


@pytest.fixture(autouse=True)
def one_language_model(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, language_model: Path) -> None:
    """Each load in this process maps the session's model, whatever cache folder it names, instead of unpacking
    a copy into every test's cache; the tests of the unpacking itself (`fresh_model`) get the real one."""
    if "fresh_model" in request.fixturenames:
        return
    real = languages._model
    home = language_model.parent

    def shared(asked: Path | None) -> object:
        return real(home)

    shared.cache_clear = real.cache_clear  # type: ignore[attr-defined]  # what tests call on the real one
    monkeypatch.setattr(languages, "_model", shared)


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
