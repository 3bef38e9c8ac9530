"""How many requests a worker process runs at once.

Every route is a plain function that FastAPI runs on anyio's thread pool (40 threads). When
a request's work is all computation in the worker (the bundled embedder, SQLite, no LLM),
more threads than the worker's cores only take turns on the GIL and the caches: measured
with `bench/serve.py --workers 2 --clients 8` (search, 2,000 memories), 40 threads gave
154-165 searches/s at p95 83-89 ms, 2 threads 176-179 at 92-97 ms, one thread 178-199 at
52-55 ms. Where requests wait on the network (an LLM, a remote embedder, PostgreSQL), many at
once keep the worker busy, and the pool stays as anyio sizes it. A long request (deleting a
user's 100,000 memories) then holds its worker's thread: ENGRAM_REQUEST_THREADS overrides.
"""

from __future__ import annotations

import os
from typing import Any

from engram.config import env_count
from engram.embeddings.base import OfflineEmbedder
from engram.stores.sqlite import SQLiteStore

ENV = "ENGRAM_REQUEST_THREADS"
#: Set by `engram serve` for its workers: the cores each one has (cores / workers).
WORKER_CORES_ENV = "ENGRAM_WORKER_CORES"
#: anyio's own default, for requests that mostly wait.
WAITING_REQUEST_THREADS = 40


def request_threads(memory: Any) -> int:
    """ENGRAM_REQUEST_THREADS if set; else the worker's cores when `memory` computes
    everything in this process; else WAITING_REQUEST_THREADS."""
    explicit = env_count(ENV)
    if explicit is not None:
        return explicit
    if all_local(memory):
        return env_count(WORKER_CORES_ENV) or os.cpu_count() or 1
    return WAITING_REQUEST_THREADS


def all_local(memory: Any) -> bool:
    """No LLM, a bundled offline embedder, and a SQLite file: nothing a request waits on."""
    engine = memory._engine
    return (engine.llm is None and isinstance(_innermost(engine.embedder), OfflineEmbedder)
            and isinstance(_innermost(engine.store), SQLiteStore))  # fmt: skip


def _innermost(wrapped: Any) -> Any:
    """What the wrappers wrap: the embedder's cache and batching, the server's observed store."""
    while hasattr(wrapped, "inner"):
        wrapped = wrapped.inner
    return wrapped

