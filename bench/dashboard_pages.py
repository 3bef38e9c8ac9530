"""The dashboard's reads at 100,000 memories, on SQLite (and PostgreSQL with --postgres).

Synthetic memories (100 users, 8 categories, a year of creation times, 384-d unit vectors)
are written once; then each read is timed (median of --repeat runs, ms):
  keyset page    50 rows after a cursor (engram.stores.review.page) at the start, the
                 middle and the end of the table: what the memories table does
  offset page    the same 50 rows by LIMIT/OFFSET (Query + store.query), the variant the
                 table does not use: it grows with the depth
  count          the "N memories" total of the table
  per day / per category / similar pairs   the quality page's reads
PostgreSQL's table is analyzed after loading, as autovacuum would do.

    PYTHONPATH=. .venv/bin/python bench/dashboard_pages.py [--memories 100000] [--postgres] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from engram.filters import parse
from engram.models import MemoryRecord, iso
from engram.stores.base import Query, Store, WriteBatch

NOW = "2027-01-01T00:00:00.000000+00:00"
PAGE = 50
CATEGORIES = ["goals", "constraints", "preferences", "health", "schedule", "gear", "diet", "misc"]


def load(store: Store, total: int, seed: int = 7) -> float:
    """Write `total` memories in batches of 1,000; returns seconds."""
    rng, vectors = random.Random(seed), np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    began = time.perf_counter()
    for first in range(0, total, 1000):
        batch = WriteBatch()
        block = vectors.standard_normal((min(1000, total - first), 384)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        for i, vector in enumerate(block):
            n = first + i
            created = iso(start + timedelta(seconds=rng.randrange(365 * 86400))) or ""
            record = MemoryRecord(
                id=f"m{n:07d}", memory=f"memory number {n} about {rng.choice(CATEGORIES)}",
                user_id=f"user{n % 100}", categories=[rng.choice(CATEGORIES)],
                created_at=created, updated_at=created, hash=str(n),
            )  # fmt: skip
            batch.upserts.append((record, vector))
        store.write(batch)
    return time.perf_counter() - began


def timed(fn: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - began) * 1000)
    return statistics.median(runs)


def cursor_at(store: Store, q: Query, depth: int) -> tuple[str, str] | None:
    """The keyset cursor `depth` rows in (found once, by offset, outside the timing)."""
    if depth == 0:
        return None
    rows = store.query(Query(q.project, q.where, q.now, limit=1, offset=depth - 1))
    record = rows[0][0]
    return record.created_at, record.id


def measure(store: Store, total: int, repeat: int) -> list[dict[str, Any]]:
    q = Query("default", None, NOW, limit=PAGE)
    scoped = Query("default", parse({"user_id": "user7"}), NOW, limit=PAGE)
    out = []
    for label, depth in (("start", 0), ("middle", total // 2), ("end", total - PAGE)):
        after = cursor_at(store, q, depth)
        out.append({"read": f"keyset page, {label}",
                    "ms": timed(lambda a=after: store.page(q, a), repeat)})  # fmt: skip
        offset = Query(q.project, None, NOW, limit=PAGE, offset=depth)
        out.append({"read": f"offset page, {label}",
                    "ms": timed(lambda o=offset: store.query(o), repeat)})  # fmt: skip
    out.append({"read": "keyset page, one user", "ms": timed(lambda: store.page(scoped), repeat)})
    out.append({"read": "count", "ms": timed(lambda: store.count(q), repeat)})
    out.append({"read": "per day (30 days)",
                "ms": timed(lambda: store.daily_counts(q, "2026-12-02"), repeat)})  # fmt: skip
    out.append({"read": "per category", "ms": timed(lambda: store.category_counts(q), repeat)})
    out.append({"read": "similar pairs (newest 1,000)",
                "ms": timed(lambda: store.similar_pairs(q, 0.6), max(1, repeat // 3))})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--postgres", action="store_true", help="also a local PostgreSQL")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"memories": args.memories, "backends": {}}
    with tempfile.TemporaryDirectory() as tmp:
        from engram.stores.sqlite import SQLiteStore

        stores: list[tuple[str, Callable[[], Store]]] = [
            ("sqlite", lambda: SQLiteStore(Path(tmp) / "bench.db"))]
        server = None
        if args.postgres:
            from engram.stores.postgres import PostgresStore
            from tests.support.postgres_server import session_server

            server = session_server()
            stores.append(("postgres", lambda: PostgresStore(server.create_database())))
        for name, make in stores:
            store = make()
            seconds = load(store, args.memories)
            if name == "postgres":  # as autovacuum would, before the first plan
                store._db.rows("ANALYZE engram_memories")
            results["backends"][name] = {"load_s": round(seconds, 1),
                                         "reads": measure(store, args.memories, args.repeat)}
            store.close()
        if server is not None:
            server.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    names = list(results["backends"])
    print(f"{args.memories:,} memories; median ms of {args.repeat} runs\n")
    print("| read | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    reads = [r["read"] for r in results["backends"][names[0]]["reads"]]
    for i, read in enumerate(reads):
        cells = [f"{results['backends'][n]['reads'][i]['ms']:.1f}" for n in names]
        print(f"| {read} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
