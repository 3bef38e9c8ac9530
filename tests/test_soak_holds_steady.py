"""A short soak (bench/soak.py, 8 clients, 25 s of mixed search/add/update/delete against a
live server): not one error, and the server's memory levels off instead of growing with the
requests it has served. No timing is asserted (CI machines differ); bench/soak.py reports it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.soak import soak
from tests.support.server_process import ServerProcess

SECONDS = 25
# The server's RSS after the model warm-up may still rise a little as caches and SQLite's
# page cache fill (+6 MB in 20 s measured); a leak grows with every request.
MAX_GROWTH_MB = 80
MAX_SECOND_HALF_GROWTH_MB = 40


def test_soak_holds_steady(engram_home: Path) -> None:
    with ServerProcess(engram_home) as server:
        load = soak(
            server.url, server.api_key, server.server_pid, clients=8, seconds=SECONDS,
            sample_seconds=1,
        )  # fmt: skip
        result = asyncio.run(load)
    figures = {k: result[k] for k in ("errors", "all", "rss_start_mb", "rss_peak_mb")}
    print(f"\nsoak {SECONDS} s: {figures}")
    assert result["errors"] == 0, result["first_errors"]
    assert all(r["requests"] for r in result["operations"].values()), result["operations"]
    rss = [mb for _, mb in result["rss_mb"]]
    assert len(rss) >= SECONDS // 2, rss  # the sampler kept running
    assert result["rss_peak_mb"] - result["rss_start_mb"] <= MAX_GROWTH_MB, rss
    half = rss[len(rss) // 2 :]
    assert max(half) - half[0] <= MAX_SECOND_HALF_GROWTH_MB, rss
