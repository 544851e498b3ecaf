"""Which language a document or a question is in, among the languages the analyzers support."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from bot.corpus import Document
from bot.text import ANALYZER_VERSION, LANGUAGES, AnalyzedDocument, Analyzer, analyze, language_code

# The classifier reads character n-grams: the first 500 characters told all 2,861 benchmark documents'
# language right (en, ru, kk), as 1,000 did (200: 2 wrong), at about 0.2 ms of CPU per new document.
SAMPLE_CHARS = 500
# Below this probability a question's language is a guess, and callers search with the runner-up too.
SURE = 0.9


@functools.cache
def _model() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE)


@functools.cache
def detectable() -> frozenset[str]:
    """The supported languages the classifier knows (a language it does not know is chosen only by name)."""
    return LANGUAGES & frozenset(_model().labels)


@functools.cache
def _identifier(languages: frozenset[str]) -> LanguageIdentifier:
    # A classifier restricted to these languages: scoring a few columns is faster and never answers
    # with a language that no analyzer has or that the corpus does not hold.
    model = _model()  # read once: unpacking the model takes a good part of a second
    identifier = LanguageIdentifier(
        model.nb_ptc, model.nb_pc, model.nb_classes, model.tk_nextmove, model.tk_output, norm_probs=True, tk_row=model.tk_row
    )
    identifier.set_languages(sorted(languages))
    return identifier


def _candidates(languages: Collection[str] | None) -> frozenset[str]:
    chosen = detectable() if languages is None else frozenset(languages) & detectable()
    if not chosen:
        raise ValueError(f"no detectable language among {sorted(languages or ())}")
    return chosen


def detect(text: str, languages: Collection[str] | None = None) -> str:
    """The most likely language of a text, among `languages` (default: every detectable one)."""
    candidates = _candidates(languages)
    if len(candidates) == 1:
        return next(iter(candidates))
    language, _ = _identifier(candidates).classify(text[:SAMPLE_CHARS])
    return language


def document_language(document: Document, languages: Collection[str] | None = None) -> str:
    """A document's language: its front matter's `language:` when supported, else detected from its text."""
    if document.language:
        try:
            code = language_code(document.language)
        except ValueError:
            code = None
        if code and (languages is None or code in languages):
            return code
    if languages is not None and len(languages) == 1:
        return next(iter(languages))
    return detect(f"{document.title}\n{document.text}", languages)


@dataclass(frozen=True)
class Languages:
    """The languages a corpus's documents may be in: any supported one (`auto`), or the given few."""

    allowed: frozenset[str] | None = None  # None: auto, each document's own language, detected or declared

    @classmethod
    def parse(cls, setting: str | Iterable[str] = "auto") -> Languages:
        """Read the `languages` setting: "auto", or codes or names separated by commas ("en,ru,kk")."""
        parts = [p for p in (setting.split(",") if isinstance(setting, str) else setting) if p.strip()]
        if not parts or (len(parts) == 1 and parts[0].strip().casefold() == "auto"):
            return cls()
        return cls(frozenset(language_code(part) for part in parts))

    @property
    def key(self) -> str:
        """What an analysis depends on besides the bytes: the analyzers' version and the allowed languages."""
        return f"{ANALYZER_VERSION}:{','.join(sorted(self.allowed)) if self.allowed else 'auto'}"

    def of(self, document: Document) -> str:
        """The language a document is analyzed in."""
        return document_language(document, self.allowed)


def analyze_document(document: Document, languages: Languages) -> AnalyzedDocument:
    """Analyze a document in its own language (a module function, so worker processes can run it)."""
    return analyze(document, Analyzer(languages.of(document)))


@dataclass(frozen=True)
class Guess:
    """A question's likely languages, most probable first, with probabilities that sum to one."""

    ranked: tuple[tuple[str, float], ...]

    @property
    def language(self) -> str:
        """The most probable language."""
        return self.ranked[0][0]

    @property
    def probability(self) -> float:
        """How sure the guess is: the probability of the most probable language."""
        return self.ranked[0][1]

    def likely(self, sure: float = SURE) -> tuple[str, ...]:
        """The languages worth searching: the best alone when it is sure, else every one until `sure` is covered."""
        out, covered = [], 0.0
        for language, probability in self.ranked:
            out.append(language)
            covered += probability
            if covered >= sure:
                break
        return tuple(out)


def question_language(question: str, prior: Mapping[str, float]) -> Guess:
    """The language of a short question, among the prior's languages, weighed by how much of each the corpus holds."""
    weights = {code: share for code, share in prior.items() if share > 0}
    if not weights:
        raise ValueError("an empty prior: the corpus holds no language")
    candidates = frozenset(weights) & detectable()
    undetectable = sorted(set(weights) - candidates)
    if len(weights) == 1 or not candidates:
        total = sum(weights.values())
        return Guess(tuple(sorted(((code, share / total) for code, share in weights.items()), key=lambda pair: -pair[1])))
    # py3langid's probabilities assume every language equally likely; a question of a few words is often
    # ambiguous, and then what the corpus holds should decide: weigh each by the prior and renormalize.
    odds = {code: probability * weights[code] for code, probability in _identifier(candidates).rank(question)}
    # A language no classifier knows (chosen by front matter) keeps its prior share, undivided by evidence.
    rest = sum(weights[code] for code in undetectable) / sum(weights.values())
    total = sum(odds.values()) or 1.0
    ranked = [(code, (1 - rest) * value / total) for code, value in odds.items()]
    ranked += [(code, weights[code] / sum(weights.values())) for code in undetectable]
    return Guess(tuple(sorted(ranked, key=lambda pair: -pair[1])))
