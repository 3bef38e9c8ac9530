"""The embedder interface every provider implements, and its shared helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

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
