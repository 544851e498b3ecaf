"""The ranker's features: each one measures what its name says, on corpora small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bot.index.library import Library
from bot.ranking import features
from bot.ranking.features import DATE, DURATION, FREQUENCY, INDEX_FEATURES, MONEY, NUMBER, TEXT_FEATURES, TIME
from tests.helpers import NEWS, Build


def rows_and_features(library: Library, question: str) -> tuple[features.Question, np.ndarray, dict[str, np.ndarray]]:
    analyzed = features.analyze_question(library, question)
    rows = features.candidates(library, analyzed)
    x = np.column_stack(
        [
            features.index_features(library, analyzed, rows),
            features.text_features(library, analyzed, rows, features.term_hits(library, analyzed, rows)),
        ]
    )
    return analyzed, rows, {name: x[:, j] for j, name in enumerate(INDEX_FEATURES + TEXT_FEATURES)}


def row_of(library: Library, rows: np.ndarray, start: str) -> int:
    return next(i for i, row in enumerate(rows.tolist()) if library.sentence(row).text.startswith(start))


@pytest.mark.parametrize(
    ("question", "kind", "topic"),
    [
        ("How many projects were financed?", NUMBER, "projects were financed"),
        ("In which years were the projects carried out?", DATE, "were the projects carried out"),
        ("When did the meeting end?", DATE, "did the meeting end"),
        ("The rocks have been in place since when?", DATE, "The rocks have been in place since"),
        ("When's the next bus?", DATE, "'s the next bus"),
        # "When" that opens a clause asks for something else.
        ("When rock folds upwards, what does it create?", None, "When rock folds upwards, what does it create"),
        ("What happens when one plate touches another?", None, "What happens when one plate touches another"),
        ("Что происходит, когда лёд тает?", None, "Что происходит, когда лёд тает"),
        ("Who met the minister?", None, "Who met the minister"),
        ("Сколько проектов профинансировано?", NUMBER, "проектов профинансировано"),
        ("Қанша жоба қаржыландырылды?", NUMBER, "жоба қаржыландырылды"),
        ("Кездесу қашан өтті?", DATE, "Кездесу өтті"),
        ("Бағдарлама қай жылы қабылданды?", DATE, "Бағдарлама қабылданды"),
        ("Парк қай айға дейін ашық?", DATE, "Парк ашық"),
        ("В каком месяце откроют парк?", DATE, "откроют парк"),
        ("How much does a new meter cost?", MONEY, "does a new meter"),
        ("what do I pay if I don't have a meter", MONEY, "do I if I don't have a meter"),
        ("Сколько стоит ремонт крыши?", MONEY, "ремонт крыши"),
        ("Какова стоимость путёвки?", MONEY, "путёвки"),
        ("Билет қанша тұрады?", MONEY, "Билет"),
        ("how much money is being spent on the new fire stations", MONEY, "is being spent on the new fire stations"),
        ("how much to get an old sofa taken away", MONEY, "to get an old sofa taken away"),
        ("How much is the house worth?", MONEY, "is the house"),
        ("What's the price of a monthly pass?", MONEY, "'s the of a monthly pass"),
        ("Сколько денег выделят на ремонт?", MONEY, "выделят на ремонт"),
        ("how much is 1 tablespoon of water", NUMBER, "is 1 tablespoon of water"),
        ("What time does the earthquake drill start?", TIME, "does the earthquake drill start"),
        ("Во сколько открывается касса?", TIME, "открывается касса"),
        ("Спорт кешені сағат нешеде ашылады?", TIME, "Спорт кешені ашылады"),
        ("What time frame does the war cover?", None, "What time frame does the war cover"),
        ("Во сколько раз выросли цены?", NUMBER, "Во раз выросли цены"),
        ("Жолдама нешеде беріледі?", None, "Жолдама нешеде беріледі"),  # "at what age" as often as the hour
        ("How quickly will the crew get here?", DURATION, "will the crew get here"),
        ("How long do I have to return the router?", DURATION, "I have to return the router"),
        ("How long is the bridge?", NUMBER, "is the bridge"),  # a length
        ("А как быстро придёт мастер?", DURATION, "А придёт мастер"),
        ("За сколько дней дойдёт посылка?", DURATION, "дойдёт посылка"),
        ("Куәлік қанша күнде дайын болады?", DURATION, "Куәлік дайын болады"),
        ("How often does a water meter need checking?", FREQUENCY, "does a water meter need checking"),
        ("How many times a year is the pool cleaned?", FREQUENCY, "is the pool cleaned"),
        ("Как часто проверяют счётчик?", FREQUENCY, "проверяют счётчик"),
        ("Сколько раз в год меняют фильтры?", FREQUENCY, "меняют фильтры"),
        ("Есептегіш қаншалықты жиі тексеріледі?", FREQUENCY, "Есептегіш тексеріледі"),
        ("Сүзгі жылына неше рет ауыстырылады?", FREQUENCY, "Сүзгі ауыстырылады"),
    ],
)
def test_wanted_type_names_the_kind_of_fact_and_drops_the_frame(question: str, kind: object, topic: str) -> None:
    wanted, rest = features.wanted_type(question)
    assert wanted is kind
    assert " ".join(rest.replace("?", " ").split()) == topic


@pytest.mark.parametrize(
    ("kind", "text", "holds"),
    [
        ("number", "They can eat ten times their weight.", True),
        ("number", "Гребневики могут съесть в десять раз больше собственного веса.", True),
        ("number", "Погибли около двухсот человек и тысячи были ранены.", True),
        ("number", "Это стоит обсудить со всей семьёй.", False),  # "сто" and "семь" only begin these words
        ("number", "Кешенді салу үш жылға созылды.", True),
        ("number", "Құжаттарды бес жұмыс күні ішінде тапсыру керек.", True),
        ("number", "Кездесуге жастар келді, оның жетеуі алғаш рет қатысты.", True),
        ("number", "Кешен үшінші рет ашылды.", True),
        ("number", "Оның бағасы белгісіз, бірақ онда кезек жоқ.", False),  # "он", "бір" only begin these words
        ("date", "Соглашение подписано в марте.", True),
        ("date", "Келісім наурызда жасалды.", True),
        ("date", "Келісім жасалды.", False),
        ("date", "Маслихат района собрался в среду на внеочередную сессию.", True),
        ("date", "Охрана окружающей среды и чистая среда важны.", False),  # "среда" is also the environment
        ("date", "The council met on Wednesday evening.", True),
        ("date", "Жиналыс сәрсенбіде өтті.", True),
        # A day of the month without its month.
        ("date", "Payment is due by the 20th, and a penalty is added after that date.", True),
        ("date", "The fee is charged on the 1st of each month.", True),
        ("date", "Оплатить счёт нужно до 20-го числа.", True),
        ("date", "Төлемді айдың 25-іне дейін жасау керек.", True),
        ("date", "The team finished 4th in the league.", False),
        ("date", "The names were used well into the nineteenth century.", True),
        # A month's name that is also a common word is the month only as one.
        ("date", "The park opens in May.", True),
        ("date", "Patients may be asked to wait.", False),
        ("date", "Маяк на берегу отремонтируют.", False),
        ("date", "Лагерь 2 маусымда басталады.", True),
        ("date", "Туристік маусым ашылды.", False),
        ("date", "Owls hunt at night.", True),
        ("date", "Рассаду поливают утром.", True),
        ("date", "Собор построен в XIX веке.", True),
        ("date", "Кесене XIV ғасырда салынған.", True),
        ("money", "Access costs a fee ranging from £15 to £100,000.", True),
        ("date", "The office is on the 3rd floor.", False),
        ("money", "Households without a meter pay a flat 1,320 tenge per resident per month.", True),
        ("money", "The upgrade is worth $8 billion.", True),
        ("money", "Ремонт оценили в 6,4 миллиона тенге.", True),
        ("money", "Остальные родители заплатят за смену 45 тысяч тенге.", True),
        ("money", "Билет ересектерге 1 000 теңге тұрады.", True),
        ("money", "Артық жұмсалған электр жоғары тарифпен, 31 теңгеден есептеледі.", True),  # a case ending
        ("money", "Жобаға 5 миллион долларға дейін бөлінеді.", True),
        ("money", "Заметки рабочей группы, 2 апреля 2026 года.", False),  # a date is not a price
        ("money", "The crew arrives within two hours.", False),
        ("frequency", "A water meter must be checked every four years.", True),
        ("frequency", "The filters are changed twice a year.", True),
        ("frequency", "Bins are emptied weekly.", True),
        ("frequency", "Счётчик проверяют раз в четыре года.", True),
        ("frequency", "Фильтры меняют ежегодно.", True),
        ("frequency", "Есептегіш төрт жыл сайын тексеріледі.", True),
        ("frequency", "Сүзгі жылына екі рет ауыстырылады.", True),
        ("frequency", "The check costs 4,500 tenge.", False),
        ("frequency", "Проверка стоит 4 500 тенге.", False),
        ("time", "The drill will take place on 28 May at 11 o'clock in the morning.", True),
        ("time", "Кешен күн сайын сағат 7:00-ден 22:00-ге дейін жұмыс істейді.", True),
        ("time", "Касса работает с 9:00 до 18:00.", True),
        ("time", "The support line answers around the clock.", True),
        ("time", "The drill will take place on 28 May.", False),
        ("time", "Билет стоит 1 500 тенге.", False),
        ("duration", "Our crew aims to reach urgent leaks within two hours.", True),
        ("duration", "Мастер приходит в течение суток.", True),
        ("duration", "Жаңа куәлік он жұмыс күні ішінде дайын болады.", True),
        ("duration", "Call the emergency line and give your address.", False),
        ("duration", "Позвоните диспетчеру и назовите адрес.", False),
    ],
)
def test_the_kinds_of_fact_are_found_in_english_russian_and_kazakh(kind: str, text: str, holds: bool) -> None:
    kinds = {"number": NUMBER, "date": DATE, "money": MONEY, "frequency": FREQUENCY, "time": TIME, "duration": DURATION}
    assert bool(kinds[kind].search(text)) is holds


def test_question_analysis_drops_request_words_and_weighs_unknown_words_as_rare_ones(build: Build) -> None:
    library = build(NEWS)
    analyzed = features.analyze_question(library, "Tell me about the football projects")
    assert analyzed.terms == ("footbal", "project")
    unknown, known = analyzed.weights
    assert analyzed.ids[0] == -1 and unknown >= known > 0


def test_a_question_of_frame_only_is_about_its_frame_alone_and_about_its_context_after_another(build: Build) -> None:
    library = build(NEWS)
    alone = features.analyze_question(library, "In which years?")
    assert alone.terms == ("year",) and alone.wanted is features.DATE
    # After "How many projects has the bank financed?", "years" is the kind of answer, not a word to find.
    followed = features.analyze_question(library, "In which years?", context="bank projects financed")
    assert "year" not in followed.terms and {"bank", "project"} <= set(followed.terms)
    assert followed.wanted is features.DATE


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("What happens if I don't give the router back?", ("give", "router", "back")),
        ("What happened to the router?", ("router",)),
        ("Which router tells me the speed?", ("router", "speed")),
    ],
)
def test_request_words_are_dropped_in_each_of_their_forms(build: Build, question: str, terms: tuple[str, ...]) -> None:
    library = build({"a.md": "The router shows the speed. Give it back when you leave.\n"})
    assert features.analyze_question(library, question).terms == terms


@pytest.mark.parametrize(
    ("language", "document", "question", "terms"),
    [
        ("ru", "Банк финансирует проекты водоснабжения.", "Расскажите, пожалуйста, о проектах", ("ru:проект",)),
        ("kk", "Банк су жобаларын қаржыландырады.", "Айтыңызшы, жобалар туралы", ("kk:жобал",)),
    ],
)
def test_request_words_are_not_searched_for_in_russian_and_kazakh_either(
    build: Build, language: str, document: str, question: str, terms: tuple[str, ...]
) -> None:
    library = build({"a.md": f"---\nlanguage: {language}\n---\n{document}\n"})
    assert features.analyze_question(library, question).terms == terms


def test_candidates_hold_the_best_documents_sentences_even_without_a_shared_word(build: Build) -> None:
    library = build(NEWS)
    analyzed, rows, _ = rows_and_features(library, "What did the Kazakhstan prime minister sign?")
    texts = {library.sentence(row).text for row in rows.tolist()}
    assert "Since 1992 the bank has financed 48 projects." in texts  # shares no word, but its document is the best


def test_coverage_lead_and_document_features(build: Build) -> None:
    library = build(NEWS)
    _, rows, f = rows_and_features(library, "Which water projects were discussed?")
    first, discussed = row_of(library, rows, "The Kazakhstan"), row_of(library, rows, "They discussed")
    assert f["idf_covered"][discussed] == pytest.approx(1.0) and f["idf_covered"][first] == 0.0
    assert f["lead"][first] == 1.0 and f["lead"][discussed] == 0.5
    assert f["sentence_bm25"][discussed] == 1.0  # the best candidate's own score
    assert f["document_missing"][discussed] == 0.0


def test_a_four_letter_word_counts_as_a_form_of_a_longer_word_it_opens(build: Build) -> None:
    # Kazakh words are cut to five letters: "бала" (a child) is "бала", "баланың" (the child's) "балан".
    library = build({"tirkeu.md": "Баланың тууын тіркеу үшін анықтама қажет.\n\nҚала әкімдігі жұмыс істейді.\n"})
    _, rows, f = rows_and_features(library, "Бала тууын қалай тіркейді?")
    assert f["derived"][row_of(library, rows, "Баланың")] > 0
    assert f["derived"][row_of(library, rows, "Қала")] == 0.0  # "қала" does not open with "бала"


def test_derived_forms_count_only_where_the_exact_term_is_missing(build: Build) -> None:
    library = build(NEWS)
    _, rows, f = rows_and_features(library, "How did the Kazakh meeting conclude?")
    conclusion = row_of(library, rows, "At the conclusion")
    first = row_of(library, rows, "The Kazakhstan")
    assert f["derived"][conclusion] > 0  # "conclude" ~ "conclusion"
    assert f["derived"][first] > 0  # "Kazakh" ~ "Kazakhstan"
    _, rows, f = rows_and_features(library, "Who met in Kazakhstan?")
    assert f["derived"][row_of(library, rows, "The Kazakhstan")] == 0.0  # matched exactly: nothing derived


def test_pairs_and_pieces(build: Build) -> None:
    library = build(NEWS)
    _, rows, f = rows_and_features(library, "What did the prime minister say about rural roads?")
    first, roads = row_of(library, rows, "The Kazakhstan"), row_of(library, rows, "They discussed")
    assert f["pairs"][first] > 0 and f["pieces"][first] == 1  # "prime minister" side by side: one piece
    assert f["pairs"][roads] > 0 and f["pieces"][roads] == 1


def test_type_and_title_features(build: Build) -> None:
    library = build(NEWS)
    _, rows, f = rows_and_features(library, "How many projects has the bank financed in Kazakhstan?")
    since, discussed = row_of(library, rows, "Since 1992"), row_of(library, rows, "They discussed")
    assert (f["type_found"][since], f["type_missing"][since]) == (1.0, 0.0)
    assert (f["type_found"][discussed], f["type_missing"][discussed]) == (0.0, 1.0)
    assert f["title"][since] > 0  # "Kazakhstan" is in the document's title


def test_a_made_up_title_is_no_evidence(build: Build) -> None:
    # Untitled, the text's title is its opening clause: counting it would count the opening sentence twice.
    untitled = {"visit.md": NEWS["visit.md"].split("---\n", 2)[2], "garden.md": NEWS["garden.md"]}
    library = build(untitled)
    assert library.entries[1].document.title_made
    _, rows, f = rows_and_features(library, "How many projects has the bank financed in Kazakhstan?")
    opening = row_of(library, rows, "The Kazakhstan")
    assert f["title"][opening] == 0.0 and f["lead_title"][opening] == 0.0


@pytest.mark.parametrize(
    ("question", "focus"),
    [
        # "prime minister" is the item's subject (its opening sentence); what the question adds is the signing.
        ("What did the Kazakhstan prime minister sign at the meeting?", {"At the conclusion": 1, "The Kazakhstan": 0}),
        # A derived form counts: "conclude" ~ "conclusion"; "bank" is in the title.
        ("How did the bank's meeting conclude?", {"At the conclusion": 1.0, "Since 1992": 0.0}),
        # Nothing beside the subject: no sentence holds anything of it.
        ("Who is the Kazakhstan prime minister?", {"The Kazakhstan": 0.0, "At the conclusion": 0.0}),
    ],
)
def test_focus_is_what_the_question_adds_to_its_documents_subject(
    build: Build, question: str, focus: dict[str, float]
) -> None:
    library = build(NEWS)
    _, rows, f = rows_and_features(library, question)
    assert {start: f["focus"][row_of(library, rows, start)] for start in focus} == pytest.approx(focus)


def test_neighbour_counts_words_found_next_door_only(build: Build) -> None:
    library = build({"a.md": "The dam was finished in 1970.\n\nIt holds water for the city of Lena.\n"})
    _, rows, f = rows_and_features(library, "Which city does the dam hold water for?")
    first, second = row_of(library, rows, "The dam"), row_of(library, rows, "It holds")
    assert f["neighbour"][second] > 0  # "dam" is in the sentence before
    assert f["neighbour"][first] > 0  # "city", "water" in the sentence after
    assert 0.0 <= f["novelty"][first] <= 1.0


def test_no_candidates_for_a_question_without_known_words(build: Build) -> None:
    library = build(NEWS)
    analyzed = features.analyze_question(library, "Quantum chromodynamics?")
    assert len(features.candidates(library, analyzed)) == 0


def test_question_analysis_goes_through_the_librarys_question_analyzer(
    build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.text.analyzers import Analyzer

    library = build(NEWS)
    assert features.analyze_question(library, "Rural roads?").analyzer == Analyzer("en")
    russian = Analyzer("ru")
    monkeypatch.setattr(library, "question_analyzer", lambda question: russian, raising=False)
    analyzed = features.analyze_question(library, "Новые дороги?")
    assert analyzed.analyzer is russian and analyzed.terms == ("ru:нов", "ru:дорог")


def test_a_question_of_many_terms_searches_only_the_rarest(build: Build) -> None:
    # Word i is in i + 1 sentences: the lower i, the rarer the word.
    words = [f"zor{a}{v}t" for a in "bdfgklmnpr" for v in "aiou"][:44]
    sentences = [f"{word.capitalize()} lorem." for i, word in enumerate(words) for _ in range(i + 1)]
    library = build({"many.md": "---\nlanguage: en\n---\n" + " ".join(sentences) + "\n"})
    analyzed = features.analyze_question(library, " ".join(reversed(words)) + " unheardofword")
    known = [word for word, term_id in zip(analyzed.words, analyzed.ids) if term_id >= 0]
    assert sorted(known) == sorted(words[: features.MAX_TERMS])
    assert "unheardofword" in analyzed.words  # a word the corpus lacks costs nothing to look for
    assert len(analyzed.weights) == len(analyzed.terms) == len(analyzed.prefixes) == len(analyzed.ids)


@pytest.mark.parametrize(
    "columns",
    [
        {"a": [1.0], "b": [2.0], "c": [3.0]},  # one more than named
        {"a": [1.0]},  # one named but not computed
    ],
)
def test_a_feature_column_must_be_both_computed_and_named(columns: dict[str, list[float]]) -> None:
    with pytest.raises(ValueError, match="not both computed and named"):
        features.by_name(columns, ("a", "b"))


def test_feature_columns_are_stacked_in_the_order_of_their_names() -> None:
    stacked = features.by_name({"b": [2.0, 4.0], "a": [1.0, 3.0]}, ("a", "b"))
    assert stacked.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("text", "language", "holds"),
    [
        ("Лагерь он күнге ұйымдастырылады.", "kk", True),  # Kazakh "он", ten
        ("Он приехал вчера вечером.", "ru", False),  # Russian "он", he
        ("Он приехал в 1990 году.", "ru", True),
        ("Ten pupils came.", "en", True),
    ],
)
def test_a_number_word_is_read_in_its_sentence_s_language(text: str, language: str, holds: bool) -> None:
    assert features.holds_kind(NUMBER, text, language) is holds
