"""Follow-up questions: when a question leans on the one before, in English, Russian and Kazakh, and what it finds."""

from __future__ import annotations

import pytest

from bot.index.library import Library
from bot.ranking.answer import answer
from bot.ranking.followup import read, sign

ENGLISH = {
    "stations.md": (
        "# Bus stations\n\nEleven regional bus stations will be rebuilt by 2027. "
        "The first three stations, in Taraz, Kyzylorda and Pavlodar, reopen in the summer.\n"
    ),
    "drones.md": "# Drone rules\n\nComments on the draft drone rules can be sent until 30 April.\n",
}
RUSSIAN = {
    "schools.md": (
        "# Новые школы\n\nВ 2026 году в области построят девять новых школ. Остальные четыре школы построят в сёлах.\n"
    ),
    "camps.md": "# Лагеря\n\nПутёвка в загородный лагерь стоит 60 000 тенге. Одна смена длится 14 дней.\n",
}
KAZAKH = {
    "hospital.md": ("# Жаңа аурухана\n\nЖаңа ауруханада 300 төсек бар. Ауруханада 120 дәрігер жұмыс істейді.\n"),
    "water.md": "# Ауыз су\n\nБиыл облыстың 38 ауылына таза ауыз су тартылады.\n",
}
CORPORA = {"en": ENGLISH, "ru": RUSSIAN, "kk": KAZAKH}


@pytest.mark.parametrize(
    ("language", "before", "question", "follows"),
    [
        ("en", "How many bus stations will be rebuilt?", "And which ones reopen first?", True),
        ("en", "How many bus stations will be rebuilt?", "In which years?", True),
        ("en", "How many bus stations will be rebuilt?", "Until when can I comment on the drone rules?", False),
        ("en", "How many bus stations will be rebuilt?", "Who won the Champions League?", False),
        ("ru", "Сколько новых школ построят в области?", "А в сёлах?", True),
        ("ru", "Сколько новых школ построят в области?", "Когда это было?", True),
        ("ru", "Сколько новых школ построят в области?", "Сколько стоит путёвка в загородный лагерь?", False),
        ("ru", "Сколько новых школ построят в области?", "Кто выиграл Евровидение?", False),
        ("kk", "Жаңа ауруханада қанша төсек бар?", "Онда қанша дәрігер жұмыс істейді?", True),
        ("kk", "Жаңа ауруханада қанша төсек бар?", "Ал дәрігерлер ше?", True),
        ("kk", "Жаңа ауруханада қанша төсек бар?", "Қанша ауылға таза ауыз су тартылады?", False),
        ("kk", "Жаңа ауруханада қанша төсек бар?", "Бауырсақты қалай пісіреді?", False),
    ],
)
def test_a_question_leans_on_the_one_before_only_when_it_has_no_subject_of_its_own(
    build, language: str, before: str, question: str, follows: bool
) -> None:
    library: Library = build(CORPORA[language])
    reading = read(library, question, before)
    assert reading.follows is follows, reading.reason
    assert reading.question == question and reading.reason
    if follows:
        # The subject comes from the question before, in its own words, and shows in the question as read.
        assert reading.context and set(reading.context.split()) <= set(before.casefold().replace("?", "").split())
        assert reading.shown == f"{question} ({reading.context})"
    else:
        assert reading.context == "" and reading.shown == question


def test_nothing_before_means_the_question_is_read_alone(build) -> None:
    reading = read(build(ENGLISH), "In which years?", None)
    assert not reading.follows and reading.shown == "In which years?"


@pytest.mark.parametrize(
    ("question", "marked"),
    [
        ("And on heating?", True),
        ("What about farmers?", True),
        ("How is it funded?", True),
        ("А в сёлах?", True),
        ("Кто его тренирует?", True),
        ("Ал балаларға ше?", True),
        ("Оны қашан салды?", True),
        ("In which years?", True),
        ("Когда это было?", True),
        ("Қашан?", True),
        ("How is the programme funded?", False),
        ("In which year was the bridge opened?", False),
        ("Сколько стоит путёвка?", False),
        ("Аурухана қайда орналасқан?", False),
    ],
)
def test_signs_of_a_follow_up(question: str, marked: bool) -> None:
    assert (sign(question) is not None) is marked


TWO_SUBJECTS = {
    "tunnel.md": "# Tunnel\n\nThe Marxton tunnel is four kilometres long. The tunnel opened in 1950.\n",
    "bridge.md": "# Bridge\n\nThe Fredville bridge is three hundred metres long. The bridge opened in 1802.\n",
}


@pytest.mark.parametrize(("before", "expected"), [("tunnel", "The tunnel opened in 1950."), ("bridge", "1802")])
def test_the_subject_before_picks_which_answer(build, before: str, expected: str) -> None:
    library: Library = build(TWO_SUBJECTS)
    previous = f"How long is the {'Marxton tunnel' if before == 'tunnel' else 'Fredville bridge'}?"
    reading = read(library, "When did it open?", previous)
    assert reading.follows
    result = answer(library, reading.question, context=reading.context)
    assert result.answered and expected in result.quotes[0].text
