"""How the loader reads files: never through a symlink swapped in since the listing, never more than a cap,
and a restart that notices an edit which kept the file's size and modification time."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from bot.index import loader
from bot.index.library import Library
from bot.index.loader import load_library
from bot.ingest.corpus import CorpusFiles
from tests import documents as make
from tests.helpers import write_files

SECRET = "The secret launch code is swordfish."


def texts(library: Library) -> list[str]:
    return [library.sentence(i).text for i in range(library.sentence_count)]


def reasons(library: Library) -> dict[str, str]:
    return {s.path: s.reason for s in library.skipped}


def test_a_file_swapped_for_a_symlink_after_the_listing_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_files(tmp_path / "docs", {"a.txt": "The dam holds water.", "zz/last.txt": "The lake is cold."})
    outside = write_files(tmp_path / "outside", {"secret.txt": SECRET}) / "secret.txt"
    listed = loader.corpus_paths

    def listed_then_swapped(folder: Path) -> CorpusFiles:
        found = listed(folder)
        # A git pull or a sync tool between the listing and the reading.
        (root / "zz/last.txt").unlink()
        (root / "zz/last.txt").symlink_to(outside)
        return found

    monkeypatch.setattr(loader, "corpus_paths", listed_then_swapped)
    library = load_library(root, tmp_path / "cache")
    assert SECRET not in texts(library) and "The dam holds water." in texts(library)
    assert "symlink" in reasons(library)["zz/last.txt"]


def test_reading_a_symlink_or_a_fifo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "link.txt").symlink_to(tmp_path / "secret.txt")
    os.mkfifo(tmp_path / "pipe.txt")
    for name in ("link.txt", "pipe.txt"):
        with pytest.raises(OSError):
            loader.read_whole(tmp_path / name)


def test_a_symlink_to_a_file_inside_the_corpus_is_still_read(tmp_path: Path) -> None:
    # Opening without following symlinks must not lose the links a corpus may hold: they are read at the target.
    root = write_files(tmp_path / "docs", {"real/a.txt": "The dam holds water.", ".drafts/b.txt": "The lake is cold."})
    (root / "alias.txt").symlink_to("real/a.txt")
    (root / "lake.txt").symlink_to(".drafts/b.txt")  # the hidden folder is not listed: read under the link's name
    library = load_library(root, tmp_path / "cache")
    assert [d.path for d in library.documents] == ["lake.txt", "real/a.txt"]
    assert reasons(library)["alias.txt"] == "symlink to real/a.txt, read there"
    assert "The lake is cold." in texts(library)


def test_a_sidecar_that_is_a_symlink_out_of_the_corpus_is_not_read(tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", {"r.pdf": make.pdf(["The dam holds water."]), "s.txt": "The lake."})
    outside = write_files(tmp_path / "outside", {"meta.yml": "title: Stolen title\nurl: https://evil.example/\n"})
    (root / "r.pdf.yml").symlink_to(outside / "meta.yml")
    library = load_library(root, tmp_path / "cache")
    assert "Stolen title" not in [d.title for d in library.documents]
    assert "sidecar" in reasons(library)["r.pdf"] and "symlink" in reasons(library)["r.pdf"]


def test_a_huge_sidecar_is_not_read_whole(tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", {"r.pdf": make.pdf(["The dam holds water."])})
    with open(root / "r.pdf.yml", "wb") as handle:
        handle.truncate(2**30)  # a sparse GiB: no disk used, but a whole read would take a GiB of memory
    tracemalloc.start()
    try:
        library = load_library(root, tmp_path / "cache", languages="en")  # no classifier to unpack
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20
    assert [d.path for d in library.documents] == ["r.pdf"]
    assert "larger than 64 KB" in reasons(library)["r.pdf"]


def test_a_restart_sees_an_edit_that_kept_size_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not racy: the stamps are trusted as soon as they are taken, so it is the ctime that tells the edit.
    monkeypatch.setattr(loader, "RACY_NS", 0)
    root = write_files(tmp_path / "docs", {"hall.txt": "The reactor hall is safe to enter now.", "b.txt": "Hello."})
    hall = root / "hall.txt"
    before = hall.stat()
    load_library(root, tmp_path / "cache")  # writes the snapshot a restart maps
    hall.write_text("The reactor hall is NOT safe to enter.")  # same length
    os.utime(hall, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (hall.stat().st_size, hall.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    restarted = load_library(root, tmp_path / "cache")
    assert "The reactor hall is NOT safe to enter." in texts(restarted)
    assert "The reactor hall is safe to enter now." not in texts(restarted)


def test_a_file_changed_just_before_the_scan_is_hashed_again_next_time(tmp_path: Path) -> None:
    root = write_files(tmp_path / "docs", {"a.txt": "The dam holds water."})
    info = (root / "a.txt").stat()
    assert loader.stamp_of(info, now_ns=info.st_ctime_ns + 1)[2] == -1  # racy: never matches a later stamp
    assert loader.stamp_of(info, now_ns=info.st_ctime_ns + loader.RACY_NS)[2] == info.st_ctime_ns
