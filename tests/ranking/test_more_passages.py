"""➕ More: the next best passages for a question, never one already shown, under the same abstention bar."""

from __future__ import annotations

from bot.index.library import Library
from bot.ranking.answer import answer

LONG = {
    "river.md": (
        "# The Marx river\n\n"
        "The Marx river flows through Fredville. The Marx river floods Fredville every spring. "
        "Fishermen on the Marx river catch trout near Fredville. Fredville built a bridge over the Marx river. "
        "The Marx river freezes near Fredville in January. Tourists sail the Marx river from Fredville.\n"
    ),
    "other.txt": "Cheese is made in the mountains. Goats graze on the slopes.\n",
}


def test_more_shows_unseen_passages_until_none_pass_the_bar(build) -> None:
    library: Library = build(LONG)
    question = "Marx river Fredville"
    shown: set[int] = set()
    pages = []
    while True:
        result = answer(library, question, max_quotes=2, exclude=shown)
        if not result.answered:
            break
        ids = {q_id for q in result.quotes for q_id in ids_of(library, q.text)}
        assert not ids & shown, "a sentence was shown twice"
        pages.append([q.text for q in result.quotes])
        shown |= ids
        assert len(pages) < 10
    quoted = [text for page in pages for text in page]
    assert len(pages) >= 2 and len(quoted) == len(set(quoted))
    assert {t for t in quoted if "Fredville" in t} == {
        s.strip() + "." for s in LONG["river.md"].split("\n\n")[1].split(".") if s.strip()
    }
    # What is left failed the same test an answer faces: nothing about cheese was ever quoted, and with
    # every sentence shown excluded, the next best is declined.
    assert not any("Cheese" in t or "Goats" in t for t in quoted)
    assert not answer(library, question, max_quotes=2, exclude=shown).answered


def ids_of(library: Library, text: str) -> set[int]:
    return {i for i in range(library.sentence_count) if library.sentence(i).text == text}


def test_excluding_nothing_changes_nothing(mini: Library) -> None:
    question = "What does the bank plan to fund?"
    assert answer(mini, question).quotes == answer(mini, question, exclude=frozenset()).quotes
