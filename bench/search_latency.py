"""Search latency of the SQLite store as memories pile up.

Builds stores of synthetic memories (random unit vectors written straight through the store
interface, so building is fast), then times, side by side in one run:
  store top-10   Store.query with a user filter and a vector (the SQL alone)
  filtered       the same plus a metadata and a categories condition
  Memory.search  the whole call: embed the query, query a pool of 40, rerank

    .venv/bin/python bench/search_latency.py [--sizes 1000 10000 100000] [--users 1 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from engram import filters as F
from engram.embeddings import make_embedder
from engram.memory import Memory
from engram.models import MemoryRecord, iso, utcnow
from engram.stores.base import Query, WriteBatch
from engram.stores.sqlite import SQLiteStore

DIMS = 384
REPEATS = 30


def build(store: SQLiteStore, total: int, users: int, rng: np.random.Generator) -> None:
    now = iso(utcnow()) or ""
    for start in range(0, total, 5000):
        n = min(5000, total - start)
        vectors = rng.standard_normal((n, DIMS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        batch = WriteBatch()
        for i in range(n):
            record = MemoryRecord(
                id=str(uuid.uuid4()), memory=f"synthetic fact {start + i}",
                user_id=f"user{(start + i) % users}", metadata={"kind": f"k{i % 7}"},
                categories=["goals"] if i % 3 == 0 else ["health"], created_at=now,
                updated_at=now, hash="",
            )  # fmt: skip
            batch.upserts.append((record, vectors[i]))
        store.write(batch)


def timed(fn) -> float:
    fn()  # warm the page cache and statement cache
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return 1000 * statistics.median(samples)


def measure(total: int, users: int, embedder, home: Path) -> list[str]:
    rng = np.random.default_rng(7)
    path = home / f"s{total}_{users}.db"
    store = SQLiteStore(path)
    build(store, total, users, rng)
    query = rng.standard_normal(DIMS).astype(np.float32)
    query /= np.linalg.norm(query)
    now = iso(utcnow()) or ""
    user = F.scope_filter(user_id="user0")
    narrowed = F.conjoin(user, F.parse({"metadata.kind": {"in": ["k1", "k2"]},
                                        "categories": {"in": ["goals"]}}))  # fmt: skip
    memory = Memory({"database": str(path)}, store=store, embedder=embedder)
    row = [
        f"{total:,}",
        str(users),
        f"{total // users:,}",
        f"{timed(lambda: store.query(Query('default', user, now, query, 10))):.2f}",
        f"{timed(lambda: store.query(Query('default', narrowed, now, query, 10))):.2f}",
        f"{timed(lambda: memory.search('what are my goals', user_id='user0')):.2f}",
    ]
    memory.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 100])
    args = parser.parse_args()
    embedder = make_embedder("local")
    embedder.embed(["warm up"])
    table = Table(title=f"SQLite + sqlite-vec search latency (median of {REPEATS}, ms)")
    for col in ("memories", "users", "per user", "store top-10", "filtered", "Memory.search"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for total in args.sizes:
            for users in args.users:
                table.add_row(*measure(total, users, embedder, Path(tmp)))
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
