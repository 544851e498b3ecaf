"""Shared fixtures for the core's tests: tiny corpora written into tmp_path, loaded into a Library.

`isolated` is autouse: every test runs without the caller's citebot variables, in a folder of its own.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from bot.config import LEGACY, PREFIX
from bot.library import Library
from bot.loader import load_library

REPO = Path(__file__).resolve().parent.parent
SEED_CORPUS = REPO / "corpus"
SEED_FILE = SEED_CORPUS / "000_d3a2f4f3c119993b.txt"
SEED_QA = Path(__file__).resolve().parent / "seed_qa.jsonl"

# A small corpus with one clear answer per topic, used by the ranking, answer and CLI tests.
MINI_CORPUS: dict[str, str | bytes] = {
    "bank.md": (
        "---\n"
        "title: World Bank meeting in Astana\n"
        "source: example.org\n"
        "date: 2025-06-01\n"
        "url: https://example.org/bank\n"
        "---\n"
        "The Prime Minister met the World Bank vice president in Astana.\n"
        "Since 1992 the bank has financed 48 projects worth 8 billion dollars in the country.\n"
        "It plans to fund new water pipelines in the southern regions.\n"
    ),
    "garden.txt": (
        "Tomatoes need six hours of direct sunlight every day.\n\n"
        "Water the seedlings early in the morning so the leaves dry before night.\n\n"
        "Compost improves heavy clay soil and feeds earthworms.\n"
    ),
    "rail/line.md": (
        "# The Darbaza-Maktaaral railway\n\n"
        "The Darbaza-Maktaaral railway line opened to passengers in December 2024.\n"
        "Trains run between the two towns along the cotton fields.\n"
    ),
    "volcano.txt": (
        "Mount Etna is the most active volcano in Europe.\n"
        "Its lava flows have reached the outskirts of Catania several times.\n"
    ),
}


def write_files(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write files (text as UTF-8, bytes as they are) under root, creating folders; return root."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def caller_variables() -> list[str]:
    """The caller's environment variables that citebot reads, under any name it has had."""
    legacy = {name.upper() for name in LEGACY}
    return [
        name for name in os.environ
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


Build = Callable[..., Library]


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
