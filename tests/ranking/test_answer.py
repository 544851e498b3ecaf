"""Answers: ranking on small corpora, lead-in context, abstention, and the evaluation metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.index.library import Hit, Library, Sentence
from bot.ingest.corpus import Document
from bot.measure.evaluation import Question, first_match, matches, read_questions, score
from bot.ranking.answer import Answer, Quote, answer
from tests.helpers import SEED_QA, Build

pytestmark = pytest.mark.usefixtures("isolated")


def top(result: Answer) -> str:
    assert result.answered, f"not answered: {result.question!r} (probability {result.probability:.2f})"
    return result.quotes[0].text


# --- ranking ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "Who did the prime minister meet in Astana?",
            "The Prime Minister met the World Bank vice president in Astana.",
        ),
        ("How many projects has the bank financed?", "Since 1992 the bank has financed 48 projects"),
        ("What is the value of the projects funded by the bank?", "Since 1992 the bank has financed 48 projects"),
        ("When did passengers first ride the railway line?", "The Darbaza-Maktaaral railway line opened to passengers"),
        ("How much sunlight do tomato plants need?", "Tomatoes need six hours of direct sunlight"),
        ("What time of day should seedlings be watered?", "Water the seedlings early in the morning"),
        ("What helps heavy clay soils?", "Compost improves heavy clay soil"),
        ("Which is Europe's most active volcano?", "Mount Etna is the most active volcano in Europe."),
        ("How far have Etna's lava flows reached?", "Its lava flows have reached the outskirts of Catania"),
    ],
)
def test_paraphrased_question_gets_the_right_sentence_first(mini: Library, question: str, expected: str) -> None:
    library = mini
    assert top(answer(library, question)).startswith(expected)


def test_results_are_sorted_by_score_and_capped(mini: Library) -> None:
    library = mini
    result = answer(library, "water projects in the bank's country and the garden")
    scores = [hit.score for hit in result.results]
    assert 2 <= len(scores) <= 10
    assert scores == sorted(scores, reverse=True)
    assert [q.score for q in result.quotes] == scores[: len(result.quotes)]


CITIES = {
    "lisbon.md": "---\ntitle: Lisbon\n---\nThe city is built on seven hills.\nTrams climb the steep streets.\n",
    "rome.md": "---\ntitle: Rome\n---\nThe city is built on seven hills as well.\nThe river Tiber crosses it.\n",
    "oslo.md": "---\ntitle: Oslo\n---\nThe city lies at the end of a fjord.\nFerries leave from the harbour.\n",
}


@pytest.mark.parametrize(
    ("question", "city"),
    [
        ("How many hills is Lisbon built on?", "Lisbon"),
        ("How many hills is Rome built on?", "Rome"),
        ("Is Rome built on hills?", "Rome"),
        ("Is Lisbon built on hills?", "Lisbon"),
    ],
)
def test_document_title_tells_which_sentence_is_meant(build: Build, question: str, city: str) -> None:
    # Both sentences say "The city is built on seven hills": only the title names the city.
    library = build(CITIES)
    result = answer(library, question)
    assert "seven hills" in top(result)
    assert result.quotes[0].document.title == city
    assert result.sources[result.quotes[0].citation - 1].title == city


TYPED = {
    "museum.md": (
        "# The city museum\n\n"
        "The city museum stands on the main square.\n"
        "The museum opened its doors to visitors after the renovation.\n"
        "The museum first opened its doors to visitors in 1998.\n"
    ),
    "tomatoes.md": (
        "# Tomatoes\n\n"
        "Tomatoes grow well in pots.\n"
        "Tomatoes need plenty of sunlight and warm nights.\n"
        "Tomatoes need six hours of sunlight a day.\n"
    ),
    "bread.md": "Bread is baked in a hot oven.\nRivers flow into the sea.\n",
}


@pytest.mark.parametrize(
    ("typed", "untyped", "fact", "other"),
    [
        (
            "When did the museum open its doors to visitors?",
            "Did the museum open its doors to visitors?",
            "The museum first opened its doors to visitors in 1998.",
            "The museum opened its doors to visitors after the renovation.",
        ),
        (
            "How much sunlight do tomatoes need?",
            "Do tomatoes need sunlight?",
            "Tomatoes need six hours of sunlight a day.",
            "Tomatoes need plenty of sunlight and warm nights.",
        ),
        (
            "How many hours of sunlight do tomatoes need?",
            "Do tomatoes need sunlight?",
            "Tomatoes need six hours of sunlight a day.",
            "Tomatoes need plenty of sunlight and warm nights.",
        ),
    ],
)
def test_number_and_date_questions_prefer_sentences_with_one(
    build: Build, typed: str, untyped: str, fact: str, other: str
) -> None:
    library = build(TYPED)
    # Without the question frame the plainer sentence wins; "how many"/"when" turns the order round.
    assert top(answer(library, untyped)) == other
    assert top(answer(library, typed)) == fact


# --- lead-in context -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "sentence", "context"),
    [
        (
            "How far have the lava flows reached?",
            "Its lava flows have reached",
            "Mount Etna is the most active volcano in Europe.",
        ),
        (
            "What does it plan to fund in the southern regions?",
            "It plans to fund new water pipelines",
            "Since 1992 the bank has financed 48 projects worth 8 billion dollars in the country.",
        ),
    ],
)
def test_hit_leaning_on_the_previous_sentence_shows_it_as_context(
    mini: Library, question: str, sentence: str, context: str
) -> None:
    library = mini
    result = answer(library, question)
    assert top(result).startswith(sentence)
    assert result.quotes[0].context == context


@pytest.mark.parametrize(
    ("language", "text", "question", "context"),
    [
        (
            "ru",
            "Пекин принял делегацию банка. Он обещал финансирование трубопроводов.\n",
            "Кто обещал финансирование трубопроводов?",
            "Пекин принял делегацию банка.",
        ),
        (
            "kk",
            "Астана банк делегациясын қабылдады. Ол құбырларды қаржыландыруға уәде берді.\n",
            "Кім құбырларды қаржыландыруға уәде берді?",
            "Астана банк делегациясын қабылдады.",
        ),
    ],
)
def test_a_russian_or_kazakh_hit_opening_with_a_pronoun_shows_the_sentence_before(
    build: Build, language: str, text: str, question: str, context: str
) -> None:
    library = build({"a.md": f"---\nlanguage: {language}\n---\n{text}"})
    result = answer(library, question, min_confidence=0.0)
    assert result.quotes[0].context == context


def test_self_contained_hit_has_no_context(mini: Library) -> None:
    library = mini
    result = answer(library, "Which is Europe's most active volcano?")
    assert top(result).startswith("Mount Etna") and result.quotes[0].context is None


def test_leaning_sentence_at_the_start_of_a_document_has_no_context(build: Build) -> None:
    library = build(
        {"a.txt": "It rains every day in the rainforest.\nJaguars hunt there.\n", "b.txt": "Deserts are dry.\n"}
    )
    result = answer(library, "Does it rain in the rainforest every day?")
    assert top(result).startswith("It rains") and result.quotes[0].context is None


@pytest.mark.parametrize(
    "question",
    [
        "How far have Etna's lava flows reached?",
        "Where do lava flows from the volcano reach?",
        "What will the bank fund in the southern regions?",
    ],
)
def test_no_sentence_is_shown_twice(mini: Library, question: str) -> None:
    # A lead-in shown as context must not come back as a quote of its own, and no quote repeats.
    library = mini
    result = answer(library, question)
    shown = [text for q in result.quotes for text in (q.context, q.text) if text]
    assert result.answered and len(shown) == len(set(shown)), shown


# --- quotes and citations -------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_quotes_respect_answer_sentences_and_cite_their_document(build: Build, limit: int) -> None:
    library = build(CITIES)
    result = answer(library, "Which city is built on seven hills?", max_quotes=limit)
    assert result.answered and 1 <= len(result.quotes) <= limit
    assert len(set(result.sources)) == len(result.sources)
    for quote in result.quotes:
        assert result.sources[quote.citation - 1] == quote.document
        assert quote.text in library.entries[library.documents.index(quote.document)].sentences
    assert {d.path for d in result.sources} == {q.document.path for q in result.quotes}


def test_duplicate_sentences_are_quoted_once(build: Build) -> None:
    library = build(
        {"a.txt": "Owls hunt at night.\nOwls sleep by day.\n", "b.txt": "Owls hunt at night.\nMice hide.\n"}
    )
    result = answer(library, "When do owls hunt?")
    assert [q.text for q in result.quotes].count("Owls hunt at night.") == 1


def test_question_words_kept_for_highlighting(mini: Library) -> None:
    library = mini
    result = answer(library, "Which volcano is the most active in Europe?")
    assert set(result.words) >= {"volcano", "active", "europe"}
    assert not {"the", "is", "in"} & set(result.words)


# --- abstention ----------------------------------------------------------------------------------------


OFF_TOPIC = [
    "What is the capital of France?",
    "How do I bake sourdough bread?",
    "Who wrote War and Peace?",
    "What will the weather be like in Paris tomorrow?",
    "Who won the football World Cup?",  # shares one common word ("world") with the corpus
    "Which bank opens on Sunday?",  # shares one word ("bank")
]


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_corpus_questions_are_not_answered(mini: Library, question: str) -> None:
    library = mini
    result = answer(library, question)
    assert not result.answered, [q.text for q in result.quotes]
    assert result.quotes == () and result.sources == ()


WORLD_BANK = {
    "meeting.md": "---\ntitle: World Bank meeting\n---\nThe minister met the World Bank vice president.\n"
    "They discussed water projects.\n",
    "loans.md": "---\ntitle: World Bank loans\n---\nThe World Bank approved a loan for new roads.\n"
    "The loan covers two regions.\n",
    "report.md": "The World Bank report expects growth of four percent.\nExports of grain rose.\n",
}


@pytest.mark.parametrize(
    "question", ["Who won the football World Cup?", "Who won the World Cup in 2022?", "Where is the next World Cup?"]
)
def test_one_shared_common_word_is_not_enough(build: Build, question: str) -> None:
    library = build(WORLD_BANK)
    assert not answer(library, question).answered


@pytest.mark.parametrize(
    "question",
    [
        "Who did the minister meet?",
        "What did the World Bank approve a loan for?",
        "How much growth does the report expect?",
    ],
)
def test_real_questions_on_the_same_corpus_are_answered(build: Build, question: str) -> None:
    library = build(WORLD_BANK)
    assert answer(library, question).answered


@pytest.mark.parametrize("question", ["", "   ", "?!", "the of and", "What is it?", "Who are they and why?"])
def test_empty_or_stop_word_questions_are_not_answered(mini: Library, question: str) -> None:
    library = mini
    result = answer(library, question)
    assert not result.answered and result.quotes == () and result.probability == 0.0


@pytest.mark.parametrize(
    ("files", "question", "expected"),
    [
        (
            {"one.txt": "The lighthouse was built in 1874."},
            "When was the lighthouse built?",
            "The lighthouse was built in 1874.",
        ),
        (
            {"one.md": "# Lighthouse\n\nThe lighthouse was built in 1874."},
            "When was the lighthouse built?",
            "The lighthouse was built in 1874.",
        ),
        (
            {"one.txt": "The lighthouse was built in 1874. It is painted red and white."},
            "When was the lighthouse built?",
            "The lighthouse was built in 1874.",
        ),
        ({"owls.txt": "Owls hunt at night. Owls nest in old trees."}, "Where do owls nest?", "Owls nest in old trees."),
        (
            {"a.txt": "Owls hunt at night.", "b.txt": "Foxes sleep during the day."},
            "Do foxes sleep during the day?",
            "Foxes sleep during the day.",
        ),
    ],
)
def test_tiny_corpus_answers_an_exact_question(
    build: Build, files: dict[str, str], question: str, expected: str
) -> None:
    # With one or two sentences rank-bm25's IDF floor makes every BM25 score zero or negative.
    library = build(files)
    assert top(answer(library, question)) == expected


@pytest.mark.parametrize(
    ("files", "question", "expected"),
    [
        # A bare keyword, or a yes/no question, is ranked right but too thin for the model to vouch for.
        ({"one.txt": "The lighthouse was built in 1874."}, "lighthouse", "The lighthouse was built in 1874."),
        (
            {"one.txt": "The lighthouse was built in 1874. It is painted red and white."},
            "Is the lighthouse painted red?",
            "It is painted red and white.",
        ),
    ],
)
def test_tiny_corpus_ranks_a_thin_question_first(
    build: Build, files: dict[str, str], question: str, expected: str
) -> None:
    library = build(files)
    assert answer(library, question).results[0].sentence.text == expected


def test_tiny_corpus_still_abstains_off_topic(build: Build) -> None:
    library = build({"one.txt": "The lighthouse was built in 1874."})
    assert not answer(library, "Who won the football World Cup?").answered


RUSSIAN = {
    "vstrecha.md": (
        "---\ntitle: Встреча в Астане\n---\n"
        "Премьер-министр встретился с вице-президентом Всемирного банка.\n"
        "Стороны обсудили совместные проекты в области водоснабжения.\n"
    ),
    "sad.txt": "Томаты любят солнечный свет.\nРассаду поливают утром.\n",
}


@pytest.mark.parametrize(
    ("question", "expected", "answered"),
    [
        ("С кем встретился премьер-министр?", "Премьер-министр встретился", True),
        ("Какие проекты обсудили стороны?", "Стороны обсудили совместные проекты", True),
        ("Когда поливают рассаду?", "Рассаду поливают утром.", True),
        ("Кто выиграл чемпионат мира по футболу?", None, False),
    ],
)
def test_russian_corpus(build: Build, question: str, expected: str | None, answered: bool) -> None:
    library = build(RUSSIAN)
    result = answer(library, question)
    assert result.answered is answered
    if expected:
        assert top(result).startswith(expected)


# --- the seed QA set -------------------------------------------------------------------------------------


def seed_questions() -> list[Question]:
    return read_questions(SEED_QA)


def test_seed_qa_off_topic_declined_and_paraphrases_in_top_5(seed: Library) -> None:
    library = seed
    questions = seed_questions()
    assert sum(1 for q in questions if q.expected) >= 20 and sum(1 for q in questions if not q.expected) >= 12
    wrongly_answered, too_low = [], []
    for question in questions:
        result = answer(library, question.question)
        if not question.expected:
            if result.answered:
                wrongly_answered.append((question.id, result.quotes[0].text[:60]))
            continue
        rank = first_match(result, question.expected)
        if rank is None or rank > 5:
            too_low.append((question.id, rank))
    assert (wrongly_answered, too_low) == ([], [])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # "Kazakh" is a derived form of "Kazakhstan", "conclude" of "conclusion": matched by a shared prefix.
        (
            "Who did the Kazakh prime minister meet?",
            "Olzhas Bektenov met with World Bank Vice President Antonella Bassani",
        ),
        ("How did the meeting conclude?", "At the conclusion of the meeting, both parties reaffirmed"),
    ],
)
def test_seed_derived_forms_are_answered_first(seed: Library, question: str, expected: str) -> None:
    result = answer(seed, question)
    assert result.answered and expected in top(result)


def test_seed_report_figures(seed: Library) -> None:
    # Floors just under the figures the shipped ranker measures (docs/quality.md): lower is a regression.
    library = seed
    report = score((q, answer(library, q.question)) for q in seed_questions())
    assert report.abstention == 1.0 and report.hit_at_3 >= 0.9
    assert report.p_at_1 >= 0.7 and report.mrr_at_10 >= 0.85
    # Declined right answers are shown as the closest passage; off-topic questions never get one.
    assert report.shown_first >= 0.85 and report.bare_declined == 1.0


NEWS = {
    "loan.md": (
        "The finance minister met the World Bank director in the capital.\n\n"
        "The World Bank approved a loan of $300 million for rural roads.\n\n"
        "The minister said the roads would connect forty villages to regional markets.\n"
    ),
    "harvest.md": "Farmers expect a record wheat harvest this autumn.\n\nRain in spring helped the crops.\n",
}


@pytest.mark.parametrize(
    "question",
    [
        # The corpus shares one name with each of these, and nothing else.
        "Where is the World Bank headquarters?",
        "Who founded the World Bank?",
    ],
)
def test_a_shared_name_alone_is_no_answer(build: Build, question: str) -> None:
    library = build(NEWS)
    assert not answer(library, question).answered


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What loan did the World Bank approve?", "The World Bank approved a loan"),
        ("Tell me about the rural roads loan", "The World Bank approved a loan"),
        ("Explain how many villages the roads will connect", "The minister said the roads would connect"),
    ],
)
def test_request_words_do_not_count_against_a_question(build: Build, question: str, expected: str) -> None:
    library = build(NEWS)
    assert top(answer(library, question)).startswith(expected)


def test_an_opening_line_that_only_shares_a_name_is_not_quoted_first(build: Build) -> None:
    # The lead sentence names the director and ranks high for it, but only the third sentence
    # says what the director announced.
    files = {
        "visit.md": (
            "Director Amara Okafor of the Water Agency visited the northern provinces on Monday.\n\n"
            "Local officials showed the agency the new pumping stations.\n\n"
            "Okafor announced that wells would be drilled in twelve drought-hit districts.\n"
        ),
        "other.md": "The agency publishes river levels every morning.\n",
    }
    library = build(files)
    result = answer(library, "What did Okafor announce about wells?")
    assert top(result).startswith("Okafor announced that wells would be drilled")


@pytest.mark.xfail(
    strict=True, reason="known limit: the fitted ranker weighs three shared words above the asked-for date"
)
def test_a_typed_question_finds_its_kind_of_fact_even_with_few_shared_words(build: Build) -> None:
    # Only "projects" links the answer to the question; its years are what "in which years" asks for.
    files = {
        "report.md": (
            "The two ministries agreed on joint projects in transport.\n\n"
            "Joint teams carried out the surveys for the new projects.\n\n"
            "According to the bank, 48 projects were implemented from 1992 to 2024.\n"
        ),
        "other.md": "The harvest was good this year.\n",
    }
    library = build(files)
    result = answer(library, "In which years were the joint projects carried out?")
    assert top(result).startswith("According to the bank, 48 projects were implemented from 1992 to 2024")


# --- evaluation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "expected", "ok"),
    [
        ("The bank financed 48 projects worth $8 billion.", "48 projects worth $8 billion", True),  # contains
        ("The bank  financed\n48 PROJECTS.", "the bank financed 48 projects", True),  # case and space folded
        ("48 projects worth $8 billion", "The bank financed 48 projects worth $8 billion.", True),  # part, over half
        ("48 projects", "The bank financed 48 projects worth $8 billion.", False),  # part, under half
        ("Twelve words.", "Twelve words.", True),
        ("The bank financed roads.", "48 projects worth $8 billion", False),
        ("", "anything", False),
    ],
)
def test_matches_rule(returned: str, expected: str, ok: bool) -> None:
    assert matches(returned, expected) is ok


DOC = Document(path="d.md", title="D", text="")


def fake_answer(texts: list[str], answered: bool = True, took_ms: float = 1.0, quoted: int | None = None) -> Answer:
    hits = tuple(Hit(Sentence(i, DOC, i, text), 1.0 / (i + 1)) for i, text in enumerate(texts))
    # The bot quotes the hit at position `quoted` first (the best one, unless told otherwise).
    first = hits[quoted if quoted is not None else 0]
    quotes = (Quote(first.sentence.text, 1, first.score, DOC, first.sentence.position),) if answered else ()
    return Answer("q", answered, quotes, (DOC,) if answered else (), hits, 0.5, took_ms)


def test_metrics_on_a_hand_made_case() -> None:
    filler = [f"filler sentence number {i}" for i in range(12)]
    pairs = [
        (Question("a", "qa", ("the answer",)), fake_answer(["The answer is here.", *filler[:3]])),  # rank 1
        # Rank 2, but the bot skipped the first hit and quoted the answer first.
        (Question("b", "qb", ("the answer",)), fake_answer([filler[0], "the answer", *filler[1:3]], quoted=1)),
        (
            Question("c", "qc", ("x1", "the answer")),
            fake_answer([*filler[:3], "The answer."], answered=False),
        ),  # rank 4
        (Question("d", "qd", ("the answer",)), fake_answer([*filler[:10], "the answer"])),  # rank 11: beyond @10
        (Question("n1", "qn1", ()), fake_answer(filler[:2], answered=False, took_ms=3.0)),  # rightly declined
        (Question("n2", "qn2", ()), fake_answer(filler[:2], answered=True, took_ms=5.0)),  # wrongly answered
    ]
    report = score(pairs)
    assert (report.answerable, report.unanswerable) == (4, 2)
    # P@1 is what a user reads first: the quote, so "b" counts and "c" (declined) does not.
    assert report.p_at_1 == pytest.approx(2 / 4)
    assert report.ranked_p_at_1 == pytest.approx(1 / 4)
    assert report.hit_at_3 == pytest.approx(2 / 4)
    assert report.mrr_at_10 == pytest.approx((1 + 1 / 2 + 1 / 4) / 4)
    assert report.answered_rate == pytest.approx(3 / 4)
    assert report.precision == pytest.approx(2 / 3)
    assert report.abstention == pytest.approx(1 / 2)
    assert [m.id for m in report.misses] == ["c", "d", "n2"]
    assert [(m.question, m.quoted, m.expected) for m in report.misses] == [
        ("qc", None, ("x1", "the answer")),
        ("qd", report.misses[1].quoted, ("the answer",)),
        ("qn2", report.misses[2].quoted, ()),
    ]
    assert report.misses[2].quoted is not None  # it answered: what it quoted is shown
    assert report.latency_ms["p50"] == pytest.approx(1.0) and report.latency_ms["p99"] == pytest.approx(4.9)


def test_a_quote_of_a_short_section_counts_when_any_of_its_sentences_is_expected() -> None:
    section = Quote("The meter sits under a lid.", 1, 1.0, DOC, 0, follow=("Read the black digits.",))
    hits = (Hit(Sentence(0, DOC, 0, section.text), 1.0), Hit(Sentence(1, DOC, 1, "Read the black digits."), 0.5))
    quoted = Answer("q", True, (section,), (DOC,), hits, 0.5, 1.0)
    declined = Answer("q", False, (), (), hits, 0.05, 1.0, closest=section)
    report = score([(Question("a", "qa", ("Read the black digits.",)), quoted)])
    assert report.p_at_1 == 1.0 and report.ranked_p_at_1 == 0.0  # read in the passage, ranked second
    assert score([(Question("b", "qb", ("Read the black digits.",)), declined)]).shown_first == 1.0
    assert score([(Question("c", "qc", ("A new meter is free.",)), quoted)]).p_at_1 == 0.0


def test_metrics_of_nothing_are_zero() -> None:
    report = score([])
    assert (report.p_at_1, report.hit_at_3, report.mrr_at_10, report.abstention) == (0.0, 0.0, 0.0, 0.0)


def write_qa(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_questions(tmp_path: Path) -> None:
    path = write_qa(
        tmp_path,
        [
            json.dumps({"id": 1, "question": "Who?", "expected": ["Someone did it."]}),
            "",
            json.dumps({"id": "n", "question": "Off topic?", "expected": []}),
            json.dumps({"id": "m", "question": "No expected key?"}),
        ],
    )
    assert read_questions(path) == [
        Question("1", "Who?", ("Someone did it.",)),
        Question("n", "Off topic?", ()),
        Question("m", "No expected key?", ()),
    ]


@pytest.mark.parametrize(
    "bad",
    ["{not json", json.dumps({"id": "x"}), json.dumps({"question": "no id"}), json.dumps(["a", "list"]), "42"],
    ids=["not-json", "no-question", "no-id", "a-list", "a-number"],
)
def test_read_questions_names_the_bad_line(tmp_path: Path, bad: str) -> None:
    good = json.dumps({"id": "ok", "question": "Fine?", "expected": []})
    path = write_qa(tmp_path, [good, "", bad, good])
    with pytest.raises(ValueError, match=r"qa\.jsonl:3: not a QA line"):
        read_questions(path)


def test_read_questions_never_splits_an_expected_string_into_characters(tmp_path: Path) -> None:
    # A common slip: "expected" written as one string instead of a list. Each character would then
    # "match" almost any sentence and P@1 would read 1.0; take it as one sentence or refuse the line.
    path = write_qa(tmp_path, [json.dumps({"id": "s", "question": "Who?", "expected": "Someone did it."})])
    try:
        questions = read_questions(path)
    except ValueError as exc:
        assert "qa.jsonl:1" in str(exc)
    else:
        assert questions[0].expected == ("Someone did it.",)
