"""`citebot bench-languages` on the seed: every row measured for both settings. Never a timing assertion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli
from tests.helpers import SEED_CORPUS


def test_bench_languages_prints_both_settings_for_every_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmarks = tmp_path / "benchmarks"
    (benchmarks / "xquad").mkdir(parents=True)
    for name, question in (
        ("questions_en.jsonl", "Who met the minister?"),
        ("questions_ru.jsonl", "Кто встретил министра?"),
    ):
        (benchmarks / "xquad" / name).write_text(json.dumps({"question": question}) + "\n", encoding="utf-8")
    argv = [
        "bench-languages",
        "--runs",
        "1",
        "--only",
        "seed",
        "--benchmarks",
        str(benchmarks),
        "--seed",
        str(SEED_CORPUS),
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| seed")]
    states = {"first run", "no analyses, model kept", "warm"}
    assert {cells[1].strip() for cells in rows} == {
        f"{m}, {s}" for m in ("load_library", "citebot check") for s in states
    }
    assert all(float(cells[2]) > 0 and float(cells[3]) > 0 for cells in rows)  # CPU seconds, en and auto
    assert "question detection en+ru p50 ms:" in out
