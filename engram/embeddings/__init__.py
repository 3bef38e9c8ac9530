"""Text embedders: a local offline default and any OpenAI-compatible endpoint.

>>> emb = make_embedder()               # all-MiniLM-L6-v2, int8 ONNX, 384 dims, offline
>>> emb.embed(["hello"]).shape
(1, 384)
>>> make_embedder(model="multilingual")  # USE multilingual v3: Chinese and 15 more, 512 dims

Heavy imports (onnxruntime, tokenizers, openai) happen on first use.
"""

from __future__ import annotations

import os

from engram.config import env_count
from engram.embeddings.base import Embedder, EmbeddingError
from engram.embeddings.e5_multilingual import MODEL_ID as MULTILINGUAL_MODEL_ID
from engram.embeddings.e5_multilingual import MultilingualEmbedder
from engram.embeddings.onnx_minilm import MODEL_ID as LOCAL_MODEL_ID
from engram.embeddings.onnx_minilm import LocalEmbedder
from engram.embeddings.openai_compat import DEFAULT_MODEL as OPENAI_DEFAULT_MODEL
from engram.embeddings.openai_compat import OpenAIEmbedder
from engram.embeddings.use_multilingual import MODEL_ID as USE_MODEL_ID
from engram.embeddings.use_multilingual import UniversalSentenceEmbedder

__all__ = [
    "Embedder",
    "EmbeddingError",
    "LocalEmbedder",
    "MultilingualEmbedder",
    "OpenAIEmbedder",
    "UniversalSentenceEmbedder",
    "make_embedder",
]

# Names under which each local model may be asked for.
_LOCAL_MODEL_NAMES = {
    LOCAL_MODEL_ID,
    "all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2",
}
_USE_MODEL_NAMES = {
    USE_MODEL_ID,
    "multilingual",
    "use-multilingual",
    "universal-sentence-encoder-multilingual",
}
_E5_MODEL_NAMES = {
    MULTILINGUAL_MODEL_ID,
    "multilingual-e5-small",
    "intfloat/multilingual-e5-small",
}


class _Default(str):
    """A str told apart from an explicit "local", so ENGRAM_EMBEDDER can apply."""


_LOCAL_DEFAULT = _Default("local")


def make_embedder(
    provider: str = _LOCAL_DEFAULT,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    dims: int | None = None,
    batch_size: int = 64,
) -> Embedder:
    """Build an embedder; arguments left out fall back to ENGRAM_EMBEDDING_* env vars.

    provider: "local" (default; ENGRAM_EMBEDDER when not passed) or "openai".
    model: ENGRAM_EMBEDDING_MODEL; local runs all-MiniLM-L6-v2 (default, English),
        "multilingual" (Universal Sentence Encoder Multilingual v3: Chinese and 15 more
        languages, 512 dims) or "multilingual-e5-small" (see docs/embeddings.md);
        openai defaults to text-embedding-3-small.
    base_url, api_key: ENGRAM_EMBEDDING_BASE_URL, ENGRAM_EMBEDDING_API_KEY (openai only).
    dims: ENGRAM_EMBEDDING_DIMS; for openai it is sent as ``dimensions``.
    ENGRAM_EMBEDDING_THREADS and ENGRAM_EMBEDDING_PRODUCTS ("integer", the default, or
    "fp32") tune the local MiniLM model (see LocalEmbedder).
    """
    if provider is _LOCAL_DEFAULT:
        provider = os.environ.get("ENGRAM_EMBEDDER") or "local"
    provider = provider.strip().lower()
    model = model or os.environ.get("ENGRAM_EMBEDDING_MODEL") or None
    dims = dims if dims is not None else _env_int("ENGRAM_EMBEDDING_DIMS")
    if provider == "local":
        return _make_local(model, dims, batch_size)
    if provider == "openai":
        return OpenAIEmbedder(
            model or OPENAI_DEFAULT_MODEL,
            base_url=base_url or os.environ.get("ENGRAM_EMBEDDING_BASE_URL") or None,
            api_key=api_key or os.environ.get("ENGRAM_EMBEDDING_API_KEY") or None,
            dims=dims,
            batch_size=batch_size,
        )
    raise ValueError(f"unknown embedding provider {provider!r}: use 'local' or 'openai'")


def _make_local(model: str | None, dims: int | None, batch_size: int) -> Embedder:
    embedder: Embedder
    # ENGRAM_EMBEDDING_THREADS: `engram serve` gives each worker process its share of cores
    threads = env_count("ENGRAM_EMBEDDING_THREADS")
    if model is None or model in _LOCAL_MODEL_NAMES:
        embedder = LocalEmbedder(batch_size=batch_size, threads=threads,
                                 integer_matmuls=_integer_products())  # fmt: skip
    elif model in _USE_MODEL_NAMES:
        embedder = UniversalSentenceEmbedder(threads=threads)
    elif model in _E5_MODEL_NAMES:
        embedder = MultilingualEmbedder(threads=threads)
    else:
        raise ValueError(
            f"the local embedder runs {LOCAL_MODEL_ID}, 'multilingual' or "
            f"'multilingual-e5-small', not {model!r}; use provider='openai' for other models"
        )
    if dims is not None and dims != embedder.dims:
        raise ValueError(f"the local embedder {embedder.model_id} produces {embedder.dims} "
                         f"dims, not {dims}")  # fmt: skip
    return embedder


def _integer_products() -> bool:
    """ENGRAM_EMBEDDING_PRODUCTS: "integer" (default) or "fp32" (LocalEmbedder integer_matmuls)."""
    raw = os.environ.get("ENGRAM_EMBEDDING_PRODUCTS", "").strip().lower() or "integer"
    if raw not in ("fp32", "integer"):
        raise ValueError(f"ENGRAM_EMBEDDING_PRODUCTS must be 'fp32' or 'integer', got {raw!r}")
    return raw == "integer"


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
