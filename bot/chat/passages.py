"""The next best passages for a question, after its answer: what ➕ More and inline mode's further results show."""

from __future__ import annotations

from collections.abc import Collection

from bot.chat.feedback import shown_sentences
from bot.chat.refs import sentence_ids
from bot.index.library import Library
from bot.ranking.answer import Answer, answer


def shown_ids(library: Library, result: Answer) -> set[int]:
    """The ids of the sentences an answer shows (its quotes and their lead-ins)."""
    return sentence_ids(library, [shown.ref for shown in shown_sentences(result)])


def next_passages(
    library: Library, result: Answer, most: int, exclude: Collection[int] = frozenset(), **options: object
) -> list[Answer]:
    """Up to `most` one-quote answers to the same question, each a sentence not shown before, best first.

    Each must pass the abstention bar the first answer passed: a passage too weak to be an answer is not offered.
    """
    shown = set(exclude) | shown_ids(library, result)
    options = options | {"max_quotes": 1}
    out: list[Answer] = []
    while len(out) < most:
        more = answer(library, result.question, exclude=shown, **options)  # type: ignore[arg-type]
        if not more.answered:
            break
        out.append(more)
        shown |= shown_ids(library, more)
    return out
