"""Soak: a live server under a steady mixed load for minutes; throughput, latency, errors
(must be 0) and the server's memory (RSS) over time, to catch leaks and slow failures.

Each of --clients clients loops over one operation at a time, drawn at random:
  search 40%   POST /v2/memories/search/  (user scope, limit 10)
  add    30%   POST /v1/memories/  infer=False (sync)
  infer   5%   POST /v1/memories/  infer=True, a two-message turn (offline extractor)
  update 15%   PUT /v1/memories/{id}/  one of this client's memories, new text
  delete 10%   DELETE /v1/memories/{id}/  one of this client's memories
Any answer but a 200 is an error. RSS is the server process's VmRSS, sampled every
--sample-seconds.

    .venv/bin/python bench/soak.py                     # starts its own server (temp home)
    .venv/bin/python bench/soak.py --seconds 30 --json soak.json
    .venv/bin/python bench/soak.py --url http://127.0.0.1:8765 --api-key eng_... --pid 1234
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.perf_data import memories, percentile, queries, user_of  # noqa: E402

MIX = (("search", 40), ("add", 30), ("infer", 5), ("update", 15), ("delete", 10))
USERS = 20
SEED_MEMORIES = 500
SENTENCES = 20_000  # distinct texts for adds and updates, shared by the clients
QUESTIONS = 1_000  # perf_data's question templates hold a little over a thousand


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op, _ in MIX})
    errors: list[str] = field(default_factory=list)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds in, MB)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Client:
    """One client: its own memories (to update and delete), one request at a time."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        n: int,
        tally: Tally,
        sentences: Iterator[str],
        questions: list[str],
    ) -> None:
        self.http, self.n, self.tally = http, n, tally
        self.sentences, self.questions = sentences, questions
        self.rng = random.Random(n)
        self.user = user_of(n, USERS)
        self.mine: list[str] = []

    async def loop(self, until: float) -> None:
        ops, weights = zip(*MIX, strict=True)
        while time.perf_counter() < until:
            op = self.rng.choices(ops, weights)[0]
            if op in ("update", "delete") and not self.mine:
                op = "add"
            started = time.perf_counter()
            try:
                response = await self._request(op)
                ok = response.status_code == 200
                detail = f"{op}: {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, detail = False, f"{op}: {type(exc).__name__} {exc}"
            self.tally.latencies[op].append(1000 * (time.perf_counter() - started))
            if not ok:
                self.tally.errors.append(detail)
            elif op in ("add", "infer"):
                self.mine += [r["id"] for r in response.json()["results"] if r["event"] == "ADD"]

    async def _request(self, op: str) -> httpx.Response:
        if op == "search":
            query = self.questions[self.rng.randrange(len(self.questions))]
            body = {"query": query, "user_id": self.user, "limit": 10}
            return await self.http.post("/v2/memories/search/", json=body)
        if op in ("add", "infer"):
            text = next(self.sentences)
            messages: Any = text
            if op == "infer":
                messages = [{"role": "assistant", "content": "How was training this week?"},
                            {"role": "user", "content": text}]  # fmt: skip
            body = {"messages": messages, "user_id": self.user, "infer": op == "infer",
                    "async_mode": False}  # fmt: skip
            return await self.http.post("/v1/memories/", json=body)
        if op == "update":
            memory_id = self.rng.choice(self.mine)
            return await self.http.put(f"/v1/memories/{memory_id}/",
                                       json={"text": next(self.sentences)})  # fmt: skip
        memory_id = self.mine.pop(self.rng.randrange(len(self.mine)))
        return await self.http.delete(f"/v1/memories/{memory_id}/")


async def _sample_rss(pid: int, every: float, until: float, tally: Tally) -> None:
    start = time.perf_counter()
    while True:
        tally.rss_mb.append((round(time.perf_counter() - start, 1), round(rss_mb(pid), 1)))
        if time.perf_counter() + every > until:
            return
        await asyncio.sleep(every)


async def _seed(http: httpx.AsyncClient) -> None:
    """SEED_MEMORIES memories over the users, so searches have something to rank."""
    texts = [t for t, _ in memories(SEED_MEMORIES, seed=41)]
    for k in range(0, len(texts), 100):
        response = await http.post("/v1/memories/", json={
            "messages": [{"role": "user", "content": t} for t in texts[k:k + 100]],
            "user_id": user_of(k // 100, USERS), "infer": False, "async_mode": False})  # fmt: skip
        response.raise_for_status()


async def soak(
    url: str, key: str, pid: int, *, clients: int, seconds: float, sample_seconds: float
) -> dict[str, Any]:
    """Drive the server at `url` (process `pid`) and return the figures."""
    tally = Tally()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Token {key}"}, timeout=120,
        limits=httpx.Limits(max_connections=clients, max_keepalive_connections=clients),
    ) as http:  # fmt: skip
        await _seed(http)
        sentences = itertools.cycle(t for t, _ in memories(SENTENCES, seed=99))
        questions = queries(QUESTIONS, seed=23)
        warm = Client(http, clients, Tally(), sentences, questions)
        await warm.loop(time.perf_counter() + 2)  # load the models before the clock starts
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            _sample_rss(pid, sample_seconds, until, tally),
            *(Client(http, n, tally, sentences, questions).loop(until) for n in range(clients)),
        )
        elapsed = time.perf_counter() - started
    return summarize(tally, elapsed, clients)


def summarize(tally: Tally, elapsed: float, clients: int) -> dict[str, Any]:
    every = [ms for samples in tally.latencies.values() for ms in samples]

    def row(samples: list[float]) -> dict[str, Any]:
        if not samples:
            return {"requests": 0, "per_s": 0.0, "p50": None, "p95": None, "p99": None}
        return {"requests": len(samples), "per_s": round(len(samples) / elapsed, 1),
                **{f"p{q}": round(percentile(samples, q), 1) for q in (50, 95, 99)}}  # fmt: skip

    rss = [mb for _, mb in tally.rss_mb]
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "errors": len(tally.errors),
        "first_errors": tally.errors[:5],
        "all": row(every),
        "operations": {op: row(samples) for op, samples in tally.latencies.items()},
        "rss_mb": tally.rss_mb,
        "rss_start_mb": rss[0] if rss else None,
        "rss_peak_mb": max(rss) if rss else None,
        "rss_end_mb": rss[-1] if rss else None,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = ["| operation | requests | req/s | p50 ms | p95 ms | p99 ms |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    rows = [("all", result["all"]), *result["operations"].items()]
    for op, r in rows:
        lines.append(f"| {op} | {r['requests']} | {r['per_s']} | {r['p50']} | {r['p95']} | "
                     f"{r['p99']} |")  # fmt: skip
    lines += ["", f"errors: {result['errors']}",
              f"RSS MB: start {result['rss_start_mb']}, peak {result['rss_peak_mb']}, "
              f"end {result['rss_end_mb']}",
              "RSS over time (s: MB): " + ", ".join(f"{t:.0f}: {mb:.0f}"
                                                     for t, mb in result["rss_mb"])]  # fmt: skip
    return "\n".join(lines)


def with_own_server(run: Callable[[str, str, int], dict[str, Any]]) -> dict[str, Any]:
    """Start a server in a temporary ENGRAM_HOME, run, stop it."""
    from tests.support.server_process import ServerProcess

    with (
        tempfile.TemporaryDirectory(prefix="engram-soak-") as tmp,
        ServerProcess(Path(tmp)) as server,
    ):
        return run(server.url, server.api_key, server.server_pid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--api-key", default=os.environ.get("ENGRAM_API_KEY"))
    parser.add_argument("--pid", type=int, help="the running server's process, for RSS")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--sample-seconds", type=float, default=5)
    parser.add_argument("--json", help="also write the result as JSON here")
    args = parser.parse_args()

    def run(url: str, key: str, pid: int) -> dict[str, Any]:
        return asyncio.run(soak(url, key, pid, clients=args.clients, seconds=args.seconds,
                                sample_seconds=args.sample_seconds))  # fmt: skip

    if args.url:
        if not (args.api_key and args.pid):
            parser.error("--api-key and --pid are needed to drive a running server")
        result = run(args.url, args.api_key, args.pid)
    else:
        result = with_own_server(run)
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.clients} "
          f"clients, {result['seconds']:.0f} s, {SEED_MEMORIES} memories seeded\n")  # fmt: skip
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if result["errors"]:
        print("\nfirst errors:\n" + "\n".join(result["first_errors"]))
        sys.exit(1)


if __name__ == "__main__":
    main()
