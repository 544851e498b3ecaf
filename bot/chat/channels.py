"""What the front ends share about channel posts: their language detector, the history import, counts per channel."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.ingest.corpus import Document
from bot.ingest.sources import telegram_posts as posts
from bot.text.languages import Languages


def detector(languages: str) -> posts.Detect:
    """A post's language as the loader would settle it: detected among the `languages` setting's."""
    chosen = Languages.parse(languages)
    return lambda text: chosen.of(Document(path="", title="", text=text))


def per_channel(paths: Iterable[str]) -> str:
    """The documents of each channel as one line: `press_kz 120, c-1234567890 4` (empty without any)."""
    return ", ".join(f"{name} {count}" for name, count in posts.count_by_channel(paths).items())


def run_import(corpus_dir: Path, languages: str, export: Path, username: str | None, out: TextIO | None = None) -> int:
    """`citebot import-telegram`: write an export's posts into the corpus and report; 1 if the export broke off."""
    out = out or sys.stdout
    if not export.exists():
        print(f"citebot: {export}: no such file or folder", file=sys.stderr)
        return 1
    try:
        done = posts.import_export(export, corpus_dir, detector(languages), username)
    except posts.ExportError as exc:
        print(f"citebot: {export}: {exc}", file=sys.stderr)
        return 1
    reading = done.reading
    name = reading.channel.name if reading.channel is not None else "?"
    print(f"channel:   {name}", file=out)
    print(f"messages:  {reading.messages}", file=out)
    print(f"written:   {done.written}", file=out)
    print(f"unchanged: {done.unchanged} (already in the corpus, or a newer edit is)", file=out)
    for reason, count in sorted(reading.skipped.items(), key=lambda item: -item[1]):
        print(f"left out:  {count} {reason}", file=out)
    if not username:
        print("note:      no --channel given: posts are linked as t.me/c/<id>/<number>, for members only", file=out)
    if reading.error:
        print(
            f"citebot: {export}: {reading.error}; the {done.written} posts written before it are kept", file=sys.stderr
        )
        return 1
    return 0
