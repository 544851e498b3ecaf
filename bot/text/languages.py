"""Which language a document or a question is in, among the languages the analyzers support."""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

from bot.ingest.corpus import Document
from bot.text.analyzers import ANALYZER_VERSION, LANGUAGES, AnalyzedDocument, Analyzer, analyze, language_code
from bot.text.scripts import CYRILLIC, LATIN, script_language

# The classifier reads character n-grams: 500 characters told all 2,861 benchmark documents' language right
# (en, ru, kk), as 1,000 did (200: 2 wrong), at about 0.2 ms of CPU per new document. They are the document's
# words (letters only) from a few places spread across it, so a table of figures, a column of dates or a
# heading padded with non-breaking spaces at the top does not decide, nor does any one part of a long text.
SAMPLE_CHARS = 500
SAMPLE_PLACES = 5
WORD = re.compile(r"[^\W\d_]+")
# Below this probability a question's language is a guess, and callers search with the runner-up too.
SURE = 0.9
# A few words are too few for the classifier ("Our annual report." reads as Esperanto): below SURE, a text of
# fewer letters than this is read by its script instead, Latin as English and Cyrillic as Russian, or as Kazakh
# when it has a letter only Kazakh writes.
SHORT_LETTERS = 200
# py3langid ships its model LZMA-compressed: unpacking it costs a process most of a second, more than a
# small corpus takes to load. Unpacked once into the cache folder as plain .npy arrays (no pickle), it is
# mapped by every later process in milliseconds, and only the pages detection touches are read.
MODEL_ARRAYS = ("ptc", "pc", "nextmove", "row", "output")
MODEL_PREFIX = "langid-"

log = logging.getLogger(__name__)


@functools.cache
def _model(home: Path | None) -> LanguageIdentifier:
    """The classifier, its unpacked model kept in (and mapped from) the folder `home`, or unpacked each process."""
    folder = _model_folder(home)
    if folder is not None and folder.is_dir():
        try:
            return _mapped_model(folder)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("language model in %s unusable (%s); unpacking it again", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    model = _trimmed(LanguageIdentifier.from_model_file(MODEL_FILE))
    if folder is not None:
        _save_model(model, folder)
    return model


def _model_folder(home: Path | None) -> Path | None:
    """The folder for this model file and these languages: another py3langid or citebot gets another one."""
    if home is None:
        return None
    try:
        info = (MODEL_DIR / MODEL_FILE).stat()
    except OSError:
        return None
    key = f"{info.st_size}:{info.st_mtime_ns}:{','.join(sorted(LANGUAGES))}"
    return home / f"{MODEL_PREFIX}{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}"


def _trimmed(model: LanguageIdentifier) -> LanguageIdentifier:
    """The model's columns of the languages citebot has analyzers for: a quarter of its size, same answers."""
    model.set_languages(sorted(LANGUAGES & frozenset(model.labels)))
    return LanguageIdentifier(
        np.ascontiguousarray(model.nb_ptc),
        np.ascontiguousarray(model.nb_pc),
        list(model.nb_classes),
        model.tk_nextmove,
        model.tk_output,
        norm_probs=True,
        tk_row=model.tk_row,
    )


def _save_model(model: LanguageIdentifier, folder: Path) -> None:
    """Write the unpacked model's arrays into `folder`, whole or not at all; never fatal."""
    arrays = {
        "ptc": np.asarray(model.nb_ptc),
        "pc": np.asarray(model.nb_pc),
        "nextmove": np.frombuffer(model.tk_nextmove, dtype=np.dtype(model.tk_nextmove.typecode)),
        "row": np.frombuffer(model.tk_row, dtype=np.dtype(model.tk_row.typecode)),
        "output": np.asarray(model.tk_output, dtype=np.int32),
    }
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".tmp-{MODEL_PREFIX}"))
    except OSError as exc:
        log.debug("language model not kept in %s: %s", folder, exc)
        return
    try:
        for name, array in arrays.items():
            np.save(temporary / f"{name}.npy", array, allow_pickle=False)
        (temporary / "classes.json").write_text(json.dumps(model.nb_classes), "utf-8")
        os.replace(temporary, folder)  # a directory appears whole; another process that got there first wins
    except OSError as exc:
        log.debug("language model not kept in %s: %s", folder, exc)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    _remove_other_models(folder)


def _remove_other_models(folder: Path) -> None:
    # Models of an older py3langid or citebot: nothing maps them any more.
    with contextlib.suppress(OSError):
        for other in folder.parent.glob(f"{MODEL_PREFIX}*"):
            if other != folder and other.is_dir():
                shutil.rmtree(other, ignore_errors=True)


def _mapped_model(folder: Path) -> LanguageIdentifier:
    """The model saved in `folder`, its arrays mapped rather than read; ValueError if they do not fit together."""
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in MODEL_ARRAYS}
    classes = json.loads((folder / "classes.json").read_text("utf-8"))
    ptc, pc, nextmove, row, output = (arrays[name] for name in MODEL_ARRAYS)
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise ValueError("classes are not a list of language codes")
    states = len(row)
    if (
        ptc.ndim != 2
        or ptc.dtype.kind != "f"
        or pc.dtype.kind != "f"
        or ptc.shape[1] != len(classes)
        or pc.shape != (len(classes),)
        or nextmove.ndim != 1
        or nextmove.dtype.kind != "u"
        or row.dtype.kind != "u"
        or output.dtype != np.int32
        or nextmove.size % 256
        or len(output) != states
        or not states
        or int(row.max()) >= nextmove.size // 256
        or int(nextmove.max()) >= states
        or int(output.max()) >= ptc.shape[0]
    ):
        raise ValueError("arrays of mismatched shapes")
    # The DFA is walked a byte at a time in Python: a memoryview indexes like the array or list it replaces.
    return LanguageIdentifier(
        ptc,
        pc,
        classes,
        _view(nextmove),
        _view(output),
        norm_probs=True,
        tk_row=_view(row),
    )


def _view(array: np.ndarray) -> memoryview:
    # numpy types dtype.char as any format; the model's arrays are unsigned or int32 (checked above), integer formats.
    char: Any = array.dtype.char
    return array.data.cast("B").cast(char)


@functools.cache
def detectable(home: Path | None = None) -> frozenset[str]:
    """The supported languages the classifier knows (a language it does not know is chosen only by name)."""
    return LANGUAGES & frozenset(_model(home).labels)


@functools.cache
def _identifier(languages: frozenset[str], home: Path | None) -> LanguageIdentifier:
    # A classifier restricted to these languages: scoring a few columns is faster and never answers
    # with a language that no analyzer has or that the corpus does not hold.
    model = _model(home)  # loaded once per process and model folder
    if languages == frozenset(model.labels):
        return model
    # A shallow copy shares the model's arrays and its DFA's row offsets (a list built from 100,000
    # states); set_languages only rebinds the copy's columns.
    identifier = copy.copy(model)
    identifier.set_languages(sorted(languages))
    return identifier


def _candidates(languages: Collection[str] | None, home: Path | None) -> frozenset[str]:
    chosen = detectable(home) if languages is None else frozenset(languages) & detectable(home)
    if not chosen:
        raise ValueError(f"no detectable language among {sorted(languages or ())}")
    return chosen


def detect(text: str, languages: Collection[str] | None = None, home: Path | None = None) -> str:
    """The most likely language of a text, among `languages` (default: every detectable one).

    `home` is a folder (the cache folder) where the classifier's unpacked model is kept for later processes.
    """
    candidates = _candidates(languages, home)
    if len(candidates) == 1:
        return next(iter(candidates))
    sample = text[:SAMPLE_CHARS]
    language, probability = _identifier(candidates, home).classify(sample)
    letters = sum(map(len, WORD.findall(sample)))
    if probability < SURE and 0 < letters < SHORT_LETTERS:
        return _by_script(sample, candidates) or language
    return language


def _by_script(text: str, candidates: frozenset[str]) -> str | None:
    """The language a short text's script suggests (see SHORT_LETTERS), when it is among the candidates."""
    latin, cyrillic = len(LATIN.findall(text)), len(CYRILLIC.findall(text))
    if not latin and not cyrillic:
        return None
    guess = script_language(text) if cyrillic > latin else "en"
    return guess if guess in candidates else None


def document_language(document: Document, languages: Collection[str] | None = None, home: Path | None = None) -> str:
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
    return detect(words_sample(f"{document.title}\n{document.text}"), languages, home)


def words_sample(text: str, size: int = SAMPLE_CHARS, places: int = SAMPLE_PLACES) -> str:
    """About `size` characters of a text's words (letters only, no digits or punctuation), from `places` parts."""
    share = max(1, size // places)
    step = max(1, -(-len(text) // places))
    parts = []
    for start in range(0, len(text), step):
        words, taken = [], 0
        for match in WORD.finditer(text, start, start + step):
            words.append(match.group())
            taken += len(words[-1]) + 1
            if taken >= share:
                break
        parts.append(" ".join(words))
    return " ".join(part for part in parts if part) or text[:size]


@dataclass(frozen=True)
class Languages:
    """The languages a corpus's documents may be in: any supported one (`auto`), or the given few."""

    allowed: frozenset[str] | None = None  # None: auto, each document's own language, detected or declared
    # Where the classifier's unpacked model is kept (the cache folder): no part of what an analysis depends on.
    model_home: Path | None = field(default=None, compare=False)

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
        return document_language(document, self.allowed, self.model_home)


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


def question_language(question: str, prior: Mapping[str, float], home: Path | None = None) -> Guess:
    """The language of a short question, among the prior's languages, weighed by how much of each the corpus holds."""
    weights = {code: share for code, share in prior.items() if share > 0}
    if not weights:
        raise ValueError("an empty prior: the corpus holds no language")
    candidates = frozenset(weights) & detectable(home)
    undetectable = sorted(set(weights) - candidates)
    if len(weights) == 1 or not candidates:
        total = sum(weights.values())
        return Guess(
            tuple(sorted(((code, share / total) for code, share in weights.items()), key=lambda pair: -pair[1]))
        )
    # py3langid's probabilities assume every language equally likely; a question of a few words is often
    # ambiguous, and then what the corpus holds should decide: weigh each by the prior and renormalize.
    odds = {code: probability * weights[code] for code, probability in _identifier(candidates, home).rank(question)}
    # A language no classifier knows (chosen by front matter) keeps its prior share, undivided by evidence.
    rest = sum(weights[code] for code in undetectable) / sum(weights.values())
    total = sum(odds.values()) or 1.0
    ranked = [(code, (1 - rest) * value / total) for code, value in odds.items()]
    ranked += [(code, weights[code] / sum(weights.values())) for code in undetectable]
    return Guess(tuple(sorted(ranked, key=lambda pair: -pair[1])))
