"""What a text's letters tell of its language without the classifier: Latin, Cyrillic, and Kazakh's own letters."""

from __future__ import annotations

import re

LATIN = re.compile(r"[a-zA-Z]")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# Letters Kazakh writes and Russian does not.
KAZAKH_LETTERS = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")


def script_language(text: str) -> str:
    """English, Russian or Kazakh as the letters tell them apart: Cyrillic with a Kazakh letter is Kazakh, other
    Cyrillic Russian, anything else English."""
    if not CYRILLIC.search(text):
        return "en"
    return "kk" if KAZAKH_LETTERS.search(text) else "ru"
