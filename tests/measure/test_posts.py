"""`citebot bench-posts` at a tiny size: posts are found when appended and after their merge, memory is sampled."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.measure import posts
from bot.telegram import reloads


def test_the_benchmark_mirrors_the_bots_merge_and_refresh_settings() -> None:
    assert posts.MERGE_SENTENCES == reloads.MERGE_SENTENCES
    assert posts.MERGE_DRIFT == reloads.MERGE_DRIFT
    assert posts.REFRESH_DELAY == reloads.REFRESH_DELAY
    assert posts.SNAPSHOT_EVERY == reloads.SNAPSHOT_EVERY


def test_a_tiny_run_appends_merges_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(posts, "MERGE_SENTENCES", 4)  # a merge every two posts in the memory run
    monkeypatch.setattr(posts, "MERGE_DRIFT", 1.0)
    parser = argparse.ArgumentParser()
    posts.add_arguments(parser)
    args = parser.parse_args(
        ["--sentences", "300", "--posts", "3", "--rss-sentences", "100", "--rss-posts", "6", "--workdir", str(tmp_path)]
    )
    assert posts.run(args) == 0
    out = capsys.readouterr().out
    assert "| merge of the 3 appended posts" in out
    assert "3 merges in the memory run (at 4 delta sentences" in out
    assert "| 6 |" in out
