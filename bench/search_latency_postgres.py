"""Search latency of the PostgreSQL + pgvector store next to SQLite, as memories pile up.

Same synthetic data and timings as bench/search_latency.py (store top-10 with a user filter
and a vector; the same plus a metadata and a categories condition), on both backends.
Without --url it starts a throw-away local PostgreSQL (tests/support/postgres_server.py).

    PYTHONPATH=. .venv/bin/python bench/search_latency_postgres.py [--sizes 1000] [--users 1 100]
    PYTHONPATH=. .venv/bin/python bench/search_latency_postgres.py --url postgresql://user@host/db
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.search_latency import DIMS, build, timed
from engram import filters as F
from engram.models import iso, utcnow
from engram.stores.base import Query, Store
from engram.stores.postgres import PostgresStore
from engram.stores.sqlite import SQLiteStore
from tests.support.postgres_server import PostgresServer, session_server


def measure(store: Store, total: int, users: int) -> tuple[str, str]:
    rng = np.random.default_rng(7)
    build(store, total, users, rng)  # type: ignore[arg-type]  # any Store will do
    query = rng.standard_normal(DIMS).astype(np.float32)
    query /= np.linalg.norm(query)
    now = iso(utcnow()) or ""
    user = F.scope_filter(user_id="user0")
    narrowed = F.conjoin(user, F.parse({"metadata.kind": {"in": ["k1", "k2"]},
                                        "categories": {"in": ["goals"]}}))  # fmt: skip
    plain = timed(lambda: store.query(Query("default", user, now, query, 10)))
    filtered = timed(lambda: store.query(Query("default", narrowed, now, query, 10)))
    return f"{plain:.2f}", f"{filtered:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--url", help="an existing server (needs CREATEDB); default: local")
    args = parser.parse_args()
    server = PostgresServer.external(args.url) if args.url else session_server()
    table = Table(title="top-10 search latency, median ms (exact scan on both backends)")
    for column in ("memories", "users", "sqlite", "sqlite filtered", "pg", "pg filtered"):
        table.add_column(column, justify="right")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for total in args.sizes:
                for users in args.users:
                    sqlite = SQLiteStore(Path(tmp) / f"s{total}_{users}.db")
                    pg = PostgresStore(server.create_database("engram_bench"))
                    row = [f"{total:,}", str(users), *measure(sqlite, total, users),
                           *measure(pg, total, users)]  # fmt: skip
                    sqlite.close()
                    pg.close()
                    table.add_row(*row)
    finally:
        server.stop()
    Console().print(table)


if __name__ == "__main__":
    main()
