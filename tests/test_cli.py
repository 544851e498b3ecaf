"""The `citebot` command: ask (plain, JSON, stdin), check, eval, chat, start, bad settings; README commands."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import cli
from bot.chat import messages
from bot.chat.feedback import Feedback, Shown
from bot.chat.refs import SentenceRef
from bot.chat.render import NOT_FOUND
from bot.config import Settings
from tests.helpers import MINI_CORPUS, REPO, SEED_CORPUS, SEED_QA, write_files

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_files(
        tmp_path / "docs",
        {**MINI_CORPUS, "broken.md": "---\ntitle: [x\n---\nBroken header, kept body.\n", "empty.txt": ""},
    )


def run(
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdin: str | bytes | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        # Bytes come as they do under a strict UTF-8 locale (en_US.UTF-8): a stream that raises on bad bytes.
        stream = io.StringIO(stdin) if isinstance(stdin, str) else io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        monkeypatch.setattr(sys, "stdin", stream)
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- ask ------------------------------------------------------------------------------------------------


def test_ask_prints_the_answer_with_citation(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    code, out, err = run(capsys, "ask", "--corpus", str(docs), "Who", "did the prime minister meet in Astana?")
    assert code == 0
    assert out.startswith("Q: Who did the prime minister meet in Astana?\n")
    assert "The Prime Minister met the World Bank vice president in Astana. [1]" in out
    assert "Sources:\n[1] World Bank meeting in Astana — example.org, 2025-06-01 — https://example.org/bank" in out
    assert "<b>" not in out
    assert re.search(r"Loaded 5 documents, \d+ sentences", err)


def test_ask_off_topic_prints_not_found(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    code, out, _ = run(capsys, "ask", "--corpus", str(docs), "What is the capital of France?")
    assert code == 0 and NOT_FOUND in out and "[1]" not in out and "Sources" not in out


def check_json(data: dict, question: str) -> None:
    assert data["question"] == question
    assert isinstance(data["answered"], bool)
    assert isinstance(data["took_ms"], float) and data["took_ms"] >= 0
    results = data["results"]
    assert isinstance(results, list) and len(results) <= 10
    for row in results:
        assert isinstance(row["text"], str) and row["text"]
        assert isinstance(row["score"], float)
        assert isinstance(row["document"], str) and isinstance(row["title"], str)
        assert not row["document"].startswith("/") and not Path(row["document"]).is_absolute()
    scores = [row["score"] for row in results]
    assert scores == sorted(scores, reverse=True)


def test_ask_json_schema(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    question = "When did the railway line open to passengers?"
    code, out, _ = run(capsys, "ask", "--json", "--corpus", str(docs), question)
    assert code == 0
    [line] = out.splitlines()
    data = json.loads(line)
    check_json(data, question)
    assert data["answered"] is True and len(data["results"]) >= 2
    best = data["results"][0]
    assert best["text"].startswith("The Darbaza-Maktaaral railway line opened")
    assert best["document"] == "rail/line.md" and best["title"] == "The Darbaza-Maktaaral railway"
    assert data["answer"][0]["text"] == best["text"] and data["answer"][0]["citation"] == 1
    assert data["sources"][0]["document"] == "rail/line.md"


def test_ask_json_has_results_even_when_not_answered(capsys: pytest.CaptureFixture[str]) -> None:
    question = "Who won the football World Cup?"
    code, out, _ = run(capsys, "ask", "--json", "--corpus", str(SEED_CORPUS), question)
    data = json.loads(out)
    check_json(data, question)
    assert code == 0 and data["answered"] is False and data["answer"] == [] and data["sources"] == []
    assert 1 <= len(data["results"]) <= 10
    assert {row["document"] for row in data["results"]} == {"000_d3a2f4f3c119993b.txt"}


def test_ask_reads_one_question_per_stdin_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, docs: Path
) -> None:
    questions = [
        "Which is Europe's most active volcano?",
        "",
        "   ",
        "What is the capital of France?",
        "What improves heavy clay soil?",
    ]
    code, out, _ = run(
        capsys, "ask", "--json", "--corpus", str(docs), stdin="\n".join(questions) + "\n", monkeypatch=monkeypatch
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]  # stdout is nothing but JSON lines
    assert [row["question"] for row in rows] == [q for q in questions if q.strip()]
    assert [row["answered"] for row in rows] == [True, False, True]
    for row in rows:
        check_json(row, row["question"])


def test_ask_plain_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, docs: Path) -> None:
    code, out, _ = run(
        capsys,
        "ask",
        "--corpus",
        str(docs),
        stdin="What improves heavy clay soil?\nWhich is Europe's most active volcano?",
        monkeypatch=monkeypatch,
    )
    assert code == 0 and out.count("Q: ") == 2 and "Compost improves heavy clay soil" in out and "Mount Etna" in out


@pytest.mark.usefixtures("model_in_cache")
def test_python_m_bot_ask_in_a_subprocess(tmp_path: Path, docs: Path) -> None:
    env = dict(os.environ)  # the caller's citebot variables are already gone (see `isolated`)
    env.update(HOME=str(tmp_path / "home"), CITEBOT_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--corpus", str(docs), "How many projects has the bank financed?"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Since 1992 the bank has financed 48 projects worth 8 billion dollars in the country. [1]" in done.stdout
    assert "[1] World Bank meeting in Astana" in done.stdout


@pytest.mark.parametrize(
    "command", [["check"], ["ask", "How many projects has the bank financed?"], ["ask", "--json", "Who won?"]]
)
@pytest.mark.usefixtures("model_in_cache")
def test_commands_work_where_the_desktop_sets_language(tmp_path: Path, docs: Path, command: list[str]) -> None:
    """LANGUAGE=en_US:en is set on many Linux desktops; citebot never reads it, so nothing breaks."""
    env = dict(os.environ, LANGUAGE="en_US:en", HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    env.update(CITEBOT_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-m", "bot", command[0], "--corpus", str(docs), *command[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "bad setting" not in done.stderr and done.stdout


def test_old_setting_name_is_honoured_with_a_one_line_warning(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, docs: Path
) -> None:
    monkeypatch.setenv("CORPUS_DIR", str(docs))
    code, out, err = run(capsys, "check")
    assert code == 0 and "documents: 5" in out
    assert (
        "citebot: warning: CORPUS_DIR is deprecated and will stop working in the next release; set CITEBOT_CORPUS_DIR"
        in err
    )


# --- check ------------------------------------------------------------------------------------------------


def test_check_reports_documents_sentences_and_skipped(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    code, out, _ = run(capsys, "check", "--corpus", str(docs))
    assert code == 0
    assert re.search(r"^documents: 5$", out, re.M)
    assert re.search(r"^sentences: (\d+)$", out, re.M) and int(re.search(r"^sentences: (\d+)$", out, re.M)[1]) >= 10
    assert re.search(r"^skipped: +1$", out, re.M) and "  empty.txt: empty file" in out
    assert re.search(r"^warnings: +1$", out, re.M) and "  broken.md: broken front matter ignored" in out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: write_files(tmp / "empty", {}), "no .txt, .md, .html"),
        (lambda tmp: write_files(tmp / "bad", {"a.txt": b"", "b.md": b"\x00\x01"}), "a.txt: empty file"),
    ],
    ids=["missing", "empty", "all-bad"],
)
@pytest.mark.parametrize("command", ["check", "ask", "eval"])
def test_unusable_corpus_exits_non_zero_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make, message: str, command: str
) -> None:
    root = make(tmp_path)
    extra = {"check": [], "ask": ["a question"], "eval": [str(SEED_QA)]}[command]
    code, out, err = run(capsys, command, "--corpus", str(root), *extra)
    assert code == 1
    assert err.startswith("citebot: ") and message in err and str(root) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("option", "(given with --corpus); create it or give another folder"),
        ("setting", "(set by CITEBOT_CORPUS_DIR); create it or set CITEBOT_CORPUS_DIR to another folder"),
        ("default", "(the default: neither --corpus nor CITEBOT_CORPUS_DIR is set); create it, or give --corpus DIR"),
    ],
)
def test_a_missing_corpus_names_the_setting_that_gave_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, given: str, named: str
) -> None:
    missing = tmp_path / "corpus"  # the default, relative to the working folder, which is tmp_path
    argv = ["check"]
    if given == "option":
        argv += ["--corpus", str(missing)]
    elif given == "setting":
        monkeypatch.setenv("CITEBOT_CORPUS_DIR", str(missing))
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert named in err and "CORPUS_DIR or create" not in err
    assert err.startswith(f"citebot: corpus folder {missing if given != 'default' else 'corpus'} does not exist ")


# --- eval -------------------------------------------------------------------------------------------------


@pytest.fixture
def qa(tmp_path: Path) -> Path:
    rows = [
        {
            "id": "hit",
            "question": "Which is Europe's most active volcano?",
            "expected": ["Mount Etna is the most active volcano in Europe."],
        },
        # Answerable, but the "expected" sentence is not the one that answers it: a rank-1 miss.
        {
            "id": "miss",
            "question": "What improves heavy clay soil?",
            "expected": ["Tomatoes need six hours of direct sunlight every day."],
        },
        {"id": "off", "question": "What is the capital of France?", "expected": []},
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def figures(out: str) -> dict[str, float]:
    pattern = r"^(P@1|shown first|Hit@3|MRR@10|answered|precision|abstention|bare):\s+([\d.]+)"
    return {name: float(value) for name, value in re.findall(pattern, out, re.M)}


def test_eval_prints_the_figures(capsys: pytest.CaptureFixture[str], docs: Path, qa: Path) -> None:
    code, out, _ = run(capsys, "eval", str(qa), "--corpus", str(docs), "--show-misses")
    assert code == 0
    found = figures(out)
    assert found["P@1"] == 0.5 and found["abstention"] == 1.0 and found["answered"] == 1.0
    assert 0.5 < found["MRR@10"] < 1.0
    assert "questions:   2 answerable, 1 unanswerable" in out
    assert re.search(r"^latency ms:\s+p50 [\d.]+\s+p90 [\d.]+\s+p99 [\d.]+$", out, re.M)
    # Each miss with its question, what was quoted first and what was expected, not an id alone.
    assert re.search(
        r"^misses:\s+1\n  miss: What improves heavy clay soil\?\n    quoted:   Compost [^\n]+\n"
        r"    expected: Tomatoes need six hours of direct sunlight every day\.$",
        out,
        re.M,
    ), out


@pytest.mark.parametrize(
    ("floors", "code", "failed"),
    [
        (["--min-p1", "0.5"], 0, None),
        (["--min-p1", "0.6"], 1, "P@1 0.500 < 0.6"),
        (["--min-abstention", "1.0", "--min-p1", "0.4"], 0, None),
        (["--min-hit3", "0.9", "--min-mrr", "0.99"], 1, "MRR@10"),
    ],
)
def test_eval_exits_1_below_a_floor(
    capsys: pytest.CaptureFixture[str], docs: Path, qa: Path, floors: list[str], code: int, failed: str | None
) -> None:
    got, _, err = run(capsys, "eval", str(qa), "--corpus", str(docs), *floors)
    assert got == code
    if failed:
        assert "below the floor" in err and failed in err
    else:
        assert "below the floor" not in err


def test_eval_on_the_seed_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "eval", str(SEED_QA), "--corpus", str(SEED_CORPUS), "--min-p1", "0.7", "--min-abstention", "1.0"
    )
    assert code == 0
    found = figures(out)
    assert set(found) == {"P@1", "shown first", "Hit@3", "MRR@10", "answered", "precision", "abstention", "bare"}
    assert found["shown first"] >= found["P@1"]
    assert "questions:   20 answerable, 12 unanswerable" in out


def test_eval_of_a_folder_runs_each_set_on_its_own_corpus(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    group = tmp_path / "group"
    volcano = {"id": "v", "question": "Which is Europe's most active volcano?", "expected": ["Mount Etna is the most"]}
    off = {"id": "o", "question": "Who won the football World Cup in 2018?", "expected": []}
    for name, rows in (("a_set", [volcano, off]), ("b_set", [volcano])):
        write_files(group / name / "corpus", MINI_CORPUS)
        (group / name / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (group / "notes.txt").write_text("not a set", encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(group), "--min-p1", "1.0", "--min-shown", "1.0", "--min-abstention", "1.0")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:4]}
    assert rows == {
        "a_set": ["1", "1.000", "1.000", "1", "1.000", "1.000"],
        "b_set": ["1", "1.000", "1.000", "0", "0.000", "0.000"],
        "all": ["2", "1.000", "1.000", "1", "1.000", "1.000"],
    }
    (tmp_path / "empty_group").mkdir()
    code, out, _ = run(capsys, "eval", str(tmp_path / "empty_group"))
    assert code == 2 and "holds no set" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"id": "a", "question": "ok", "expected": []}\n{broken\n', "qa.jsonl:2: not a QA line"), (None, "No such file")],
)
def test_eval_bad_qa_file_exits_1_naming_the_problem(
    capsys: pytest.CaptureFixture[str], docs: Path, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "qa.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "eval", str(path), "--corpus", str(docs))
    assert code == 1 and message in err and "Traceback" not in err


def test_ask_without_a_question_says_one_is_needed(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    for question in ([""], ["   "], ["", "\t"]):
        code, out, err = run(capsys, "ask", "--corpus", str(docs), *question)
        assert (code, out) == (2, ""), question
        assert err.startswith("citebot: ") and "question" in err and "Loaded" not in err


# --- hostile input, file names and documents ---------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True])
def test_ask_answers_every_stdin_line_despite_invalid_utf8(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, docs: Path, as_json: bool
) -> None:
    stdin = b"What improves heavy clay soil\xff?\nWhich is Europe\xe2s most active volcano?\n"
    code, out, _ = run(
        capsys, "ask", *(["--json"] * as_json), "--corpus", str(docs), stdin=stdin, monkeypatch=monkeypatch
    )
    assert code == 0
    if as_json:
        rows = [json.loads(line) for line in out.splitlines()]
        assert [row["question"] for row in rows] == [
            "What improves heavy clay soil\ufffd?",
            "Which is Europe\ufffds most active volcano?",
        ]
        assert all(row["answered"] for row in rows)
    else:
        assert out.count("Q: ") == 2 and "Compost improves heavy clay soil" in out and "Mount Etna" in out


def test_ask_json_escapes_file_names_that_are_not_utf8(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    (docs / os.fsdecode(b"caf\xe9.txt")).write_text(
        "Espresso is brewed under nine bars of pressure.\n", encoding="utf-8"
    )
    code, out, _ = run(capsys, "ask", "--json", "--corpus", str(docs), "How much pressure brews espresso?")
    assert code == 0
    out.encode("utf-8")  # strict: no lone surrogate made it through
    data = json.loads(out)
    assert (
        data["answer"][0]["document"] == "caf\\xe9.txt"
        and data["sources"][0]["title"] == "Espresso is brewed under nine bars of pressure"
    )


@pytest.mark.parametrize("io_encoding", [None, "utf-8:strict"], ids=["C.UTF-8", "strict"])
@pytest.mark.usefixtures("model_in_cache")
def test_ask_json_output_is_utf8_whatever_comes_in(tmp_path: Path, docs: Path, io_encoding: str | None) -> None:
    (docs / os.fsdecode(b"caf\xe9.txt")).write_text(
        "Espresso is brewed under nine bars of pressure.\n", encoding="utf-8"
    )
    # The caller's citebot variables are already gone (see `isolated`); so are its locale and Python I/O settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIOENCODING", "PYTHONUTF8"))}
    env.update(
        HOME=str(tmp_path / "home"), CITEBOT_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(REPO), LC_ALL="C.UTF-8"
    )
    if io_encoding:  # what a strict UTF-8 locale such as en_US.UTF-8 gives, where this machine may have none
        env["PYTHONIOENCODING"] = io_encoding
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "--corpus", str(docs)],
        input=b"How much pressure brews espresso\xff?\n\xc0\xaf\nWhich is Europe's most active volcano?\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]  # strict: raises on a bad byte
    assert len(rows) == 3 and rows[0]["answer"][0]["document"] == "caf\\xe9.txt" and rows[2]["answered"]


def test_check_escapes_file_names_that_would_break_its_report(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    for name in ["two\nlines.txt", os.fsdecode(b"caf\xe9.md"), "bell\x07\x1b[2J.md"]:
        (docs / name).write_bytes(b"")
    code, out, _ = run(capsys, "check", "--corpus", str(docs))
    assert code == 0
    assert re.search(r"^skipped: +4$", out, re.M)
    listed = out.split("skipped:", 1)[1].splitlines()[1:5]
    assert sorted(listed) == sorted(
        f"  {name}: empty file" for name in ["two\\nlines.txt", "caf\\xe9.md", "bell\\x07\\x1b[2J.md", "empty.txt"]
    )


FERRY = (
    '---\ntitle: "Ferry \\e[31mprices\\e[0m"\n---\n'
    "The ferry \x1b[2J\x1b]0;owned\x07ticket costs 100 tenge\x9b31m for adults.\x1b[0m\r\n"
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_terminal_output_carries_no_control_characters(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, history: Path, command: str
) -> None:
    root = write_files(tmp_path / "docs", {"ferry.md": FERRY, "other.txt": "Buses leave every hour.\n"})
    question = "How much does the \x1b[5mferry ticket cost?"
    argv, stdin = ([question], None) if command == "ask" else ([], question + "\n")
    code, out, _ = run(capsys, command, "--corpus", str(root), *argv, stdin=stdin, monkeypatch=monkeypatch)
    assert code == 0
    assert "The ferry ticket costs 100 tenge for adults. [1]" in out and "[1] Ferry prices" in out
    assert not CONTROL.search(out) and "owned" not in out


def test_check_survives_symlink_loops_and_fifos(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    (docs / "loop").symlink_to(".")
    os.mkfifo(docs / "pipe.md")
    code, out, _ = run(capsys, "check", "--corpus", str(docs))
    assert code == 0 and re.search(r"^documents: 5$", out, re.M)


def test_check_lists_symlinks_and_special_files_it_skipped(capsys: pytest.CaptureFixture[str], docs: Path) -> None:
    (docs / "loop").symlink_to(".")
    os.mkfifo(docs / "pipe.md")
    _, out, _ = run(capsys, "check", "--corpus", str(docs))
    assert "  loop: symlink loop" in out and "  pipe.md: not a regular file: named pipe (FIFO)" in out


# --- chat and start --------------------------------------------------------------------------------------


@pytest.fixture
def history(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> Path:
    # HOME is tmp_path/home (see `isolated`): the chat keeps its history there.
    return Path(os.environ["HOME"]) / ".citebot_history"


def test_chat_answers_stdin_lines_and_exits_0_on_eof(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, docs: Path, history: Path
) -> None:
    lines = "Which is Europe's most active volcano?\n\nWhat is the capital of France?\n"
    code, out, _ = run(capsys, "chat", "--corpus", str(docs), stdin=lines, monkeypatch=monkeypatch)
    assert code == 0
    assert "Ctrl-D quits" in out
    assert "Mount Etna is the most active volcano in Europe. [1]" in out and "Sources:" in out
    assert NOT_FOUND in out
    assert history.exists()


@pytest.mark.usefixtures("model_in_cache")
@pytest.mark.parametrize("minutes", ["5", "0"])
def test_chat_answers_a_follow_up_with_the_subject_before_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, history: Path, minutes: str
) -> None:
    monkeypatch.setenv("CITEBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CITEBOT_FOLLOWUP_MINUTES", minutes)
    lines = "How many World Bank projects were implemented in Kazakhstan?\nIn which years?\n"
    code, out, _ = run(capsys, "chat", "--corpus", str(SEED_CORPUS), stdin=lines, monkeypatch=monkeypatch)
    first, years = out.split("\n? ")[1:3]
    assert code == 0 and "were implemented from 1992 to 2024" in first
    if minutes == "0":
        # Read alone, "In which years?" is declined: plainly, or with the closest passage.
        assert NOT_FOUND in years or messages.text("closest") in years
    else:
        # The terminal says how it read the question, then answers it.
        assert years.startswith("(In which years? (world bank projects implemented kazakhstan))\n")
        assert "were implemented from 1992 to 2024" in years and NOT_FOUND not in years


@pytest.mark.usefixtures("model_in_cache")
def test_chat_history_goes_to_home(tmp_path: Path, docs: Path) -> None:
    home = tmp_path / "elsewhere"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(HOME=str(home), CITEBOT_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--corpus", str(docs)],
        input="What improves heavy clay soil?\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Compost improves heavy clay soil" in done.stdout
    assert (home / ".citebot_history").exists()


@pytest.mark.parametrize("token", [None, "", "  "])
def test_start_without_a_token_opens_the_chat(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, docs: Path, history: Path, token: str | None
) -> None:
    if token is not None:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)

    def no_bot(settings: Settings) -> int:
        raise AssertionError("the Telegram bot must not start without a token")

    monkeypatch.setattr(cli, "run_bot", no_bot)
    code, out, _ = run(
        capsys, "start", "--corpus", str(docs), stdin="What improves heavy clay soil?\n", monkeypatch=monkeypatch
    )
    assert code == 0 and "Ctrl-D quits" in out and "Compost improves heavy clay soil" in out


def test_start_with_a_token_starts_the_bot(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, docs: Path
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    started: list[Settings] = []
    monkeypatch.setattr(cli, "run_bot", lambda settings: started.append(settings) or 0)
    code, _, _ = run(capsys, "start", "--corpus", str(docs))
    assert code == 0 and len(started) == 1 and started[0].corpus_dir == docs


# --- settings and arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["ask", "a question"], ["check"], ["chat"], ["start"], ["eval", "qa.jsonl"]])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CITEBOT_ANSWER_SENTENCES", "abc"),
        ("CITEBOT_LANGUAGES", "klingon"),
        ("CITEBOT_LANGUAGES", "xx"),
        ("CITEBOT_LANGUAGES", "en,xx"),
        ("CITEBOT_ADMIN_IDS", "x"),
    ],
)
def test_bad_setting_exits_2_naming_the_variable(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    docs: Path,
    command: list[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:very-secret")
    code, out, err = run(capsys, *command, "--corpus", str(docs))
    assert code == 2 and out == ""
    assert err.startswith("citebot: bad setting: ") and variable in err
    assert "very-secret" not in err


def test_languages_may_be_named_as_well_as_coded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, docs: Path
) -> None:
    monkeypatch.setenv("CITEBOT_LANGUAGES", "English, Russian")
    code, out, err = run(capsys, "ask", "--corpus", str(docs), "Who did the prime minister meet in Astana?")
    assert code == 0 and "World Bank vice president" in out, err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["frobnicate"])
    assert raised.value.code == 2 and "invalid choice" in capsys.readouterr().err


# --- README ---------------------------------------------------------------------------------------------


def test_every_menu_command_is_documented_in_the_telegram_page() -> None:
    from bot.telegram.commands import COMMANDS

    readme = (REPO / "docs" / "telegram.md").read_text(encoding="utf-8")
    assert COMMANDS
    missing = [name for name, _ in COMMANDS if not re.search(rf"/{re.escape(name)}\b", readme)]
    assert missing == []


# --- feedback and gaps ------------------------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "fb.sqlite3"
    monkeypatch.setenv("CITEBOT_FEEDBACK_DB", str(path))
    db = Feedback(path)
    first = db.record(
        1, "Where, is the river?", True, [Shown(SentenceRef("river.md", 2, "0" * 8), 'The river, "Marx"')]
    )
    second = db.record(2, "How tall is it?", True)
    for question in ("Who is Zorro?", "who is  ZORRO", "Where is Atlantis"):
        db.record(3, question, False)
    assert first and second
    db.vote(first, 1, up=True)
    db.vote(first, 1, up=False)
    db.vote(second, 2, up=True)
    db.close()
    return path


def test_feedback_csv_lists_every_vote_of_the_period(capsys: pytest.CaptureFixture[str], recorded: Path) -> None:
    code, out, _ = run(capsys, "feedback", "--csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0
    assert rows[0] == ["voted_at_utc", "vote", "question", "answered", "first_source", "first_source_title"]
    assert sorted(r[1:] for r in rows[1:]) == [
        ["down", "Where, is the river?", "1", "river.md", 'The river, "Marx"'],
        ["up", "How tall is it?", "1", "", ""],
    ]


def test_feedback_and_gaps_print_the_admin_reports(capsys: pytest.CaptureFixture[str], recorded: Path) -> None:
    code, out, _ = run(capsys, "feedback")
    assert code == 0 and "👍 1 · 👎 1" in out and '"Where, is the river?" — The river, "Marx"' in out
    code, out, _ = run(capsys, "gaps")
    assert code == 0 and out.splitlines()[1:] == ["2 × who is zorro", "1 × where is atlantis"]


def test_gaps_csv(capsys: pytest.CaptureFixture[str], recorded: Path) -> None:
    code, out, _ = run(capsys, "gaps", "--csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["count", "question", "last_asked_utc"]
    assert [r[:2] for r in rows[1:]] == [["2", "who is zorro"], ["1", "where is atlantis"]]


def test_feedback_disabled_or_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CITEBOT_FEEDBACK_DB", "")
    code, out, err = run(capsys, "gaps", "--csv")
    assert code == 1 and out == "" and "CITEBOT_FEEDBACK_DB is empty" in err
    monkeypatch.setenv("CITEBOT_FEEDBACK_DB", str(tmp_path / "none.sqlite3"))
    code, out, err = run(capsys, "feedback", "--csv")
    assert code == 0 and out.count("\n") == 1 and "no feedback recorded yet" in err
    assert not (tmp_path / "none.sqlite3").exists()


def test_gaps_without_a_database_says_nothing_was_recorded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CITEBOT_FEEDBACK_DB", str(tmp_path / "none.sqlite3"))
    code, out, _ = run(capsys, "gaps")
    assert code == 0
    assert out == (
        "No questions recorded yet: the Telegram bot records them; "
        "the terminal chat and `citebot ask` record nothing.\n"
    )
    assert "Every question so far was found" not in out and not (tmp_path / "none.sqlite3").exists()


@pytest.mark.parametrize(("command", "header"), [("gaps", cli.GAPS_CSV), ("feedback", cli.FEEDBACK_CSV)])
def test_csv_help_names_the_header_written(
    capsys: pytest.CaptureFixture[str], recorded: Path, command: str, header: tuple[str, ...]
) -> None:
    code, out, _ = run(capsys, command, "--csv")
    assert code == 0 and next(csv.reader(io.StringIO(out))) == list(header)
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert ",".join(header) in shown.replace(" ", "").replace("\n", "")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"citebot {importlib.metadata.version('citebot')}\n"


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("Who won the football World Cup?", "en"),
        ("Кто выиграл чемпионат мира по футболу?", "ru"),
        ("Әлем чемпионатын кім жеңді?", "kk"),
    ],
)
def test_ask_speaks_the_question_s_language(
    capsys: pytest.CaptureFixture[str], docs: Path, question: str, lang: str
) -> None:
    """citebot's own words follow the question's language; quotes stay as the documents wrote them."""
    code, out, _ = run(capsys, "ask", "--corpus", str(docs), question)
    assert code == 0 and messages.text("not_found", lang) in out


# --- the benchmarks folder ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["fit", "bench-languages"])
@pytest.mark.parametrize("given", ["option", "setting"])
def test_a_missing_benchmarks_folder_is_named_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str, given: str
) -> None:
    missing = tmp_path / "no-benchmarks"
    if given == "option":
        code, out, err = run(capsys, command, "--benchmarks", str(missing))
    else:
        monkeypatch.setenv("CITEBOT_BENCHMARKS_DIR", str(missing))
        code, out, err = run(capsys, command)
    assert code == 1
    assert err == (
        f"citebot {command}: benchmarks folder not found: {missing} "
        "(give --benchmarks DIR or set CITEBOT_BENCHMARKS_DIR)\n"
    )
    assert out == ""


def test_make_eval_names_a_missing_benchmarks_folder(tmp_path: Path) -> None:
    stamp = tmp_path / "installed"  # newer than pyproject.toml and the lock: make sets up nothing
    stamp.touch()
    missing = tmp_path / "none"
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "eval", f"BENCHMARKS={missing}", f"STAMP={stamp}"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"make eval: benchmarks folder not found: {missing} (make eval BENCHMARKS=DIR)\n")


# --- make run in a terminal -----------------------------------------------------------------------------


def _read_until(terminal: int, wanted: bytes, seconds: float = 90) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while wanted not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {wanted!r} from the terminal; it showed {seen[-500:]!r}")
        ready, _, _ = select.select([terminal], [], [], 1)
        if ready:
            try:
                seen += os.read(terminal, 4096)
            except OSError:  # the terminal's other end closed: everything was read
                break
    return seen


# A process of its own gives `make run` a terminal (pty.spawn): forking the test process itself, with threads
# other tests left running, can deadlock the child before it runs make.
IN_A_TERMINAL = "import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))"


@pytest.mark.usefixtures("model_in_cache")
def test_make_run_exits_0_after_ctrl_c_then_ctrl_d_at_the_prompt(tmp_path: Path, docs: Path) -> None:
    stamp = tmp_path / "installed"  # newer than pyproject.toml and the lock: make sets up nothing
    stamp.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "CITEBOT_"))}
    env |= {"HOME": str(tmp_path / "home"), "CITEBOT_CORPUS_DIR": str(docs)}
    env |= {"CITEBOT_CACHE_DIR": str(tmp_path / "cache")}
    command = ["make", "--no-print-directory", "-C", str(REPO), "run", f"STAMP={stamp}"]
    with subprocess.Popen(
        [sys.executable, "-c", IN_A_TERMINAL, *command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    ) as terminal:
        assert terminal.stdin is not None and terminal.stdout is not None
        output = terminal.stdout.fileno()
        try:
            _read_until(output, b"? ")
            terminal.stdin.write(b"\x03")  # Ctrl-C at the prompt: a new prompt, the chat goes on
            terminal.stdin.flush()
            _read_until(output, b"? ")
            terminal.stdin.write(b"\x04")  # Ctrl-D: the chat ends
            terminal.stdin.flush()
            code = terminal.wait(timeout=60)
        finally:
            terminal.kill()
    assert code == 0
