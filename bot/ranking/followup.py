"""Follow-up questions: whether a question leans on the one before it, and if so what to search for.

No language model: a question leans on the one before when it says so (it opens with "and …", "а …",
"ал …", names its subject with a pronoun, or is an ellipsis such as "in which years?") or when it has
almost no words of its own. Then it is answered as itself plus the previous question's subject words,
each added once, and ranked as usual. A question none of whose words is in the documents stays alone, so
an off-topic question is declined rather than answered about the old subject.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from bot.index.library import Library
from bot.ranking.features import FILLERS, wanted_type

# The words that tie a question to the one before, by language (ISO 639-1 code). All languages' lists are
# checked at once: a follow-up is too short for its language to be told reliably ("А в сёлах?").
OPENERS: Mapping[str, frozenset[str]] = {  # a question that opens with one of these goes on from the last
    "en": frozenset(("and", "also", "but", "so", "then", "what about", "how about")),
    "ru": frozenset("а и но ну тогда также ещё еще".split()),
    "kk": frozenset("ал және енді тағы сонда".split()),
}
ANAPHORS: Mapping[str, frozenset[str]] = {  # pronouns that stand for something named before
    "en": frozenset("it its it's they them their theirs he him his she her hers this that these those ones".split()),
    "ru": frozenset(
        """он она оно они его её ее ему ей им ими их него неё нее нему ней ним ними них нём нем этот эта это
        эти этого этой этому этим этих этом эту тот та те того той тому тем там туда оттуда""".split()
    ),
    "kk": frozenset(
        """ол оны оның оған онда одан онымен олар оларды олардың оларға оларда олармен бұл бұны мұны мұның
        мұнда мұған осы осының осында сол соны соның сонда""".split()
    ),
}
ELLIPSES: Mapping[str, re.Pattern[str]] = {  # whole questions that ask again about the same subject
    "en": re.compile(
        r"^((and|so) )?((in|from|since|until) )?(which|what) (years?|dates?|months?)\W*$"
        r"|^(when|why|how|where)( so)?\W*$"
    ),
    "ru": re.compile(r"^(а |и )?(когда это было|в каких годах|в каком году|что ещё|когда|почему|зачем|где|как)\W*$"),
    "kk": re.compile(r"\bше\W*$|^(ал )?(қай жылдары|қашан|неге|қайда|қалай)\W*$"),
}
LIGHT: Mapping[str, frozenset[str]] = {  # words too general to name a subject
    "en": frozenset("get got happen happened come came go went take took".split()),
    "ru": frozenset("быть был была было были будет будут".split()),
    "kk": frozenset("болады болды бола болса болып болған болатын еді екен".split()),
}
# A question with at most this many words of its own, and no other sign, still leans on the one before.
FEW_WORDS = 2
# The most words of the previous question carried over: enough for its subject, not for a paragraph.
SUBJECT_WORDS = 8

_OPENERS = frozenset().union(*OPENERS.values())
_ANAPHORS = frozenset().union(*ANAPHORS.values())
_LIGHT = frozenset().union(*LIGHT.values())
_FILLERS = frozenset().union(*FILLERS.values())
WORD = re.compile(r"\w+(?:'\w+)?")


@dataclass(frozen=True)
class Reading:
    """How a question was read: whether it leans on the one before, why, and the subject it borrows."""

    question: str
    follows: bool
    reason: str
    context: str = ""  # the previous question's subject words, searched for beside the question's own
    new: bool = False  # it asks for something the last answer did not say: leave out the sentences it showed
    signed: bool = False  # it says it leans on the question before (not only by being short)

    @property
    def shown(self) -> str:
        """The question as read, for people and for the next follow-up: "How is it funded? (rural roads)"."""
        return f"{self.question} ({self.context})" if self.context else self.question


def own_words(library: Library, question: str) -> list[str]:
    """The words a question names its subject with: no frame ("how many"), stop, filler, light words or pronouns."""
    _, topic = wanted_type(question)
    stop = library.question_analyzer(question).stop_words
    words = WORD.findall(topic.casefold())
    return [w for w in words if w not in stop and w not in _FILLERS and w not in _LIGHT and w not in _ANAPHORS]


def sign(question: str) -> str | None:
    """What marks a question as a follow-up, in words, or None: an opening "and", a pronoun, an ellipsis."""
    folded = question.casefold().strip()
    words = WORD.findall(folded)
    if not words:
        return None
    if words[0] in _OPENERS or " ".join(words[:2]) in _OPENERS:
        return f'it opens with "{words[0]}"'
    pronoun = next((w for w in words if w in _ANAPHORS), None)
    if pronoun is not None:
        return f'"{pronoun}" stands for something named before'
    for pattern in ELLIPSES.values():
        if pattern.search(folded):
            return "it asks again about the same subject"
    return None


def known(library: Library, words: list[str]) -> list[str]:
    """The words whose terms the documents hold."""
    analyzer = library.question_analyzer(" ".join(words))
    return [w for w in words if any(t >= 0 for t in library.term_ids(analyzer.terms(w)))]


def read(library: Library, question: str, previous: str | None) -> Reading:
    """Read a question after `previous` (None: nothing before it, or too long ago): alone or with its subject."""
    if not previous:
        return Reading(question, False, "no question before it")
    words = list(dict.fromkeys(own_words(library, question)))
    found = known(library, words)
    why = sign(question)
    if why is None and len(words) > FEW_WORDS:
        return Reading(question, False, "it names a subject of its own")
    # One word the documents lack may be spelt there otherwise ("нәтижесі"); two or more, and none they hold,
    # say it is about something else: it stays alone, and is declined rather than answered about the old subject.
    if why is None and len(words) >= FEW_WORDS and not found:
        return Reading(question, False, "none of its words is in the documents: it is about something else")
    subject = subject_words(library, previous, exclude=set(words))
    if not subject:
        return Reading(question, False, "the question before it names no subject")
    signed = why is not None
    why = why or f"it has {len(words)} word(s) of its own"
    # Words of its own ask for something new ("How is it funded?"): the sentences already shown are not it.
    return Reading(question, True, why, " ".join(subject), new=bool(words), signed=signed)


def subject_words(library: Library, previous: str, exclude: Collection[str] = ()) -> list[str]:
    """The previous question's own words, once each, in order, up to SUBJECT_WORDS."""
    words = [w for w in dict.fromkeys(own_words(library, previous)) if w not in exclude]
    return words[:SUBJECT_WORDS]
