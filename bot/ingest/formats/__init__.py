"""Text and metadata out of saved web pages, PDF, DOCX, EPUB and ODT files, each through the library made for it.

Every function here takes a file's bytes and returns an `Extracted` or raises `Unreadable` with the reason.
Parsers of hostile input can hang or crash, so the loader calls `extract` through a `Sandbox`: a worker
process with a time and memory limit, which is killed and replaced when a file misbehaves.
"""

from __future__ import annotations

import bisect
import importlib.util
import posixpath
from collections.abc import Callable

from bot.ingest.formats.common import Extracted, Unreadable
from bot.ingest.formats.docx import extract_docx
from bot.ingest.formats.epub import extract_epub
from bot.ingest.formats.html import extract_html
from bot.ingest.formats.odt import extract_odt
from bot.ingest.formats.pdf import extract_pdf

__all__ = [
    "EXTRACTOR_VERSION",
    "FORMATS",
    "MAX_TEXT_CHARS",
    "Extracted",
    "Unreadable",
    "extract",
    "format_of",
    "missing_reader",
    "READER_MISSING",
    "page_at",
]

# Bump when any extractor's output changes: cached analyses of extracted files then stop matching.
EXTRACTOR_VERSION = 2  # 2: PDF sentences cut before a capitalised word rejoined; no EPUB DOCTYPE residue
# Past this many characters of text a file is refused: an archive format (EPUB, DOCX, ODT) of under a megabyte
# can expand to millions of sentences, and the text would otherwise leave the worker for the loader to analyse.
MAX_TEXT_CHARS = 20_000_000
FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx", ".epub": "epub", ".odt": "odt"}
READER_MISSING = "reader not installed"
# What each format's reader imports, as (module, the distribution pip installs it from). lxml_html_clean is
# jusText's (under trafilatura), named here because an old pip does not install it through jusText's extra.
READER_MODULES = {
    "html": (("trafilatura", "trafilatura"), ("lxml_html_clean", "lxml_html_clean")),
    "pdf": (("pypdfium2", "pypdfium2"),),
    "docx": (("docx", "python-docx"),),
    "epub": (("lxml", "lxml"),),
    "odt": (("lxml", "lxml"),),
}


def format_of(path: str) -> str | None:
    """The extracted format a file name asks for ("pdf", "html", …), or None for plain text and the rest."""
    suffix = posixpath.splitext(path.lower())[1]
    return FORMATS.get(suffix)


def missing_reader(kind: str) -> str | None:
    """Why files of this format cannot be read here (a library its reader needs is not installed), or None."""
    missing = []
    for module, distribution in READER_MODULES.get(kind, ()):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package that fails to import, or a module without a spec
            found = False
        if not found:
            missing.append(distribution)
    if not missing:
        return None
    names = " ".join(missing)
    return f"{kind.upper()} {READER_MISSING}: {names} missing (pip install {names})"


def extract(kind: str, data: bytes) -> Extracted:
    """Turn a file's bytes into text and metadata by its format; raise Unreadable with the reason."""
    readers: dict[str, Callable[[bytes], Extracted]] = {
        "html": extract_html,
        "pdf": extract_pdf,
        "docx": extract_docx,
        "epub": extract_epub,
        "odt": extract_odt,
    }
    if not data.strip():
        raise Unreadable("empty file")
    extracted = readers[kind](data)
    if len(extracted.text) > MAX_TEXT_CHARS:
        raise Unreadable(f"extracts to more than {MAX_TEXT_CHARS:,} characters of text, the limit")
    if not extracted.text.strip():
        raise Unreadable("no text found")
    return extracted


def page_at(pages: tuple[int, ...], offset: int) -> int | None:
    """The 1-based page on which a character offset of the text falls, or None for a text without pages."""
    if not pages:
        return None
    return max(1, bisect.bisect_right(pages, offset))
