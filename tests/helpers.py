"""What the tests share besides fixtures: the repository's paths, a small corpus, and writing files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from bot.index.library import Library

REPO = Path(__file__).resolve().parent.parent
SEED_CORPUS = REPO / "corpus"
SEED_FILE = SEED_CORPUS / "000_d3a2f4f3c119993b.txt"
SEED_QA = Path(__file__).resolve().parent / "seed_qa.jsonl"

# A news item and an unrelated note: the ranking feature tests read the features of one against the other.
NEWS = {
    "visit.md": (
        "---\ntitle: Kazakhstan and the World Bank\n---\n"
        "The Kazakhstan prime minister met the bank's vice president in Astana.\n\n"
        "They discussed water projects and rural roads.\n\n"
        "At the conclusion of the meeting both sides signed a memorandum.\n\n"
        "Since 1992 the bank has financed 48 projects.\n"
    ),
    "garden.md": "Tomatoes need six hours of sunlight.\n\nCompost feeds the soil.\n",
}

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


# `build(files, **options)`, the conftest fixture: a fresh corpus folder with these files, loaded.
Build = Callable[..., Library]
