"""Full-text (`Query.keywords`) latency of both stores, as memories pile up.

Synthetic memories of 12 words drawn from a 5,000-word vocabulary, split among 100 users;
queries of 4 random words (p50/p95 of 50 queries, limit 100), over the whole project and
scoped to one user. The "common" variant starts every memory and every query with the same
word (as a single user's name starts most of their memories), the worst case: every memory
matches, so every one is ranked. PostgreSQL tables are analyzed after loading, as
autovacuum would do. Without --url a throw-away local PostgreSQL is started.

    PYTHONPATH=. .venv/bin/python bench/keyword_latency.py [--sizes 1000 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from engram.filters import parse
from engram.lexical import terms
from engram.models import MemoryRecord
from engram.stores.base import Query, Store, WriteBatch
from engram.stores.postgres import PostgresStore
from engram.stores.sqlite import SQLiteStore
from tests.support.postgres_server import PostgresServer, session_server

NOW = "2026-01-01T00:00:00.000000+00:00"
VOCABULARY = [f"w{i}" for i in range(5000)]


def load(store: Store, total: int, common: str, rng: random.Random) -> float:
    """Write `total` memories; returns ms per memory."""
    started = time.perf_counter()
    for start in range(0, total, 500):
        batch = WriteBatch()
        for i in range(start, min(start + 500, total)):
            words = " ".join(rng.choice(VOCABULARY) for _ in range(12))
            batch.upserts.append((MemoryRecord(
                id=f"m{i}", memory=f"{common} {words}".strip(), user_id=f"u{i % 100}",
                created_at=NOW, updated_at=NOW), None))  # fmt: skip
        store.write(batch)
    return (time.perf_counter() - started) * 1000 / total


def latency(store: Store, scope: dict[str, str] | None, common: str, rng: random.Random
            ) -> tuple[float, float]:  # fmt: skip
    samples = []
    for _ in range(50):
        words = tuple(terms(f"{common} " + " ".join(rng.choice(VOCABULARY) for _ in range(3))))
        q = Query("default", parse(scope) if scope else None, NOW, limit=100, keywords=words)
        started = time.perf_counter()
        store.query(q)
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=20)
    return statistics.median(samples), cuts[18]


def measure(store: Store, total: int, common: str) -> dict[str, Any]:
    rng = random.Random(7)
    write_ms = load(store, total, common, rng)
    if isinstance(store, PostgresStore):
        store._rows("ANALYZE engram_memories")
    project = latency(store, None, common, rng)
    user = latency(store, {"user_id": "u7"}, common, rng)
    return {"write_ms": write_ms, "project_p50": project[0], "project_p95": project[1],
            "user_p50": user[0], "user_p95": user[1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--url", help="an existing server (needs CREATEDB); default: local")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    server = PostgresServer.external(args.url) if args.url else session_server()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for total in args.sizes:
                for variant, common in (("random words", ""), ("common word", "max")):
                    for backend in ("sqlite", "postgres"):
                        store: Store = (
                            SQLiteStore(Path(tmp) / f"{total}{variant}.db") if backend == "sqlite"
                            else PostgresStore(server.create_database("engram_bench"))
                        )  # fmt: skip
                        rows.append({"memories": total, "queries": variant, "backend": backend,
                                     **measure(store, total, common)})  # fmt: skip
                        store.close()
    finally:
        server.stop()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| memories | queries | backend | ms/write | project p50 | p95 | one user p50 | p95 |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['memories']:,} | {r['queries']} | {r['backend']} | {r['write_ms']:.3f} | "
              f"{r['project_p50']:.2f} | {r['project_p95']:.2f} | {r['user_p50']:.2f} | "
              f"{r['user_p95']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
