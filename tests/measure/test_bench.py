"""`citebot bench` on a tiny corpus: the table has its rows and columns. Never a timing assertion."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.index.loader import load_library
from bot.measure.bench import generate_corpus, main


def test_generated_corpus_is_deterministic_and_news_like(tmp_path: Path) -> None:
    generate_corpus(tmp_path / "one", 300, seed=3)
    generate_corpus(tmp_path / "two", 300, seed=3)
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.md"))
    assert one == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.md"))
    assert all((tmp_path / "one" / p).read_bytes() == (tmp_path / "two" / p).read_bytes() for p in one)
    library = load_library(tmp_path / "one", tmp_path / "cache")
    assert 250 <= library.sentence_count <= 350
    words = " ".join((tmp_path / "one" / p).read_text() for p in one).lower().split()
    # In English news these six make up about a sixth of all words.
    assert 0.12 < sum(w in {"the", "of", "and", "to", "a", "in"} for w in words) / len(words) < 0.25


def test_bench_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workdir = tmp_path / "bench"
    assert main(["--sizes", "2000", "--queries", "20", "--rank-sample", "3", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table[0].split("|")) == 4, "a measure column and one column per size"
    assert "sentences" in table[0]
    for row in (
        "cold build",
        "warm start from the analysis cache",
        "start from the mapped snapshot",
        "private (anonymous) RSS after mapping the snapshot",
        "one-document reload",
        "loaded library peak RSS",
        "citebot query p50 / p99",
        "bm25s query",
        "rank-bm25 query",
        "rank-bm25 ÷ citebot",
        "bm25s ÷ citebot",
        "top-10 same as rank-bm25",
    ):
        assert any(line.startswith(f"| {row}") for line in table), row
    assert "| top-10 same as rank-bm25 | yes |" in out
    assert "cores" in out
    assert list(workdir.iterdir()) == [], "the corpora go away"


def test_bench_times_sharded_search_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed", reason="Dask is not installed: pip install '.[cluster]'")
    workdir = tmp_path / "bench"
    assert (
        main(["--sizes", "1500", "--queries", "10", "--rank-sample", "2", "--shards", "3", "--workdir", str(workdir)])
        == 0
    )
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert any(line.startswith("| sharded query p50 / p99") and "–" not in line for line in table)
    assert any(line.startswith("| sharded whole answer p50 / p99") and "–" not in line for line in table)
    assert "| sharded top-10 same as one index, bit for bit | yes |" in table
