"""Concurrent embedding calls share model calls (engram.embeddings.batching): callers that
arrive while the model runs are served together by the next call, each gets exactly its
own vectors, and a model failure reaches every caller of that call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from engram.embeddings import make_embedder
from engram.embeddings.batching import BatchingEmbedder
from engram.errors import BackendError

CALLERS = 8


class GatedModel:
    """Wraps the real local model; its first call waits until the other callers queue up."""

    def __init__(self, inner, fail: bool = False) -> None:
        self.inner, self.model_id, self.dims = inner, inner.model_id, inner.dims
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.fail = fail

    def embed(self, texts):
        self.calls.append(len(texts))
        if len(self.calls) == 1:
            assert self.gate.wait(30)
        if self.fail:
            raise BackendError("model down")
        return self.inner.embed(texts)


def _run_concurrently(batching: BatchingEmbedder, model: GatedModel, texts: list[list[str]]):
    with ThreadPoolExecutor(CALLERS) as pool:
        futures = [pool.submit(batching.embed, texts[0])]
        while not model.calls:  # the first caller is inside the model
            time.sleep(0.01)
        futures += [pool.submit(batching.embed, t) for t in texts[1:]]
        while len(batching._queue) < len(texts) - 1:  # the others are waiting
            time.sleep(0.01)
        model.gate.set()
        return [f.exception() or f.result() for f in futures]


def test_waiting_callers_share_one_model_call_and_get_their_own_vectors() -> None:
    local = make_embedder("local")
    model = GatedModel(local)
    texts = [[f"caller {i} ran {i} km"] + ([f"and swam {i} laps"] if i % 2 else [])
             for i in range(CALLERS)]  # fmt: skip
    results = _run_concurrently(BatchingEmbedder(model), model, texts)
    assert model.calls == [1, sum(len(t) for t in texts[1:])]
    for own, got in zip(texts, results):
        assert got.shape == (len(own), local.dims)
        np.testing.assert_allclose(got, local.embed(own), atol=1e-5)


def test_a_model_failure_reaches_every_caller_of_that_call() -> None:
    model = GatedModel(make_embedder("local"), fail=True)
    results = _run_concurrently(BatchingEmbedder(model), model, [["a"], ["b"], ["c"]])
    assert all(isinstance(r, BackendError) for r in results)
    with pytest.raises(BackendError):
        BatchingEmbedder(model).embed(["after"])
