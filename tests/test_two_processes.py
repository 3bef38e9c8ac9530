"""Memories live on disk: a second process finds what the first one stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WRITER = """
from engram import Memory
m = Memory()
m.add("Max wants to run a marathon in under 4 hours", user_id="max", infer=False)
m.add("My right knee flares up on downhills", user_id="max", infer=False,
      metadata={"kind": "injury"})
m.add("Boston plan: hills", user_id="max", run_id="boston-2025", infer=False)
m.add("Direct, data-driven feedback", agent_id="ray_coach", infer=False)
m.close()
"""

READER = """
import json
from engram import Memory
m = Memory()
out = {
    "search": [r["memory"] for r in m.search("knee pain", user_id="max", limit=1)["results"]],
    "filtered": [r["memory"] for r in m.get_all(
        filters={"AND": [{"user_id": "max"}, {"metadata.kind": "injury"}]})["results"]],
    "boston": [r["memory"] for r in m.get_all(user_id="max", run_id="boston-2025")["results"]],
    "agent": [r["memory"] for r in m.get_all(agent_id="ray_coach")["results"]],
    "max_total": m.get_all(user_id="max")["count"],
}
print(json.dumps(out))
"""


def run(code: str, home: Path) -> str:
    env = {**os.environ, "ENGRAM_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_second_process_reads_what_first_stored(engram_home: Path) -> None:
    run(WRITER, engram_home)
    assert (engram_home / "engram.db").exists()
    out = json.loads(run(READER, engram_home))
    assert out["search"] == ["My right knee flares up on downhills"]
    assert out["filtered"] == ["My right knee flares up on downhills"]
    assert out["boston"] == ["Boston plan: hills"]
    assert out["agent"] == ["Direct, data-driven feedback"]
    assert out["max_total"] == 3
