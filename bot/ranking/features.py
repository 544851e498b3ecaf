"""What the ranker sees: a question's analysis, its candidate sentences, and a row of features for each."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.index.library import Library
from bot.text.analyzers import Analyzer, MultiAnalyzer
from bot.text.embeddings import Embedder

# How many sentence hits, and how many top documents' sentences, compete for the answer.
SENTENCE_CANDIDATES = 100
DOCUMENT_CANDIDATES = 3
DOCUMENT_SENTENCES = 80
# Words sharing this many first letters are taken as forms of one word ("Kazakh", "Kazakhstan"); a word one
# letter shorter, as a form of a longer word it opens (text_features).
PREFIX = 5
# Most distinct corpus terms a question is searched for, the rarest kept: a question's cost grows with its
# common terms' postings, and past a couple of dozen terms the rarest ones decide the answer anyway.
MAX_TERMS = 32
# Words that frame a request rather than say what it is about, by language (the analyzer's ISO 639-1 code).
_ENGLISH_FILLERS = frozenset(
    "tell tells explain explains explained describe describes described know say said says mention mentions "
    "mentioned happen happens happened happening please information details".split()
)
_RUSSIAN_FILLERS = frozenset(
    "расскажи расскажите скажи скажите объясни объясните пожалуйста известно информация".split()
)
_KAZAKH_FILLERS = frozenset(
    "айтыңыз айтыңызшы айтшы айтып түсіндіріңіз түсіндірші түсіндіріп сипаттаңыз өтінемін".split()
)
FILLERS = {"en": _ENGLISH_FILLERS, "ru": _RUSSIAN_FILLERS, "kk": _KAZAKH_FILLERS}
# A question about a price wants a sum of money, not any number: "what do I pay" is not answered by a date.
WANTS_MONEY = re.compile(
    r"\b(how much\b[^?]*?\b(cost|costs|charge|charged|pay|paid|worth)|how much (money|to)"
    r"|what (do|does|did|will|would)\b[^?]*?\b(pay|cost)|сколько денег|қанша ақша"
    r"|what('s| is) the (price|fee|charge|cost)"
    r"|сколько (стоит|стоят|стоила|стоило|будет стоить|платить|заплатить|заплатят)"
    r"|какова? (цена|стоимость|плата)|қанша (тұрады|төлеу|төлейді|төлеймін|төленеді)|(бағасы|құны) қанша)\b",
    re.IGNORECASE,
)
# The words of such a question that frame it: dropped from what it is about, the rest of its words kept.
MONEY_FRAME = re.compile(
    r"\b(how much|what|cost|costs|charge|charged|pay|paid|worth|money|price|fee|сколько|денег|ақша"
    r"|стоит|стоят|стоила|стоило|будет|платить|заплатить|заплатят|какова?|цена|стоимость|плата|қанша|тұрады|төлеу|төлейді|төлеймін|төленеді"
    r"|бағасы|құны)\b",
    re.IGNORECASE,
)
# "How often…" wants a rate ("every four years", "twice a year"), and "often" is not what it is about.
WANTS_FREQUENCY = re.compile(
    r"\b(how (often|frequently)|how many times (a|an|per|each|every) \w+|как часто|сколько раз (в|за) \w+"
    r"|қаншалықты жиі|қаншалық жиі|(жылына|айына|аптасына|күніне|тәулігіне) (неше|қанша) рет|(неше|қанша) рет)\b",
    re.IGNORECASE,
)
# "What time…" wants a time of day ("at 11 o'clock", "с 9:00"), not a period ("what time frame") or a ratio
# ("во сколько раз"); Kazakh "нешеде" alone is as often an age, so only "сағат нешеде" counts.
WANTS_TIME = re.compile(
    r"\b((at )?what time\b(?! (period|frame|framd|span|of (the )?(year|day)))|во сколько\b(?! раз)|в котором часу"
    r"|в какое время|сағат нешеде|қай сағатта|қай уақытта)",
    re.IGNORECASE,
)
# "How soon…", "how long does it take" want a span of time ("within two hours", "в течение суток"); "how long
# is the bridge" wants a length, a number.
WANTS_DURATION = re.compile(
    r"\b(how (quickly|soon)|how long (do|does|did|will|would|can|should|must|has|have)\b|как (быстро|скоро)"
    r"|за сколько (дней|часов|минут|недель|месяцев|лет)|сколько (времени|дней|часов|недель)|в течение какого"
    r"|қанша уақыт\w*|қанша (күн|сағат|апта|ай)\w*|қаншалықты тез)",
    re.IGNORECASE,
)
WANTS_NUMBER = re.compile(
    r"\b(how (many|much|old|long|far|tall|big|large|high|deep|fast)|what (percentage|percent|number|amount|age)"
    r"|number of|сколько|какова? (сумма|стоимость|доля)|қанша|неше)\b",
    re.IGNORECASE,
)
# "When" asks for a date before a verb ("when did…") or alone ("since when?"); "When rock folds, what does it
# create?" asks for something else, as "…, когда…" does.
WANTS_DATE = re.compile(
    r"\b(when(?=\s+(did|do|does|was|were|is|are|will|would|can|could|has|have|had|should|must|may|might)\b)"
    r"|when(?='s\b|\s*\?|\s*$)|what (years?|date|day|month|century)|(in|from|between) (which|what) years?"
    r"|(on|until) what day|(?<!,\s)когда|в каком (году|месяце)|какого числа|до какого (числа|месяца)"
    r"|қашан|(қай|нешінші) (жылы|айда|күні)|қай (айға|күнге) дейін)\b",
    re.IGNORECASE,
)
_NUMBER_SOURCE = (
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|twenty|thirty|forty|fifty|sixty"
    r"|seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|trillions?"
    r"|один|одна|одно|одного|одной|одному|одним|одном|одну|два|две|двух|двум|двумя|три|тр[её]х|тр[её]м|тремя"
    r"|четыре|четыр[её]х|четыр[её]м|четырьмя|пять|пяти|шесть|шести|семь|семи|восемь|восьми|девять|девяти|десять|десяти"
    r"|(одиннадцат|двенадцат|тринадцат|четырнадцат|пятнадцат|шестнадцат|семнадцат|восемнадцат|девятнадцат|двадцат"
    r"|тридцат)(ь|и|ью)|сорок|сорока|пятьдесят|шестьдесят|семьдесят|восемьдесят|(пяти|шести|семи|восьми)десяти"
    r"|девяносто|девяноста|сто|ста|двести|двухсот|триста|тр[её]хсот|четыреста|пятьсот|шестьсот|семьсот|восемьсот"
    r"|девятьсот|(тысяч|миллион|миллиард|триллион|десятк|сотн|дюжин)\w*"
    # Kazakh, whole words and their collective and ordinal forms ("жетеуі", "үшінші"): "он" and "бір" open
    # "оның" and "бірақ", and "бір" is also the article "a".
    r"|(екі|үш|төрт|бес|алты|жеті|сегіз|тоғыз|{ten}|жиырма|отыз|қырық|елу|алпыс|жетпіс|сексен|тоқсан|жүз|мың)"
    r"(ыншы\w*|інші\w*|ншы\w*|нші\w*)?|(екеу|үшеу|төртеу|бесеу|алтау|жетеу|сегізеу|тоғызау|онау)\w*)\b"
)
NUMBER = re.compile(_NUMBER_SOURCE.format(ten="он"), re.IGNORECASE)
# Kazakh's "он" (ten) is Russian's "он" (he): in a Russian sentence it is no number.
_RUSSIAN_NUMBER = re.compile(_NUMBER_SOURCE.format(ten="(?!)"), re.IGNORECASE)
# Kazakh currency words take case endings ("31 теңгеден", "долларға").
_CURRENCY = r"(tenge|тенге|теңге\w*|₸|dollars?|доллар\w*|euros?|евро\w*|€|\$|rubles?|рубл\w*|сом\w*)"
MONEY = re.compile(
    rf"[$£€]\s?\d|\d[\d\s,.]*\s*(thousand|million|billion|тысяч\w*|миллион\w*|миллиард\w*|мың|млн|млрд)?\s*{_CURRENCY}\b"
    rf"|\b(thousand|million|billion|тысяч\w*|миллион\w*|миллиард\w*|мың)\s+{_CURRENCY}",
    re.IGNORECASE,
)
# A month's name that is also a common word counts only as the month: "May" with its capital (not "may be"),
# "мая" (not "маяк", "майор"), "маусым" and "қазан" beside a day's number or "ай" (not "the season", "a pot").
DATE = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b(january|february|march|april|(?-i:May)|june|july|august|september|october"
    r"|november|december)\b|\b(\d{1,2}(st|nd|rd|th)? century)\b"
    r"|\b((fir|seco|thi|four|fif|six|seven|eigh|nin|ten|eleven|twelf|(thir|four|fif|six|seven|eigh|nine)teen)th"
    r"|first|second|third|twentieth|twenty-first) centur(y|ies)\b|\b[IVX]{1,5}\s*(век\w*|в\.|ғасыр\w*)"
    r"|\b(январ|феврал|март|апрел|ма(й|я|е|ю)\b|июн|июл|август|сентябр|октябр|ноябр|декабр)"
    r"|\b(қаңтар|ақпан|наурыз|сәуір|мамыр|шілде|тамыз|қыркүйек|қараша|желтоқсан)"
    r"|\d{1,2}(-?\w{0,3})?\s+(маусым|қазан)|\b(маусым|қазан)\w*\s+(\d{1,2}|ай)"
    # Days: "on Wednesday", "в среду" (a preposition first: "среда" alone is also "the environment"), "сәрсенбіде".
    r"|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tomorrow)\b"
    r"|\b(в|во|по|с|до|к)\s+(понедельник|вторник|сред[уа]|средам|четверг|пятниц|суббот|воскресень)\w*"
    # A part of the day or a season answers "when" too: "at night", "in spring", "утром", "зимой", "түнде".
    r"|\b(at (night|dawn|dusk|noon|midnight)|in the (morning|afternoon|evening)s?|(in|every|each|this|last|next) "
    r"(spring|summer|autumn|fall|winter)|overnight)\b|\b(утром|вечером|ночью|дн[её]м|зимой|летом|весной|осенью)\b"
    r"|\b(таңертең|кешке|түнде|түні|күндіз|қыста|көктемде|жазда|күзде)\b"
    # A day of the month without its month: "by the 20th", "до 20-го числа", "айдың 25-іне дейін".
    r"|\b(by|on|until|till|before|after|from|since) the \d{1,2}(st|nd|rd|th)\b(?!\s+(?!of\b)[a-z])"
    r"|\b\d{1,2}(st|nd|rd|th) of (the|each|every) month\b"
    r"|\b\d{1,2}(-?го)? числа\b|\bайдың \d{1,2}\b"
    r"|\b(вчера|сегодня|завтра)\b|\b(дүйсенбі|сейсенбі|сәрсенбі|бейсенбі|жұма|сенбі|жексенбі|кеше|бүгін|ертең)\w*",
    re.IGNORECASE,
)
FREQUENCY = re.compile(
    r"\b(every|each|once|twice|daily|weekly|monthly|quarterly|annually|yearly|fortnightly|hourly)\b"
    r"|\btimes (a|an|per|each|every)\b|\bper (day|week|month|year)\b|\ba (day|week|month|year)\b"
    r"|\bраз(а)? в\b|\bкажд\w+|\bежедневно|\bеженедельно|\bежемесячно|\bежеквартально|\bежегодно"
    r"|\bсайын\b|\bрет\b|\b(жылына|айына|аптасына|күніне|тәулігіне)\b",
    re.IGNORECASE,
)
# Russian's and Kazakh's units, each once: Kazakh writes "минут" as Russian does.
DURATION = re.compile(
    r"\b(minutes?|hours?|days?|weeks?|fortnight|months?|years?|within)\b"
    r"|\b(минут\w*|час(а|ов)?|сутки|суток|дн(я|ей)|день|недел\w+|месяц\w*|года?|лет|в течение)\b"
    r"|\b(сағат\w*|тәулік\w*|күн(ге|де|нен|і|і?нің)?|апта\w*|ай(ға|да|дан)?|жыл(ға|да|дан)|ішінде)\b",
    re.IGNORECASE,
)
TIME = re.compile(
    r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?(am|pm|a\.m\.|p\.m\.)|\b(o'clock|noon|midnight|24/7)\b"
    r"|\b(round|around) the clock\b|\bкруглосуточно|\bв \d{1,2} час|\bчас(а|ов)?\b|\bсағат\b|\bтәулік бойы",
    re.IGNORECASE,
)
# The question frames after a price's and the kind of fact each asks for, the first that matches taken: a rate,
# a time of day and a span before a number, as "how many times a year" and "how long does it take" are also
# "how many" and "how long".
ANSWER_TYPES = (
    (WANTS_FREQUENCY, FREQUENCY),
    (WANTS_TIME, TIME),
    (WANTS_DURATION, DURATION),
    (WANTS_NUMBER, NUMBER),
    (WANTS_DATE, DATE),
)

# Features every candidate gets from the indexes alone (cheap: no text is read).
INDEX_FEATURES = (
    "sentence_bm25",  # the sentence's BM25 over the best candidate's
    "sentence_bm25_abs",  # the sentence's BM25 over the question's total IDF
    "document_bm25",  # its document's BM25 over the best candidate document's
    "top_document",  # its document is the best-scoring one
    "lead",  # 1 / (1 + position in the document)
    "idf_covered",  # share of the question's IDF weight the sentence holds, or the heading it sits under holds
    "terms_covered",  # share of the question's distinct terms the sentence or its heading holds
    "missing_max",  # the heaviest question term the sentence and its heading lack, as a share of the weight
    "document_missing",  # share of the question's weight its document lacks altogether
    "neighbour",  # share of the question's weight the sentences just before and after add to it
    "length",  # log of the sentence's term count
    "novelty",  # share of the sentence's terms that are not the question's: an answer says something new
    "heading",  # the sentence is a heading (a heading line or a title line): context, not an answer
    "heading_terms",  # share of the question's weight the sentence lacks and the heading it sits under holds
)
# Features read from the text of the shortlisted candidates only.
TEXT_FEATURES = (
    "pairs",  # adjacent question terms found adjacent in the sentence, over the pairs the question has
    "derived",  # share of IDF weight matched only by a shared prefix ("conclude" ~ "conclusion")
    "title",  # share of the question's IDF weight found in the document's title
    "lead_title",  # lead × title: the opening sentence of the article the question names
    "type_found",  # it asks for a kind of fact (a sum, rate, time, span, number or date) and the sentence has it
    "type_missing",  # it asks for one and the sentence has none
    "pieces",  # separate parts of the question found (side by side they are one: "World Bank"), up to 4
    # share of what the question adds to its document's subject (the weight its title and first sentence
    # lack) that the sentence holds, derived forms counted: a news item's detail, not its lead
    "focus",
)
# Features from static word embeddings (bot/semantic.py), when the `semantic` extra is installed.
SEMANTIC_FEATURES = (
    "semantic",  # cosine similarity of the sentence's and the question's mean word vectors
    "semantic_gap",  # that similarity less the best of the shortlist's: how far it is from the closest in meaning
    "soft_found",  # share of the question's weight the sentence lacks as words but has in meaning ("talks" ~ "meeting")
    # share of the question's weight the sentence holds, a lacking word counting its nearest word's cosine
    "soft_covered",
    "soft_missing",  # share of the question's weight with neither the word nor a near one (cosine under SOFT_NEAR)
)
# A follow-up's borrowed subject terms weigh this share of their IDF (bot/ranking/followup.py).
CONTEXT_WEIGHT = 0.3
# Below this cosine similarity two words are not taken as near in meaning.
SOFT_NEAR = 0.3


def by_name(columns: Mapping[str, np.ndarray | Sequence[float] | float | bool], names: tuple[str, ...]) -> np.ndarray:
    """The columns stacked in the order of `names`; a column missing or not named there is a bug, said at once."""
    if set(columns) != set(names):
        raise ValueError(f"features {sorted(set(columns) ^ set(names))} are not both computed and named")
    return np.column_stack([np.asarray(columns[name], dtype=float) for name in names])


@dataclass(frozen=True)
class Question:
    """A question as the ranker sees it: its search terms, their ids and weights, and what it asks for."""

    text: str
    analyzer: Analyzer | MultiAnalyzer
    terms: tuple[str, ...]
    ids: tuple[int, ...]
    weights: np.ndarray  # IDF weight of each term; a term the corpus lacks weighs as much as a word it has once
    prefixes: tuple[str, ...]  # the PREFIX first letters of each term's word
    wanted: re.Pattern[str] | None  # MONEY, FREQUENCY, TIME, DURATION, NUMBER, DATE or None
    words: tuple[str, ...] = ()  # the word each term came from


def question_analyzer(library: Library, question: str) -> Analyzer | MultiAnalyzer:
    """The analyzer a question is read with: its language's, or several languages' when that is unsure."""
    return library.question_analyzer(question)


def wanted_type(question: str) -> tuple[re.Pattern[str] | None, str]:
    """The kind of fact the question asks for (a sum of money, a rate, a time, a span, a number, a date, or None)
    and the question without its frame."""
    if WANTS_MONEY.search(question):
        return MONEY, MONEY_FRAME.sub(" ", question)
    for frame, kind in ANSWER_TYPES:
        match = frame.search(question)
        if match:
            # "In which years…" asks for a date; the word "years" is not what it is about.
            return kind, question[: match.start()] + " " + question[match.end() :]
    return None, question


def holds_kind(kind: re.Pattern[str], text: str, language: str) -> bool:
    """Whether a text in this language holds the kind of fact (a pattern of ANSWER_TYPES, or MONEY)."""
    return bool((_RUSSIAN_NUMBER if kind is NUMBER and language == "ru" else kind).search(text))


def _content_words(analyzer: Analyzer | MultiAnalyzer, text: str) -> list[tuple[str, str]]:
    """(word, term) pairs of a text's content words, fillers and stop words dropped: each language's in turn."""
    fillers = FILLERS.get(analyzer.language, frozenset())
    words = [word for word in analyzer.words(text) if word not in fillers]
    out: dict[str, str] = {}
    for single in analyzer.analyzers if isinstance(analyzer, MultiAnalyzer) else (analyzer,):
        for word in words:
            for term in single.terms(word):
                out.setdefault(term, word)
    return [(word, term) for term, word in out.items()]


def _rarest(
    pairs: list[tuple[str, str]], ids: Sequence[int], idf: np.ndarray, n_terms: int
) -> tuple[list[tuple[str, str]], tuple[int, ...]]:
    """The pairs and ids with at most MAX_TERMS corpus terms, the highest IDF kept, in question order; terms the
    corpus lacks are all kept (looking for them costs nothing)."""
    known = [i for i, t in enumerate(ids) if 0 <= t < n_terms]
    if len(known) <= MAX_TERMS:
        return pairs, tuple(ids)
    dropped = set(sorted(known, key=lambda i: (-float(idf[ids[i]]), i))[MAX_TERMS:])
    kept = [i for i in range(len(pairs)) if i not in dropped]
    return [pairs[i] for i in kept], tuple(ids[i] for i in kept)


def analyze_question(library: Library, question: str, context: str = "") -> Question:
    """Read a question into search terms, weights and the kind of answer it wants.

    `context` (the subject of the question before, for a follow-up) adds its own terms at CONTEXT_WEIGHT of
    their weight: they pick where to look, and the question's own words still pick the sentence.
    """
    analyzer = question_analyzer(library, f"{question} {context}" if context else question)
    wanted, topic = wanted_type(question)
    # A question that is all frame ("In which years?") is about its frame's words, unless a follow-up's context
    # says what it is about: then "years" is only the kind of answer it wants.
    pairs = _content_words(analyzer, topic) or ([] if context else _content_words(analyzer, question))
    own = {term for _, term in pairs}
    if context:
        pairs += [(w, t) for w, t in _content_words(analyzer, wanted_type(context)[1]) if t not in own]
    index = library.sentence_index
    pairs, ids = _rarest(pairs, library.term_ids([term for _, term in pairs]), index.idf, index.n_terms)
    terms = tuple(term for _, term in pairs)
    ceiling = math.log((index.n_rows - 0.5) / 1.5) if index.n_rows > 2 else 1.0
    weights = np.array([max(float(index.idf[t]), 0.05) if 0 <= t < index.n_terms else ceiling for t in ids])
    weights[[term not in own for term in terms]] *= CONTEXT_WEIGHT
    return Question(
        text=question,
        analyzer=analyzer,
        terms=terms,
        ids=ids,
        weights=weights,
        prefixes=tuple(word[:PREFIX] for word, _ in pairs),
        wanted=wanted,
        words=tuple(word for word, _ in pairs),
    )


def candidates(library: Library, question: Question) -> np.ndarray:
    """Sentence ids worth ranking: the best by BM25, and the sentences of the best documents."""
    ids = list(question.ids)
    # Both searches go out at once: a sharded index answers them side by side.
    sentence_search = library.sentence_index.submit("top", ids, SENTENCE_CANDIDATES)
    document_search = library.document_index.submit("top", ids, DOCUMENT_CANDIDATES)
    rows, _ = sentence_search()
    documents, _ = document_search()
    if len(rows) == 0:
        return np.empty(0, dtype=np.int64)
    pool = [rows.astype(np.int64)]
    for number in documents.tolist():
        start = int(library.offsets[number])
        stop = min(int(library.offsets[number + 1]), start + DOCUMENT_SENTENCES)
        pool.append(np.arange(start, stop, dtype=np.int64))
    return np.unique(np.concatenate(pool))


def term_hits(library: Library, question: Question, rows: np.ndarray) -> np.ndarray:
    """A (rows × question terms) matrix: does the sentence contain the term."""
    return library.sentence_index.contains(list(question.ids), rows)


def index_features(library: Library, question: Question, rows: np.ndarray) -> np.ndarray:
    """The INDEX_FEATURES of each candidate row."""
    return index_stage(library, question, rows).features


@dataclass(frozen=True)
class IndexStage:
    """What the index tells about candidate rows: their INDEX_FEATURES, and which question terms they hold."""

    features: np.ndarray
    hits: np.ndarray  # term_hits of the rows
    lead_hits: np.ndarray  # term_hits of each row's document's first sentence (often its title, see text_features)


@dataclass(frozen=True)
class _Looked:
    """What one lookup per index tells of candidate rows: scores, and which question terms each row holds.

    `found` holds five blocks of rows: the candidates, the sentences before and after them, their documents'
    first sentences, and the headings they sit under (the row itself where there is none).
    """

    sentence: np.ndarray
    found: np.ndarray
    document: np.ndarray
    in_document: np.ndarray
    starts: np.ndarray
    stops: np.ndarray
    heads: np.ndarray
    under: np.ndarray


def _look_up(library: Library, question: Question, rows: np.ndarray) -> _Looked:
    """One lookup per index for everything the index stage reads; both go out at once."""
    ids = list(question.ids)
    numbers = np.searchsorted(library.offsets, rows, side="right") - 1
    starts, stops = library.offsets[numbers], library.offsets[numbers + 1]
    heads = library.heads[rows]
    under = (heads >= 0) & (heads != rows)
    around = np.concatenate(
        [
            rows,
            np.maximum(rows - 1, 0),
            np.minimum(rows + 1, library.sentence_count - 1),
            starts,
            np.where(under, heads, rows),
        ]
    )
    sentence_lookup = library.sentence_index.submit("lookup", ids, around)
    document_lookup = library.document_index.submit("lookup", ids, numbers)
    sentence_scores, found = sentence_lookup()
    document_scores, in_document = document_lookup()
    return _Looked(
        np.clip(sentence_scores[: len(rows)], 0.0, None),
        found,
        np.clip(document_scores, 0.0, None),
        in_document,
        starts,
        stops,
        heads,
        under,
    )


def index_stage(library: Library, question: Question, rows: np.ndarray) -> IndexStage:
    """The INDEX_FEATURES of each candidate row, with the term hits found on the way."""
    ids = list(question.ids)
    weights = question.weights
    total = float(weights.sum()) or 1.0
    n = len(rows)
    looked = _look_up(library, question, rows)
    sentence, document, found, starts = looked.sentence, looked.document, looked.found, looked.starts
    in_document, heads = looked.in_document, looked.heads
    best_document = float(document.max()) if len(document) else 0.0
    hits = found[:n]
    distinct = sorted({term: j for j, term in enumerate(question.terms)}.values())
    before = found[n : 2 * n] & (rows > starts)[:, None]
    after = found[2 * n : 3 * n] & (rows + 1 < looked.stops)[:, None]
    # A sentence under a heading takes the heading's terms as evidence: "Call the emergency line" answers
    # "How do I report a burst pipe?" under that heading.
    head_hits = found[4 * n :] & looked.under[:, None]
    held = hits | head_hits
    lengths = library.sentence_index.lengths[rows].astype(float)
    matched = hits[:, distinct].sum(axis=1) if distinct else np.zeros(n)
    matched_held = held[:, distinct].sum(axis=1) if distinct else np.zeros(n)
    columns = by_name(
        {
            "sentence_bm25": sentence / max(float(sentence.max()), 1e-9),
            "sentence_bm25_abs": sentence / total,
            "document_bm25": document / max(best_document, 1e-9),
            "top_document": (document >= best_document) & (best_document > 0),
            "lead": 1.0 / (1.0 + rows - starts),
            "idf_covered": held @ weights / total,
            "terms_covered": matched_held / max(len(distinct), 1),
            "missing_max": (np.where(held, 0.0, weights).max(axis=1) if len(ids) else np.zeros(n)) / total,
            "document_missing": ~in_document @ weights / total,
            "neighbour": ((before | after) & ~held) @ weights / total,
            "length": np.log1p(lengths),
            "novelty": 1.0 - np.minimum(matched, lengths) / np.maximum(lengths, 1.0),
            "heading": heads == rows,
            "heading_terms": (head_hits & ~hits) @ weights / total,
        },
        INDEX_FEATURES,
    )
    return IndexStage(columns, hits, found[3 * n : 4 * n])


def text_features(
    library: Library, question: Question, rows: np.ndarray, covered: np.ndarray, lead_hits: np.ndarray | None = None
) -> np.ndarray:
    """The TEXT_FEATURES of each candidate row; `covered` is term_hits for the same rows, `lead_hits` (optional)
    those of each row's document's first sentence."""
    # Analysing a sentence is most of this function's cost; the index already says which question terms
    # it holds, so its text is analysed only where that cannot settle a feature: adjacent pairs need two
    # adjacent question terms present, derived forms a long question word absent.
    adjacent = (covered[:, 1:] & covered[:, :-1]).any(axis=1)
    found: list[dict[str, float]] = []
    titles: dict[int, np.ndarray] = {}
    readers: dict[int, Analyzer] = {}
    numbers = np.searchsorted(library.offsets, rows, side="right") - 1
    positions = rows - library.offsets[numbers]
    if lead_hits is None:
        lead_hits = term_hits(library, question, library.offsets[numbers].astype(np.int64))
    total = float(question.weights.sum()) or 1.0
    for i, (number, position) in enumerate(zip(numbers.tolist(), positions.tolist())):
        # The sentence in its own document's language: the terms the index holds for it.
        reader = readers.get(number) or readers.setdefault(number, library.document_analyzer(number))
        if number not in titles:
            titles[number] = _title_hits(library, question, number, reader, lead_hits[i])
        text = library.entries[number].sentences[position]
        values, held = _sentence_text_features(question, text, covered[i], bool(adjacent[i]), reader)
        title = float(question.weights[titles[number]].sum()) / total
        values["title"] = title
        values["lead_title"] = title / (1.0 + position)
        values["focus"] = _focus(question.weights, titles[number] | lead_hits[i], held)
        found.append(values)
    if not found:
        return np.zeros((0, len(TEXT_FEATURES)))
    return by_name({name: [values[name] for values in found] for name in found[0]}, TEXT_FEATURES)


def _focus(weights: np.ndarray, subject: np.ndarray, held: np.ndarray) -> float:
    """The share of the question's weight outside its document's subject that a sentence holds (0: none outside)."""
    outside = float(weights[~subject].sum())
    return float(weights[~subject & held].sum()) / outside if outside > 0 else 0.0


def _sentence_text_features(
    question: Question, text: str, found: np.ndarray, adjacent: bool, reader: Analyzer
) -> tuple[dict[str, float], np.ndarray]:
    """The TEXT_FEATURES a sentence's own text gives (all but the title's), and which question terms it holds,
    derived forms counted."""
    terms, weights = question.terms, question.weights
    total = float(weights.sum()) or 1.0
    pairs = set(zip(terms, terms[1:]))
    sentence_pairs: set[tuple[str, str]] = set()
    if adjacent:
        sentence_terms = reader.terms(text)
        sentence_pairs = set(zip(sentence_terms, sentence_terms[1:]))
    # A word of PREFIX - 1 letters counts as a form of a longer word it opens ("бала" ~ "баланың", "meet" ~
    # "meetings"): a short root's inflections are cut to PREFIX letters that are not the root.
    missing = [(j, p) for j, p in enumerate(question.prefixes) if len(p) >= PREFIX - 1 and not found[j]]
    words = reader.words(text) if missing else []
    prefixes = {w[:PREFIX] for w in words if len(w) >= PREFIX} | {w[: PREFIX - 1] for w in words if len(w) > PREFIX}
    derived = [j for j, p in missing if p in prefixes]
    held = np.array(found, dtype=bool)
    held[derived] = True
    has_type = question.wanted is not None and holds_kind(question.wanted, text, reader.language)
    pieces = sum(
        1
        for j in range(len(terms))
        if found[j] and not (j and found[j - 1] and (terms[j - 1], terms[j]) in sentence_pairs)
    )
    values = {
        "pairs": len(pairs & sentence_pairs) / max(len(pairs), 1),
        "derived": sum(weights[j] for j in derived) / total,
        "type_found": has_type,
        "type_missing": question.wanted is not None and not has_type,
        "pieces": min(pieces, 4),
    }
    return values, held


def _title_hits(
    library: Library, question: Question, number: int, reader: Analyzer, lead_hits: np.ndarray
) -> np.ndarray:
    """Which question terms the document's title holds (none for a title citebot made up)."""
    entry = library.entries[number]
    title = entry.document.title
    if entry.document.title_made:
        # Made from the opening words, the title says nothing the opening sentence does not: counting it
        # would score that sentence twice, as if the question named the document.
        return np.zeros(len(question.terms), dtype=bool)
    if entry.sentences[0] == title:
        # A heading's title is the document's first sentence: the index knows its terms, no analysis needed.
        return np.asarray(lead_hits, dtype=bool)
    held = _title_terms(reader, title)
    return np.array([t in held for t in question.terms], dtype=bool)


@functools.lru_cache(maxsize=1 << 14)
def _title_terms(reader: Analyzer, title: str) -> frozenset[str]:
    # Questions on one subject keep meeting the same documents: each title is analysed once.
    return frozenset(reader.terms(title))


def semantic_features(
    library: Library, question: Question, rows: np.ndarray, embedder: Embedder, covered: np.ndarray | None = None
) -> np.ndarray:
    """The SEMANTIC_FEATURES of each candidate row; `covered` is term_hits for the same rows, when known."""
    texts = [library.sentence(int(row)).text for row in rows]
    similarity = embedder.similarities(question.text, texts)
    if len(similarity) == 0:
        return np.empty((0, len(SEMANTIC_FEATURES)))
    soft = np.zeros((len(rows), 3))
    if question.words:
        lacking = ~(term_hits(library, question, rows) if covered is None else covered)
        soft = _soft_matches(question, texts, lacking, embedder)
    columns = {"semantic": similarity, "semantic_gap": similarity - similarity.max()}
    columns |= {name: soft[:, j] for j, name in enumerate(("soft_found", "soft_covered", "soft_missing"))}
    return by_name(columns, SEMANTIC_FEATURES)


def _soft_matches(question: Question, texts: list[str], lacking: np.ndarray, embedder: Embedder) -> np.ndarray:
    """soft_found, soft_covered and soft_missing of each text: question words it lacks, met by meaning."""
    weights = question.weights
    total = float(weights.sum()) or 1.0
    asked = embedder.words(list(question.words))
    stop: frozenset[str] = getattr(question.analyzer, "stop_words", frozenset())
    out = np.zeros((len(texts), 3))
    per_text = [{word for word in question.analyzer.words(text) if word not in stop} for text in texts]
    vocabulary = sorted(set().union(*per_text))
    column = {word: j for j, word in enumerate(vocabulary)}
    # Every question word against every word of the shortlist, in one product; each text reads its columns.
    similar = np.clip(asked @ embedder.words(vocabulary).T, 0.0, 1.0)
    for i, words in enumerate(per_text):
        if not words:
            continue
        nearest = similar[:, [column[word] for word in words]].max(axis=1)
        out[i] = (
            float((weights * nearest * lacking[i]).sum()) / total,
            float((weights * np.where(lacking[i], nearest, 1.0)).sum()) / total,
            float((weights * lacking[i] * (nearest < SOFT_NEAR)).sum()) / total,
        )
    return out
