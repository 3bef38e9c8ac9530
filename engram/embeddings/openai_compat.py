"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint.

Works with OpenAI itself and with servers that speak the same API (Ollama,
vLLM, llama.cpp's server, LM Studio, LiteLLM, text-embeddings-inference, ...).
The ``openai`` SDK is imported on first use: it takes most of a second.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from engram.embeddings.base import EmbeddingError, check_texts, l2_normalize

DEFAULT_MODEL = "text-embedding-3-small"
OPENAI_BASE_URL = "https://api.openai.com/v1"
# Output sizes of OpenAI's own models, so dims is known without a probe request.
KNOWN_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_PROBE_TEXT = "dimension probe"


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible endpoint, in batches, returning unit rows.

    ``dims`` given: it is sent as the API's ``dimensions`` parameter (only
    models that support shortening accept it) and every row is checked
    against it. ``dims`` omitted: it is OpenAI's documented size for known
    models, otherwise learned from the first response (one probe request if
    ``dims`` is read before anything was embedded).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dims: int | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if dims is not None and dims < 1:
            raise ValueError("dims must be >= 1")
        self.model = model
        self.base_url = (base_url or OPENAI_BASE_URL).rstrip("/")
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max_retries
        self._api_key = api_key
        self._requested_dims = dims
        self._dims = dims or KNOWN_DIMS.get(model)
        # Shortened vectors are a different embedding space: keep them apart.
        self.model_id = model if dims is None else f"{model}@{dims}"
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def dims(self) -> int:
        if self._dims is None:
            self._request([_PROBE_TEXT])  # the response sets _dims
        assert self._dims is not None
        return self._dims

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self.dims), dtype=np.float32)
        batches = [
            self._request(items[i : i + self.batch_size])
            for i in range(0, len(items), self.batch_size)
        ]
        return l2_normalize(np.vstack(batches))

    def _request(self, batch: list[str]) -> np.ndarray:
        client = self._get_client()
        import openai

        kwargs: dict[str, Any] = {"model": self.model, "encoding_format": "float"}
        if self._requested_dims is not None:
            kwargs["dimensions"] = self._requested_dims
        # OpenAI rejects empty strings; a space embeds as "nothing" just the same.
        inputs = [text or " " for text in batch]
        try:
            response = client.embeddings.create(input=inputs, **kwargs)
        except openai.APIStatusError as exc:
            raise self._error(f"HTTP {exc.status_code}: {_short(exc.message)}") from exc
        except openai.APITimeoutError as exc:
            raise self._error(f"timed out after {self.timeout:g}s") from exc
        except openai.APIConnectionError as exc:
            raise self._error(f"connection failed: {_cause(exc)}") from exc
        except openai.OpenAIError as exc:
            raise self._error(_short(str(exc))) from exc
        return self._to_array(response.data or [], len(batch))

    def _to_array(self, data: list[Any], expected_rows: int) -> np.ndarray:
        rows = sorted(data, key=lambda d: d.index)
        if len(rows) != expected_rows:
            raise self._error(f"returned {len(rows)} embeddings for {expected_rows} inputs")
        try:
            matrix = np.array([row.embedding for row in rows], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise self._error(f"returned malformed embeddings: {exc}") from exc
        if matrix.ndim != 2 or not np.isfinite(matrix).all():
            raise self._error("returned ragged or non-finite embeddings")
        self._set_dims(matrix.shape[1])
        return matrix

    def _set_dims(self, width: int) -> None:
        with self._lock:
            if self._dims is None:
                self._dims = width
        if width != self._dims:
            raise self._error(f"returned {width}-dim embeddings, expected {self._dims}")

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        try:
            import openai
        except ImportError as exc:
            raise EmbeddingError(
                "the OpenAI-compatible embedder needs 'openai' (pip install openai)"
            ) from exc
        try:
            return openai.OpenAI(
                base_url=self.base_url,
                api_key=self._api_key or _default_api_key(self.base_url),
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        except openai.OpenAIError as exc:
            raise self._error(f"cannot create client: {exc}") from exc

    def _error(self, detail: str) -> EmbeddingError:
        return EmbeddingError(
            f"embedding endpoint {self.base_url}/embeddings (model {self.model!r}): {detail}"
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r}, dims={self._dims})"
        )


def _default_api_key(base_url: str) -> str | None:
    """Local servers usually need no key, but the SDK insists on one."""
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if base_url == OPENAI_BASE_URL:
        return None  # let the SDK raise its clear "missing credentials" error
    return "not-needed"


def _cause(exc: BaseException) -> str:
    """The innermost cause (e.g. 'Connection refused'), which the SDK's message hides."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return _short(str(exc)) or type(exc).__name__


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
