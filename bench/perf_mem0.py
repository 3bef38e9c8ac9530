"""bench/perf.py's mem0ai side; runs in the venv perf.py makes (.cache/bench-mem0ai).

mem0ai's open-source `Memory` with its default vector store (Qdrant, local mode, kept in
--dir so the measuring process opens what the build wrote) and the same MiniLM int8 ONNX
embedder Engram uses (Engram's own LocalEmbedder, imported from this checkout). infer=False
throughout, so no LLM is called; the LLM and embedder configs only satisfy its constructor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.perf_data import (
    CATEGORY_FILTER,
    SOURCE_FILTER,
    fresh_sentences,
    memories,
    metadata_of,
    peak_rss_mb,
    queries,
    timings,
    user_of,
)

ADD_BATCH = 100
CHUNK = 1000


class MiniLM:
    """mem0's embedder interface over Engram's int8 ONNX MiniLM; times each call."""

    def __init__(self) -> None:
        from engram.embeddings.onnx_minilm import LocalEmbedder

        self.inner = LocalEmbedder()
        self.spent = 0.0

    def embed(self, text: Any, memory_action: str | None = None) -> list[float]:
        started = time.perf_counter()
        try:
            return self.inner.embed([str(text)])[0].tolist()
        finally:
            self.spent += time.perf_counter() - started


def open_memory(where: Path) -> tuple[Any, MiniLM]:
    from mem0 import Memory

    memory = Memory.from_config({
        "vector_store": {"provider": "qdrant", "config": {
            "path": str(where / "qdrant"), "collection_name": "perf", "embedding_model_dims": 384,
            "on_disk": True}},
        "embedder": {"provider": "openai", "config": {"api_key": "unused", "embedding_dims": 384}},
        "llm": {"provider": "openai", "config": {"api_key": "unused"}},
        "history_db_path": str(where / "history.db"),
    })  # fmt: skip
    embedder = MiniLM()
    memory.embedding_model = embedder
    return memory, embedder


def build(where: Path, n: int, users: int, vectors: str) -> dict[str, Any]:
    """The same rows mem0's add(infer=False) writes (payload fields as its _create_memory
    sets them), inserted through its vector store with the precomputed vectors."""
    import numpy as np

    where.mkdir(parents=True, exist_ok=True)
    memory, _ = open_memory(where)
    data, vecs = memories(n), np.load(vectors, mmap_mode="r")
    now = datetime.now(UTC).isoformat()
    started = time.perf_counter()
    for start in range(0, n, CHUNK):
        ids, payloads, rows = [], [], []
        for i in range(start, min(n, start + CHUNK)):
            text, category = data[i]
            ids.append(str(uuid.uuid4()))
            payloads.append({**metadata_of(i), "category": category, "role": "user",
                             "user_id": user_of(i, users), "data": text,
                             "hash": hashlib.md5(text.encode()).hexdigest(), "created_at": now,
                             "updated_at": now, "text_lemmatized": text})  # fmt: skip
            rows.append(np.array(vecs[i]).tolist())
        memory.vector_store.insert(vectors=rows, ids=ids, payloads=payloads)
    seconds = time.perf_counter() - started
    return {"build_s": round(seconds, 1)}


def measure(where: Path, n: int, users: int, searches: int) -> dict[str, Any]:
    memory, timer = open_memory(where)
    asked = queries(2 * searches + 3)
    for q in asked[:3]:
        memory.search(q, filters={"user_id": user_of(0, users)}, top_k=10)
    plain, filtered, embed, store = [], [], [], []
    for i, q in enumerate(asked[3:]):
        filters: dict[str, Any] = {"user_id": user_of(i, users)}
        if i % 2:
            filters.update(category=CATEGORY_FILTER, source=SOURCE_FILTER)
        timer.spent = 0.0
        started = time.perf_counter()
        memory.search(q, filters=filters, top_k=10)
        total = 1000 * (time.perf_counter() - started)
        (filtered if i % 2 else plain).append(total)
        if not i % 2:
            embed.append(1000 * timer.spent)
            store.append(total - 1000 * timer.spent)
    out: dict[str, Any] = {"search": timings(plain), "filtered": timings(filtered),
                           "embed_p50": timings(embed)["p50"],
                           "store_p50": timings(store)["p50"]}  # fmt: skip
    pages = []
    for i in range(20):
        started = time.perf_counter()
        memory.get_all(filters={"user_id": user_of(i, users)}, top_k=100)
        pages.append(1000 * (time.perf_counter() - started))
    out["get_all_p50"] = timings(pages)["p50"]
    count = min(50, searches)
    fresh = list(fresh_sentences(count + ADD_BATCH))
    started = time.perf_counter()
    for i, text in enumerate(fresh[:count]):
        memory.add(text, user_id=user_of(i, users), metadata=metadata_of(i), infer=False)
    out["add_one_per_s"] = round(count / (time.perf_counter() - started), 1)
    messages = [{"role": "user", "content": t} for t in fresh[count:]]
    started = time.perf_counter()
    memory.add(messages, user_id=user_of(0, users), metadata=metadata_of(0), infer=False)
    out["add_batch_per_s"] = round(len(messages) / (time.perf_counter() - started), 1)
    out["rss_mb"] = peak_rss_mb()
    out["db_mb"] = round(sum(f.stat().st_size for f in where.rglob("*") if f.is_file()
                             and "home" not in f.parts) / 2**20, 1)  # fmt: skip
    return out


def main() -> None:
    logging.disable(logging.WARNING)  # its notices ("first run", scale hints) on every call
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["build", "measure"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--searches", type=int, required=True)
    parser.add_argument("--vectors")
    args = parser.parse_args()
    where = Path(args.dir)
    if args.phase == "build":
        out = build(where, args.n, args.users, args.vectors)
    else:
        out = measure(where, args.n, args.users, args.searches)
    sys.stdout.flush()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
