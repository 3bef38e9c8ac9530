"""The embedder interface every provider implements, and its shared helpers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from engram.errors import BackendError


class EmbeddingError(BackendError):
    """An embedder could not load its model or produce vectors."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    ``model_id`` is stored beside the vectors, so a change of model (or of the
    output size) is detectable and stale vectors are never compared with new ones.
    """

    model_id: str
    dims: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return shape ``(len(texts), dims)``, float32, one unit-length row per text."""
        ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate ``texts`` and return them as a list.

    A bare ``str`` is a ``Sequence[str]`` too, but embedding it character by
    character is never what the caller meant, so it is refused.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            "embed() takes a sequence of strings, not a single string; wrap it in a list"
        )
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"embed() texts[{i}] is {type(text).__name__}, expected str")
    return items


def l2_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation as float32 (same eps as torch.nn.functional.normalize)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, eps)


class OfflineEmbedder:
    """What the bundled offline models share: the model loads once, on the first embed() or
    at `load()`, and only the first caller loads it; an empty list is answered without
    loading. A model supplies `_load()` and `_encode(model, texts)` (texts never empty)."""

    model_id: str
    dims: int

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads or min(2, os.cpu_count() or 1)
        self._model: Any = None
        self._load_lock = threading.Lock()

    def load(self) -> None:
        """Load the model now instead of on the first embed() (e.g. at server start)."""
        self._loaded()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dims), dtype=np.float32)
        return self._encode(self._loaded(), items)

    def _loaded(self) -> Any:
        model = self._model
        if model is None:
            with self._load_lock:  # double-checked: only the first caller loads
                if self._model is None:
                    self._model = self._load()
                model = self._model
        return model

    def _load(self) -> Any:
        raise NotImplementedError

    def _encode(self, model: Any, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "loaded" if self._model is not None else "not loaded"
        return f"{type(self).__name__}(model_id={self.model_id!r}, dims={self.dims}, {state})"


def encode_in_chunks(
    encode: Callable[[list[str]], Any], texts: list[str], dims: int, chunk: int, engine: str
) -> np.ndarray:
    """`encode` over `texts` at most `chunk` at a time (bounding one call's memory), as one
    float32 array; the engine's own untyped failures become EmbeddingError."""
    out = np.empty((len(texts), dims), dtype=np.float32)
    for start in range(0, len(texts), chunk):
        batch = texts[start : start + chunk]
        try:
            rows = np.asarray(encode(batch), dtype=np.float32)
        except Exception as exc:
            raise EmbeddingError(f"{engine} failed on {len(batch)} texts: {exc}") from exc
        out[start : start + len(batch)] = rows.reshape(len(batch), dims)
    return out
