"""What a chat remembers for follow-up questions: each user's last question, and which answer was for which.

Kept per chat and per user, so one user's subject never reaches another's question, even in a group; a
question is remembered for a few minutes, an answer message for a day; both are bounded in number.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field

from bot.index.library import Library
from bot.ranking.answer import Answer, answer
from bot.ranking.followup import Reading, read

# An answer can be replied to long after it was sent; the last question counts only for `window` seconds.
REPLY_SECONDS = 24 * 3600.0
MOST_USERS = 4096
MOST_ANSWERS = 256  # answer messages remembered per chat


@dataclass(frozen=True)
class Turn:
    """A question as it was read and answered: its text with any borrowed subject, and the sentences shown."""

    question: str
    shown: frozenset[int]
    at: float
    library: int = 0  # id() of the library the sentence ids are of: a reload renumbers them


@dataclass
class Conversations:
    """Each (chat, user)'s last turn, and each chat's answer messages by id, with the turn they answered."""

    window: float  # seconds; 0 turns follow-ups off
    _last: OrderedDict[tuple[int, int], Turn] = field(default_factory=OrderedDict)
    _answers: dict[int, OrderedDict[int, tuple[int, Turn]]] = field(default_factory=dict)

    def before(self, chat: int, user: int, now: float, reply_to: int | None = None) -> Turn | None:
        """The turn a question leans on: the answer it replies to (if it was this user's), else the last one."""
        if self.window <= 0:
            return None
        if reply_to is not None:
            asked = self._answers[chat].get(reply_to) if chat in self._answers else None
            if asked is not None and asked[0] == user and now - asked[1].at <= REPLY_SECONDS:
                return asked[1]
        turn = self._last.get((chat, user))
        return turn if turn is not None and now - turn.at <= self.window else None

    def remember(self, chat: int, user: int, turn: Turn, messages: Collection[int] = ()) -> None:
        """Keep a turn as the user's last, and the bot's messages that answered it; a declined one (nothing
        shown) names no subject, so it leaves nothing to lean on."""
        if self.window <= 0:
            return
        self._last.pop((chat, user), None)
        if not turn.shown:
            return
        self._last[chat, user] = turn
        while len(self._last) > MOST_USERS:
            self._last.popitem(last=False)
        answers = self._answers.setdefault(chat, OrderedDict())
        for message_id in messages:
            answers[message_id] = (user, turn)
        while len(answers) > MOST_ANSWERS:
            answers.popitem(last=False)
        if len(self._answers) > MOST_USERS:
            del self._answers[next(iter(self._answers))]


def answer_in_turn(
    library: Library, question: str, before: Turn | None, now: float, **options: object
) -> tuple[Answer, Reading, Turn]:
    """Answer a question, read as a follow-up of `before` when it leans on it; the turn to remember after."""
    reading = read(library, question, before.question if before else None)
    if reading.follows and not reading.signed:
        # Short, but nothing says it leans back: when the documents answer it alone, it stands on its own.
        alone = answer(library, question, **options)  # type: ignore[arg-type]
        if alone.answered:
            return alone, Reading(question, False, "it is answered on its own"), _turn(library, alone, question, now)
    same = before is not None and before.library == id(library)
    exclude = before.shown if reading.new and same else frozenset()  # type: ignore[union-attr]
    result = answer(library, question, context=reading.context, exclude=exclude, **options)  # type: ignore[arg-type]
    return result, reading, _turn(library, result, reading.shown, now)


def _turn(library: Library, result: Answer, question: str, now: float) -> Turn:
    # What a follow-up asking for something new leaves out: each quote's own sentence. The rest of a quoted
    # section is left in: "And above 200 kWh?" after the tariff is answered by the next sentence of its section.
    shown = frozenset(h.sentence.id for h in result.results if any(q.text == h.sentence.text for q in result.quotes))
    return Turn(question, shown, now, id(library))
