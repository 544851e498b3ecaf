"""Static word embeddings (wordllama's bundled weights): how close a sentence's meaning is to a question's.

Optional: installed with the `semantic` extra. The wordllama package ships a 32,000-token tokenizer and a
256-dimension embedding per token; a text's vector is the mean of its tokens' vectors, so "carried out"
lands near "implemented" where BM25 sees no shared word. Nothing is downloaded: wordllama's own loader
looks for the tokenizer in the wrong folder and then fetches it, so the package's two files are read
here directly and the package itself is never imported.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PACKAGE = "wordllama"
TOKENIZER = Path("tokenizers") / "l2_supercat_tokenizer_config.json"
WEIGHTS = Path("weights") / "l2_supercat_256.safetensors"
# Sentences embedded lately, by text: the shortlist of a question shares many with the last questions'.
CACHED_SENTENCES = 1 << 14
# Words embedded lately: a language's common words recur in every shortlist.
CACHED_WORDS = 1 << 16


class Embedder:
    """Unit-length mean token vectors of texts, from a tokenizer and a token embedding matrix."""

    def __init__(self, tokenizer: Any, matrix: np.ndarray) -> None:
        self.tokenizer = tokenizer
        self.matrix = matrix  # float16 (tokens × dimensions): half the memory, and exact enough for a mean
        self._sentences: dict[str, np.ndarray] = {}
        self._words: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        """A (texts × dimensions) float32 array of unit vectors; a text with no token is all zeros."""
        out = np.zeros((len(texts), self.matrix.shape[1]), dtype=np.float32)
        for i, encoding in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = np.asarray(encoding.ids, dtype=np.int64)
            ids = ids[(ids >= 0) & (ids < len(self.matrix))]
            if len(ids):
                out[i] = self.matrix[ids].mean(axis=0, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def _cached(self, texts: list[str], cache: dict[str, np.ndarray], most: int) -> np.ndarray:
        """Each text's vector, embedding the ones not in `cache` in one tokenizer call and keeping them."""
        if not texts:
            return np.zeros((0, self.matrix.shape[1]), dtype=np.float32)
        # Answers run in several threads at once: this call reads its vectors into its own dict, so another
        # thread clearing the shared cache meanwhile cannot take one away.
        found = {text: vector for text in texts if (vector := cache.get(text)) is not None}
        new = [text for text in dict.fromkeys(texts) if text not in found]
        if new:
            # One call for all the new texts: the tokenizer's per-call cost is larger than a short text's.
            fresh = dict(zip(new, self.embed(new)))
            found.update(fresh)
            if len(cache) + len(fresh) > most:
                # Bounded; what recurs (common words, a topic's sentences) comes back within a few questions.
                cache.clear()
            cache.update(fresh)
        return np.stack([found[text] for text in texts])

    def words(self, words: list[str]) -> np.ndarray:
        """A (words × dimensions) array of each word's unit vector, from the cache where it can."""
        return self._cached(words, self._words, CACHED_WORDS)

    def similarities(self, question: str, sentences: list[str]) -> np.ndarray:
        """Cosine similarity of the question to each sentence."""
        if not sentences:
            return np.empty(0)
        vectors = self._cached(sentences, self._sentences, CACHED_SENTENCES)
        return (vectors @ self.embed([question])[0]).astype(float)


def package_folder() -> Path | None:
    """Where the wordllama package is installed, found without importing it; None when it is not."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def read_embedder(folder: Path) -> Embedder:
    """An Embedder from a wordllama package folder's tokenizer and weights files."""
    from safetensors.numpy import load_file  # wordllama's dependencies: present when it is
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tensors = load_file(str(folder / WEIGHTS))
    (matrix,) = tensors.values()
    return Embedder(tokenizer, np.asarray(matrix, dtype=np.float16))


@functools.cache
def default_embedder() -> Embedder | None:
    """The installed wordllama's embeddings, or None (logged once) when the `semantic` extra is absent or broken."""
    folder = package_folder()
    if folder is None:
        log.info("semantic signal off: the %r package is not installed (pip install 'citebot[semantic]')", PACKAGE)
        return None
    try:
        return read_embedder(folder)
    except Exception as exc:  # a damaged or changed package must not stop answers: ranking falls back to words
        log.warning(
            "semantic signal off: cannot read %s's files in %s (%s: %s)", PACKAGE, folder, type(exc).__name__, exc
        )
        return None
