"""Plain file names for what others named: uploads, channel attachments. No folders, hidden names or odd characters."""

from __future__ import annotations

import re
import unicodedata

# Characters kept in a name; anything else becomes "_" (in the stem) or goes (in the suffix).
UNSAFE = re.compile(r"[^\w.\- ()]+")
# At most this many characters, and this many UTF-8 bytes (Linux's 255, less room for a " (999)" counter).
MAX_NAME = 100
MAX_NAME_BYTES = 255 - len(" (999)")


def safe_name(original: str, max_chars: int = MAX_NAME) -> str:
    """A plain file name made from what a sender called a file: no folders, no hidden names, no odd characters."""
    name = unicodedata.normalize("NFC", original).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = UNSAFE.sub("_", stem).strip(" ._") or "document"
    suffix = UNSAFE.sub("", suffix).lower()
    stem = stem[: max_chars - len(suffix) - 1]
    room = MAX_NAME_BYTES - len(suffix.encode()) - 1
    # Cut by bytes, which is what the file system counts, and never inside a character.
    stem = stem.encode()[:room].decode("utf-8", "ignore").rstrip(" ._") or "document"
    return f"{stem}.{suffix}" if suffix else stem
