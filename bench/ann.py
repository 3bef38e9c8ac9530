"""Approximate nearest neighbours for one big scope, against the exact scan Engram does today.

One user holds all N memories (the worst case for an exact scan). For each variant, 100
queries (MiniLM vectors of bench/perf_data.py questions) ask for the top 100 (search's
vector pool) with the user filter alone and with a category filter too (about 1 in 6
memories); recall@10 is measured against the exact top 10 under the same filter.

  sqlite exact        today's query: vec_distance_cosine over the scope's rows
  sqlite vec0 float   a vec0 table (partition key user, metadata column category): still
                      exact, vectors stored contiguously
  sqlite vec0 bit     binary-quantized vectors in vec0, top 10x by Hamming, rescored exactly
  engram sqlite|postgres exact / index S/M
                      Engram's own SQLiteStore or PostgresStore (its schema, triggers and
                      filter SQL; the whole store.query, rows read as records): the exact
                      scan, and its binary index (engram.stores.vector_index): the Hamming
                      top S ordered by the query's dot product with their int8 vectors, the first
                      M scored exactly in SQL with the filter (S = M: Hamming alone). These
                      variants run interleaved, query by query; "tie-aware" counts a hit when
                      the result scores at least the exact 10th (near-ties of the templated
                      sentences)
  pg exact            the exact scan PostgreSQL does for a small scope (no index)
  pg hnsw m=M efc=C ef=E
                      pgvector HNSW graphs (m, ef_construction) on the vector cast to 384
                      dims, read with iterative scans (relaxed order, so a filter still yields
                      the top k), ef_search E, the planner told to use the index (no seq scan,
                      no sort, in the transaction only), the pool sorted by exact distance

"tie-aware" never differed from recall@10 for the HNSW graphs: their misses are graph misses,
not near-ties. Each graph's build time and the cost of inserting 1,000 more memories
into it (one statement a row, as adds do) are printed below the table.

    .venv/bin/python bench/ann.py [--n 20000] [--no-sqlite] [--graphs 16:64 32:200]
                                  [--ef 100 800] [--json out.json]
    .venv/bin/python bench/ann.py --only-engram --no-sqlite --engram-postgres
                                  (Engram's PostgresStore alone: its exact scan and index)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.perf import vectors_file  # noqa: E402
from bench.perf_data import CATEGORY_FILTER, memories, percentile, queries  # noqa: E402

POOL, K = 100, 10


def truth(vecs: np.ndarray, q: np.ndarray, mask: np.ndarray | None) -> tuple[set[int], Any]:
    """The exact top K's ids, and a test of whether an id scores within 1e-6 of the Kth."""
    scores = vecs @ q
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argsort(-scores)[:K]
    kth = scores[top[-1]] - 1e-6
    return set(top.tolist()), lambda i: scores[i] >= kth


def timed(fn: Any, qs: np.ndarray, wanted: list[tuple[set[int], Any]]) -> dict[str, float]:
    fn(qs[0])
    lat, hits, tie_hits = [], 0, 0
    for q, (want, near_tie) in zip(qs, wanted):
        started = time.perf_counter()
        got = fn(q)
        lat.append(1000 * (time.perf_counter() - started))
        hits += len(set(got[:K]) & want)
        tie_hits += sum(1 for i in got[:K] if near_tie(i))
    return {"p50": round(percentile(lat, 50), 2), "p95": round(percentile(lat, 95), 2),
            "recall@10": round(hits / (K * len(qs)), 4),
            "tie-aware": round(tie_hits / (K * len(qs)), 4)}  # fmt: skip


def sqlite_variants(vecs: np.ndarray, cats: list[str], tmp: Path) -> dict[str, Any]:
    import apsw
    import sqlite_vec

    db = apsw.Connection(str(tmp / "ann.db"))
    db.enable_load_extension(True)
    db.load_extension(sqlite_vec.loadable_path())
    db.execute("CREATE TABLE m (seq INTEGER PRIMARY KEY, user_id TEXT, category TEXT, "
               "padding TEXT, embedding BLOB)")  # fmt: skip
    db.execute("CREATE INDEX m_user ON m (user_id)")
    db.execute("CREATE VIRTUAL TABLE vf USING vec0(user_id text partition key, category text, "
               "embedding float[384] distance_metric=cosine)")  # fmt: skip
    db.execute("CREATE VIRTUAL TABLE vb USING vec0(user_id text partition key, category text, "
               "embedding bit[384])")  # fmt: skip
    pad = "x" * 600  # a memory row's other columns (text, sources, index text)
    with db:
        for i, (v, c) in enumerate(zip(vecs, cats)):
            blob = v.astype(np.float32).tobytes()
            db.execute("INSERT INTO m VALUES (?, 'u', ?, ?, ?)", (i + 1, c, pad, blob))
            db.execute("INSERT INTO vf (rowid, user_id, category, embedding) "
                       "VALUES (?, 'u', ?, ?)", (i + 1, c, blob))  # fmt: skip
            db.execute("INSERT INTO vb (rowid, user_id, category, embedding) "
                       "VALUES (?, 'u', ?, vec_quantize_binary(?))", (i + 1, c, blob))  # fmt: skip

    def exact(cat: str | None):
        extra = " AND category = ?" if cat else ""

        def run(q: np.ndarray) -> list[int]:
            rows = db.execute(
                "SELECT seq FROM m WHERE user_id = 'u'" + extra +
                " ORDER BY vec_distance_cosine(embedding, ?) LIMIT ?",
                ((cat,) if cat else ()) + (q.tobytes(), POOL))  # fmt: skip
            return [r[0] - 1 for r in rows]
        return run

    def vec0(table: str, cat: str | None, rescore: int = 0):
        extra = " AND category = ?" if cat else ""
        match = "vec_quantize_binary(?)" if table == "vb" else "?"

        def run(q: np.ndarray) -> list[int]:
            k = rescore or POOL
            rows = db.execute(
                f"SELECT rowid FROM {table} WHERE embedding MATCH {match} AND k = ? "
                "AND user_id = 'u'" + extra, (q.tobytes(), k) + ((cat,) if cat else ()))
            ids = [r[0] for r in rows]
            if not rescore:
                return [i - 1 for i in ids]
            marks = ",".join("?" * len(ids))
            rows = db.execute(
                f"SELECT seq FROM m WHERE seq IN ({marks}) "
                "ORDER BY vec_distance_cosine(embedding, ?) LIMIT ?", (*ids, q.tobytes(), POOL))
            return [r[0] - 1 for r in rows]
        return run

    return {"sqlite exact": exact, "sqlite vec0 float": lambda c: vec0("vf", c),
            "sqlite vec0 bit, rescore 10x": lambda c: vec0("vb", c, 10 * POOL)}  # fmt: skip


# (shortlist by Hamming distance, candidates scored exactly): engram.stores.vector_index
INDEX_SETTINGS = ((1000, 120), (2000, 120), (2000, 200), (4000, 120))


def engram_store_rows(store: Any, vecs: np.ndarray, cats: list[str], texts: list[str],
                      qs: np.ndarray) -> list[dict[str, Any]]:  # fmt: skip
    """Engram's store (SQLiteStore or PostgresStore), exact against its index at a few
    settings, interleaved."""
    from engram import filters as F
    from engram.models import MemoryRecord
    from engram.stores import vector_index
    from engram.stores.base import Query, WriteBatch

    engine = "postgres" if store._db.postgres else "sqlite"
    for start in range(0, len(vecs), 2000):
        batch = WriteBatch()
        for i in range(start, min(len(vecs), start + 2000)):
            at = f"2025-01-01T00:00:00.{i:06d}+00:00"
            record = MemoryRecord(id=f"m{i:06d}", memory=texts[i], project="p", user_id="u",
                                  categories=[cats[i]], created_at=at, updated_at=at)
            batch.upserts.append((record, vecs[i]))
        store.write(batch)
    defaults = (vector_index.MIN_ROWS, vector_index.SHORTLIST, vector_index.FIRST_CANDIDATES)
    variants = {f"engram {engine} exact": (10**9, 0, 0)} | {
        f"engram {engine} index {s}/{m}": (defaults[0], s, m) for s, m in INDEX_SETTINGS}
    rows = []
    for cat in (None, CATEGORY_FILTER):
        where = F.scope_filter(user_id="u")
        if cat:
            where = F.conjoin(where, F.Condition("categories", "in", [cat]))
        mask = np.array([c == cat for c in cats]) if cat else None
        rss_before = rss_mb()
        started = time.perf_counter()
        store.query(Query("p", where, "2030", qs[0], limit=POOL))  # loads the scope
        load_ms = 1000 * (time.perf_counter() - started)
        lat: dict[str, list[float]] = {name: [] for name in variants}
        hits = dict.fromkeys(variants, 0)
        tied = dict.fromkeys(variants, 0)
        names = list(variants)
        for n, q in enumerate(qs):
            exact = vecs @ q
            if mask is not None:
                exact = np.where(mask, exact, -np.inf)
            want = np.argsort(-exact)[:K]
            tenth = exact[want[-1]]
            # each variant in turn goes first: the rows a search reads stay in SQLite's page
            # cache, and would favour whichever variant runs next
            for name in names[n % len(names):] + names[: n % len(names)]:
                least, shortlist, first = variants[name]
                vector_index.MIN_ROWS = least
                vector_index.SHORTLIST, vector_index.FIRST_CANDIDATES = shortlist, first
                # the index remembers its last shortlist per query: each variant ranks afresh
                # (before, every variant of a query got the first one's candidates)
                store._index._recent = None
                started = time.perf_counter()
                got = store.query(Query("p", where, "2030", q, limit=POOL))
                lat[name].append(1000 * (time.perf_counter() - started))
                top = [int(r.id[1:]) for r, _ in got[:K]]
                hits[name] += len(set(top) & set(want.tolist()))
                tied[name] += int(sum(exact[i] >= tenth - 1e-6 for i in top))
        vector_index.MIN_ROWS, vector_index.SHORTLIST, vector_index.FIRST_CANDIDATES = defaults
        for name in variants:
            rows.append({"variant": name, "filter": "user + category" if cat else "user",
                         "p50": round(percentile(lat[name], 50), 2),
                         "p95": round(percentile(lat[name], 95), 2),
                         "recall@10": round(hits[name] / (K * len(qs)), 4),
                         "tie-aware": round(tied[name] / (K * len(qs)), 4)})  # fmt: skip
            print(rows[-1], flush=True)
        if cat is None:
            print(f"  first search (loads the scope's codes): {load_ms:.0f} ms; RSS "
                  f"{rss_before} MB before it, {rss_mb()} MB after the searches",
                  flush=True)  # fmt: skip
    index = store._index
    size = sum(c.seqs.nbytes + c.signs.nbytes + c.values.nbytes + c.scales.nbytes
               for c in index._scopes.values())  # fmt: skip
    print(f"  index arrays: {size / 1e6:.1f} MB for {len(vecs):,} memories", flush=True)
    store.close()
    return rows


def rss_mb() -> float:
    """The resident set now (the peak would still hold building the store)."""
    status = Path("/proc/self/status").read_text()
    return round(int(status.split("VmRSS:")[1].split()[0]) / 1024, 1)


def pg_variants(vecs: np.ndarray, cats: list[str], url: str, graphs: list[tuple[int, int]],
                ef_search: list[int]) -> dict[str, Any]:  # fmt: skip
    import psycopg
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    conn.execute("SET maintenance_work_mem = '256MB'")  # as the migration sets it
    late = min(1000, len(vecs) // 10)  # inserted one by one into a built graph, timed
    rows = [(i, c, "x" * 600, v) for i, (v, c) in enumerate(zip(vecs, cats))]
    out: dict[str, Any] = {"_pg_build": []}
    for m, efc in [(0, 0), *graphs]:
        table = f"m_{m}_{efc}"
        conn.execute(f"CREATE TABLE {table} (seq int PRIMARY KEY, user_id text, "
                     "category text, padding text, embedding vector)")  # fmt: skip
        conn.execute(f"CREATE INDEX {table}_user ON {table} (user_id)")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, 'u', %s, %s, %s)", rows[:-late])
        started = time.perf_counter()
        if m:
            conn.execute(f"CREATE INDEX {table}_hnsw ON {table} USING hnsw "
                         f"((embedding::vector(384)) vector_cosine_ops) "
                         f"WITH (m = {m}, ef_construction = {efc})")  # fmt: skip
        built = time.perf_counter()
        for row in rows[-late:]:
            conn.execute(f"INSERT INTO {table} VALUES (%s, 'u', %s, %s, %s)", row)
        inserted = time.perf_counter()
        conn.execute(f"ANALYZE {table}")
        out["_pg_build"].append({"graph": f"m={m} efc={efc}" if m else "no index",
                                 "build s": round(built - started, 1),
                                 "insert ms/row": round(1000 * (inserted - built) / late, 2)})
        if not m:
            out["pg exact"] = _pg_exact(conn, table)
            continue
        for ef in ef_search:
            out[f"pg hnsw m={m} efc={efc} ef={ef}"] = _pg_hnsw(conn, table, ef)
    return out


def _pg_exact(conn: Any, table: str) -> Any:
    def variant(cat: str | None):
        extra = " AND category = %s" if cat else ""

        def run(q: np.ndarray) -> list[int]:
            rows = conn.execute(
                f"SELECT seq FROM {table} WHERE user_id = 'u'" + extra +
                " ORDER BY embedding <=> %s LIMIT %s", ((cat,) if cat else ()) + (q, POOL))
            return [r[0] for r in rows]
        return run
    return variant


def _pg_hnsw(conn: Any, table: str, ef: int) -> Any:
    settings = (
        "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
        f"set_config('hnsw.ef_search', '{ef}', true), "
        "set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true), "
        "set_config('enable_bitmapscan', 'off', true)"
    )

    def variant(cat: str | None):
        extra = " AND category = %s" if cat else ""

        def run(q: np.ndarray) -> list[int]:
            with conn.transaction():
                conn.execute(settings)
                rows = conn.execute(
                    f"SELECT seq, embedding <=> %s FROM {table} WHERE user_id = 'u'" + extra +
                    " ORDER BY embedding::vector(384) <=> CAST(%s AS vector(384)) LIMIT %s",
                    (q, *((cat,) if cat else ()), q, POOL)).fetchall()  # fmt: skip
            return [seq for seq, _ in sorted(rows, key=lambda r: (r[1], r[0]))]
        return run
    return variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--only-engram", action="store_true",
                        help="only Engram's SQLiteStore, exact against its index")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL rows only")
    parser.add_argument("--engram-postgres", action="store_true",
                        help="also Engram's PostgresStore, exact against its index")
    parser.add_argument("--graphs", nargs="*", default=["16:64", "16:200", "32:200"],
                        help="HNSW graphs to build on PostgreSQL, as m:ef_construction")
    parser.add_argument("--ef", type=int, nargs="*", default=[100, 200, 400, 800],
                        help="hnsw.ef_search values to query each graph with")
    parser.add_argument("--json")
    args = parser.parse_args()
    vecs = np.load(vectors_file(args.n))[: args.n].astype(np.float32)
    pairs = memories(args.n)
    cats = [c for _, c in pairs]
    from engram.embeddings import make_embedder

    qs = make_embedder("local").embed(queries(args.queries, seed=5))
    mask = np.array([c == CATEGORY_FILTER for c in cats])
    wanted = {None: [truth(vecs, q, None) for q in qs],
              CATEGORY_FILTER: [truth(vecs, q, mask) for q in qs]}  # fmt: skip
    rows = []
    texts = [t for t, _ in pairs]
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            from engram.stores.sqlite import SQLiteStore

            rows += engram_store_rows(SQLiteStore(Path(tmp) / "engram.db"), vecs, cats, texts, qs)
        if args.only_engram:
            args.no_postgres = True
        variants = {} if args.only_engram or args.no_sqlite else sqlite_variants(
            vecs, cats, Path(tmp))
        server = None
        if not args.no_postgres or args.engram_postgres:
            from tests.support.postgres_server import session_server

            server = session_server()
        try:
            if args.engram_postgres:
                from engram.stores.postgres import PostgresStore

                store = PostgresStore(server.create_database("engram"))
                rows += engram_store_rows(store, vecs, cats, texts, qs)
            if not args.no_postgres:
                graphs = [tuple(int(x) for x in g.split(":")) for g in args.graphs]
                variants.update(pg_variants(vecs, cats, server.create_database("ann"), graphs,
                                            args.ef))
            for name, make in variants.items():
                if name.startswith("_"):
                    continue
                for cat in (None, CATEGORY_FILTER):
                    r = timed(make(cat), qs, wanted[cat])
                    rows.append({"variant": name, "filter": "user + category" if cat else
                                 "user", **r})  # fmt: skip
                    print(rows[-1], flush=True)
        finally:
            if server:
                server.stop()
    print(f"\nN = {args.n:,} memories of one user, top {POOL}, recall@10 vs the exact scan\n")
    print("| variant | filter | p50 ms | p95 ms | recall@10 | tie-aware |\n"
          "|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['filter']} | {r['p50']} | {r['p95']} | {r['recall@10']} "
              f"| {r.get('tie-aware', '–')} |")
    builds = variants.get("_pg_build", [])
    if builds:
        print("\n| PostgreSQL graph | build s | insert ms/row |\n|---|---|---|")
        for b in builds:
            print(f"| {b['graph']} | {b['build s']} | {b['insert ms/row']} |")
        rows.append({"pg builds": builds})
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
