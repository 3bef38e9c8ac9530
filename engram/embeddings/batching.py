"""Embeddings of concurrent calls batched into one model call.

The server answers requests on a thread pool; each search embeds one short query. One model
call per request pays the call's fixed cost every time and lets several calls fight over
the same cores. Here the first caller runs the model; callers arriving while it runs wait,
and the next of them runs one call for all of their texts. A lone caller waits for nobody
(no timer, no added latency), so the embedded library is unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from engram.embeddings.base import Embedder

# Texts per combined call: past this a queue of big adds would make a search wait for all of
# them (a model call's cost grows with its texts); the waiting callers split into turns.
MAX_BATCH_TEXTS = 256


class _Pending:
    __slots__ = ("error", "result", "texts")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None


class BatchingEmbedder:
    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dims = inner.dims
        self._queue: list[_Pending] = []
        self._running = False
        self._cond = threading.Condition()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.inner.embed(texts)
        mine = _Pending(texts)
        with self._cond:
            self._queue.append(mine)
        while True:
            with self._cond:
                while self._running and not mine.done:
                    self._cond.wait()
                if mine.done:
                    break
                self._running = True  # this caller runs the next call, for the oldest waiting
                batch = self._take()
            self._run(batch)
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _take(self) -> list[_Pending]:
        """The queue's oldest calls up to MAX_BATCH_TEXTS texts (at least one call)."""
        batch, size = [], 0
        while self._queue and (not batch or size + len(self._queue[0].texts) <= MAX_BATCH_TEXTS):
            batch.append(self._queue.pop(0))
            size += len(batch[-1].texts)
        return batch

    def _run(self, batch: list[_Pending]) -> None:
        try:
            vectors = self.inner.embed([t for p in batch for t in p.texts])
            start = 0
            for p in batch:
                p.result = vectors[start:start + len(p.texts)]
                start += len(p.texts)
        except BaseException as exc:  # every waiting caller gets the failure, typed as it was
            for p in batch:
                p.error = exc
        finally:
            with self._cond:
                self._running = False
                self._cond.notify_all()
