"""Load on a running Engram server over loopback: bounded concurrent clients, one operation
at a time, reporting requests/s and latency percentiles (ms) per operation.

Operations (each runs alone for --seconds, with --clients requests in flight at most):
  search        POST /v2/memories/search/  (user scope, limit 10)
  add raw       POST /v1/memories/  infer=False, one message
  add infer     POST /v1/memories/  infer=True, a two-message turn (offline extractor)
  get_all       POST /v2/memories/  one page of 100 of a user's memories
  ping          GET /v1/ping/  a key checked and a route run: the server's own cost
Before them it seeds --seed-memories memories over --users users (batched raw adds), so the
searches run against a store of that size.

    engram serve --port 8765 &                              # a server to drive
    .venv/bin/python bench/serve.py --url http://127.0.0.1:8765 --api-key eng_...
    .venv/bin/python bench/serve.py --start --workers 1 2   # starts its own (temp home),
                                                            # one run per worker count
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.perf_data import fresh_sentences, memories, percentile, queries, user_of  # noqa: E402

OPERATIONS = ("search", "add raw", "add infer", "get_all", "ping")
SEED_BATCH = 100


class Reply:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code, self.body = status_code, body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.body[:300]!r}")


class KeptAliveClient:
    """HTTP/1.1 POSTs of JSON over at most `connections` kept-alive loopback connections.

    httpx spent ~2 ms of CPU a request (12.5 s of 6,000 requests, measured) on the two cores
    the server runs on; this client spends a tenth of that, so the table measures the server.
    """

    def __init__(self, url: str, key: str, connections: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = (
            f"Host: {parts.netloc}\r\nAuthorization: Token {key}\r\n"
            "Content-Type: application/json\r\nConnection: keep-alive\r\n"
        )
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.opened, self.connections = 0, connections

    async def _connection(self) -> tuple[bool, asyncio.StreamReader, asyncio.StreamWriter]:
        """(reused, reader, writer): an idle kept-alive connection, else a new one."""
        if self.idle.empty() and self.opened < self.connections:
            self.opened += 1
            return False, *await asyncio.open_connection(self.host, self.port)
        return True, *await self.idle.get()

    async def post(self, path: str, payload: Any) -> Reply:
        return await self.send("POST", path, json.dumps(payload).encode())

    async def send(self, method: str, path: str, body: bytes = b"") -> Reply:
        request = (f"{method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}"
                   "\r\n\r\n").encode() + body  # fmt: skip
        while True:
            reused, reader, writer = await self._connection()
            try:
                writer.write(request)
                status, headers = await _head(reader)
                if headers.get("transfer-encoding") == "chunked":
                    raise RuntimeError("chunked replies are not expected from these routes")
                reply = Reply(status, await reader.readexactly(int(headers["content-length"])))
            except BaseException as exc:
                writer.close()
                self.opened -= 1
                # the server may close a kept-alive connection while it sits idle (uvicorn
                # after 5 s): the request never reached it, so it goes again on a new one
                if reused and isinstance(exc, asyncio.IncompleteReadError) and not exc.partial:
                    continue
                raise
            self.idle.put_nowait((reader, writer))
            return reply

    async def aclose(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


class Load:
    def __init__(self, url: str, key: str, clients: int, users: int) -> None:
        self.client = KeptAliveClient(url, key, clients)
        self.clients, self.users = clients, users
        self.questions = queries(3000, seed=23)
        self.sentences = iter(fresh_sentences(50_000, seed=31))
        self.count = 0

    def request(self, op: str) -> Callable[[], Awaitable[Reply]]:
        def call() -> Awaitable[Reply]:
            self.count += 1
            user = user_of(self.count, self.users)
            if op == "search":
                q = self.questions[self.count % len(self.questions)]
                return self.client.post("/v2/memories/search/",
                                        {"query": q, "user_id": user, "limit": 10})  # fmt: skip
            if op == "ping":
                return self.client.send("GET", "/v1/ping/")
            if op == "get_all":
                return self.client.post("/v2/memories/?page=1&page_size=100",
                                        {"filters": {"user_id": user}})  # fmt: skip
            text = next(self.sentences)
            messages = [{"role": "user", "content": text}]
            if op == "add infer":
                messages = [{"role": "assistant", "content": "How was training this week?"},
                            {"role": "user", "content": text}]  # fmt: skip
            return self.client.post("/v1/memories/", {
                "messages": messages, "user_id": user, "infer": op == "add infer"})  # fmt: skip

        return call

    async def run(self, op: str, seconds: float) -> dict[str, Any]:
        call, latencies, errors = self.request(op), [], 0
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await call()
                    ok = response.status_code == 200
                except (OSError, asyncio.IncompleteReadError, ValueError, KeyError):
                    ok = False
                latencies.append(1000 * (time.perf_counter() - started))
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(self.clients)))
        elapsed = time.perf_counter() - started
        return {"op": op, "requests": len(latencies), "errors": errors,
                "per_s": round(len(latencies) / elapsed, 1),
                **{f"p{q}": round(percentile(latencies, q), 1) for q in (50, 95, 99)}}  # fmt: skip

    async def seed(self, n: int) -> None:
        """`n` memories over the users, raw adds of SEED_BATCH messages, clients at once."""
        data = [t for t, _ in memories(n, seed=41)]
        chunks = [(k, data[k:k + SEED_BATCH]) for k in range(0, n, SEED_BATCH)]
        sem = asyncio.Semaphore(self.clients)

        async def add(k: int, texts: list[str]) -> None:
            async with sem:
                response = await self.client.post("/v1/memories/", {
                    "messages": [{"role": "user", "content": t} for t in texts],
                    "user_id": user_of(k // SEED_BATCH, self.users), "infer": False})  # fmt: skip
                response.raise_for_status()

        await asyncio.gather(*(add(k, texts) for k, texts in chunks))


async def drive(url: str, key: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    load = Load(url, key, args.clients, args.users)
    try:
        if args.seed_memories:
            started = time.perf_counter()
            await load.seed(args.seed_memories)
            print(f"  seeded {args.seed_memories:,} memories in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        await load.run("search", 2)  # warm up every worker's model and caches
        return [await load.run(op, args.seconds) for op in args.operations]
    finally:
        await load.client.aclose()


def started_server(workers: int, home: Path, tree: Path | None) -> Any:
    from tests.support.server_process import ServerProcess

    env = {"ENGRAM_API_KEY": "eng_bench_serve_key_0123456789abcdef"}
    if tree is not None:  # --compare: the server runs the engram package of that tree
        env["PYTHONPATH"] = str(tree)
    return ServerProcess(home, env=env, workers=workers, cwd=tree).start()


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| server | operation | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['server']} | {r['op']} | {r['requests']} | {r['errors']} | "
                     f"{r['per_s']} | {r['p50']} | {r['p95']} | {r['p99']} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8765")
    parser.add_argument("--api-key", default=os.environ.get("ENGRAM_API_KEY"))
    parser.add_argument("--start", action="store_true",
                        help="start a server per --workers value in a temp ENGRAM_HOME")
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed-memories", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--operations", nargs="+", default=list(OPERATIONS), choices=OPERATIONS)
    parser.add_argument("--compare", metavar="GIT_REF",
                        help="with --start: also run the server of GIT_REF's engram package, "
                        "one after the other for each --workers value")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    if args.start:
        variants: list[tuple[str, Path | None]] = [("", None)]
        if args.compare:
            from bench.perf import exported_tree

            variants = [("this tree, ", None), (f"{args.compare}, ", exported_tree(args.compare))]
        for workers in args.workers:
            for name, tree in variants:
                with tempfile.TemporaryDirectory(prefix="engram-serve-") as tmp:
                    server = started_server(workers, Path(tmp), tree)
                    try:
                        out = asyncio.run(drive(server.url, server.api_key, args))
                    finally:
                        server.stop()
                rows += [{"server": f"{name}{workers} worker(s)", **r} for r in out]
    else:
        if not args.api_key:
            parser.error("--api-key (or ENGRAM_API_KEY) is needed to drive a running server")
        rows = [{"server": args.url, **r} for r in asyncio.run(drive(args.url, args.api_key, args))]
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{args.clients} clients, {args.seconds:.0f} s per operation, "
          f"{args.seed_memories:,} memories over {args.users} users\n")  # fmt: skip
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
