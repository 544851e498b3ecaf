"""`citebot eval-followups`: two-turn chats scored with and without the follow-up rule, with floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli
from bot.measure.followups import read_pairs
from tests.helpers import write_files

pytestmark = pytest.mark.usefixtures("isolated")

CORPUS = {
    "tunnel.md": "# Tunnel\n\nThe Marxton tunnel is four kilometres long. The tunnel opened in 1950.\n",
    "bridge.md": "# Bridge\n\nThe Fredville bridge is three hundred metres long. The bridge opened in 1802.\n",
}
PAIRS = [
    {"id": "fu-en-1", "set": "roads", "before": "How long is the Fredville bridge?", "question": "When did it open?",
     "reply": False, "expected": ["The bridge opened in 1802."]},
    {"id": "fu-en-2", "set": "roads", "before": "How long is the Marxton tunnel?", "question": "When did it open?",
     "reply": True, "expected": ["The tunnel opened in 1950."]},
    {"id": "fu-en-3", "set": "roads", "before": "How long is the Marxton tunnel?",
     "question": "Who won the Champions League?", "reply": False, "expected": []},
]  # fmt: skip


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    write_files(tmp_path / "sets" / "roads" / "corpus", CORPUS)
    path = tmp_path / "sets" / "followups.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PAIRS), encoding="utf-8")
    return path


def test_eval_followups_reports_both_and_checks_the_floor(capsys: pytest.CaptureFixture[str], pairs_file: Path) -> None:
    assert cli.main(["eval-followups", str(pairs_file), "--min-p1", "1.0", "--min-abstention", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "3 (2 answerable, 1 off-topic)" in out and "read as follow-ups: 2" in out
    # Alone, "When did it open?" cannot tell the tunnel from the bridge: at most one of the two is right.
    [p1] = [line for line in out.splitlines() if line.startswith("P@1:")]
    alone = float(p1.split()[1])
    assert alone <= 0.5 and p1.endswith("1.000 with the follow-up rule")
    # Shown first counts a right closest passage too: never less than P@1.
    [shown] = [line for line in out.splitlines() if line.startswith("shown first:")]
    assert float(shown.split()[2]) >= alone and "1.000 with the follow-up rule" in shown
    assert cli.main(["eval-followups", str(pairs_file), "--min-p1", "1.01"]) == 1


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "followups.jsonl"
    path.write_text('{"id": "x", "set": "s", "before": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="followups.jsonl:1"):
        read_pairs(path)


def test_show_misses_names_the_pairs_the_rule_gets_wrong(capsys: pytest.CaptureFixture[str], pairs_file: Path) -> None:
    # Expecting the bridge after a question about the tunnel: the rule answers with the tunnel, a miss.
    wrong = {**PAIRS[1], "id": "fu-en-9", "expected": ["The bridge opened in 1802."]}
    pairs_file.write_text("".join(json.dumps(p) + "\n" for p in [*PAIRS, wrong]), encoding="utf-8")
    cli.main(["eval-followups", str(pairs_file), "--show-misses"])
    [misses] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("misses:")]
    assert misses.split()[1:] == ["fu-en-9"]
