"""Short sections under headings: an FAQ's answer, a tariff sheet's entry, an item of minutes."""

from __future__ import annotations

from bot.index.library import Library

# A sentence of a short section under a heading is quoted with the rest of its section, in reading order: the
# section is the answer, and the sentence that matched the question's words is often not the one that answers it
# ("How do I read my meter?": where the meter is, then which digits to read). At most this many sentences and
# characters make a short section.
SECTION_SENTENCES = 3
SECTION_CHARS = 600


def section_of(library: Library, sentence_id: int) -> range | None:
    """The ids of the short section under a heading that the sentence belongs to (see SECTION_SENTENCES), or None
    when it stands under no heading (or only the document's title), alone, or in a longer section."""
    head = int(library.heads[sentence_id])
    number = library.locate(sentence_id)[0]
    start, stop = int(library.offsets[number]), int(library.offsets[number + 1])
    # Under the document's title the "section" is the whole document: a short one is not one answer.
    if head < 0 or head == sentence_id or head == start:
        return None
    end = head + 1
    while end < stop and int(library.heads[end]) == head and end - head <= SECTION_SENTENCES:
        end += 1
    ids = range(head + 1, end)
    longer = end < stop and int(library.heads[end]) == head
    texts = library.entries[number].sentences[ids.start - start : ids.stop - start]
    if len(ids) < 2 or longer or sum(map(len, texts)) > SECTION_CHARS:
        return None
    return ids
