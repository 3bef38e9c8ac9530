"""A small LRU cache in front of any embedder.

One `add` embeds the same text more than once (the instruction filter and the pipeline both
need each new fact; reconciliation re-reads the stored memories it compares with, again and
again across adds), so repeated texts are served from memory instead of the model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from engram.embeddings.base import Embedder


class CachedEmbedder:
    def __init__(self, inner: Embedder, size: int = 4096) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dims = inner.dims
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        found = self._lookup(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = dict(zip(missing, self.inner.embed(missing)))
            self._store(fresh)
            found.update(fresh)
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return np.stack([found[t] for t in texts])

    def clear(self) -> None:
        """Forget every vector (benchmarks time the model, not the cache)."""
        with self._lock:
            self._cache.clear()

    def _lookup(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                if text in self._cache:
                    self._cache.move_to_end(text)
                    found[text] = self._cache[text]
        return found

    def _store(self, fresh: dict[str, np.ndarray]) -> None:
        with self._lock:
            for text, vector in fresh.items():
                vector.setflags(write=False)  # shared between callers
                self._cache[text] = vector
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
