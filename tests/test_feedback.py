"""Feedback on a memory (Mem0's `feedback` call): stored per memory on both backends, shown
back, and used: a VERY_NEGATIVE memory is no longer returned by search. Through the
library, over HTTP with Engram's client, and with the official mem0ai 2.x client."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram import Memory
from engram.client import MemoryClient
from engram.embeddings import Embedder
from engram.errors import InvalidInputError, MemoryNotFoundError
from engram.server.auth import create_key
from tests.support.server_process import ServerProcess
from tests.test_mem0ai_client_compat import mem0ai_venvs  # noqa: F401  (a session fixture)

KNEE = "Max's right knee hurts on downhill runs"
ANKLE = "Max rolled his left ankle on a trail run"


@pytest.fixture
def memory(backend: str, embedder: Embedder, request: pytest.FixtureRequest) -> Iterator[Memory]:
    config = {"database": request.getfixturevalue("postgres_url")} if backend == "postgres" else {}
    m = Memory(config, embedder=embedder)
    yield m
    m.close()


def _ids(out: dict) -> list[str]:
    return [r["id"] for r in out["results"]]


def test_very_negative_hides_a_memory_from_search(memory: Memory) -> None:
    added = memory.add([{"role": "user", "content": KNEE}, {"role": "user", "content": ANKLE}],
                       user_id="max", infer=False)["results"]  # fmt: skip
    knee, ankle = (a["id"] for a in added)
    assert set(_ids(memory.search("leg injuries", user_id="max", threshold=0.0))) == {knee, ankle}

    answer = memory.feedback(knee, "very_negative", feedback_reason="not Max, his brother")
    assert answer == {"id": knee, "feedback": "VERY_NEGATIVE",
                      "feedback_reason": "not Max, his brother", "message": "Feedback recorded"}
    assert _ids(memory.search("leg injuries", user_id="max", threshold=0.0)) == [ankle]
    assert _ids(memory.search("knee downhill", user_id="max", threshold=0.0)) == [ankle]
    assert memory.get(knee)["memory"] == KNEE  # still there, still listed
    assert knee in _ids(memory.get_all(user_id="max"))

    memory.feedback(knee, "NEGATIVE", "too vague")  # bad, but not wrong: searchable again
    assert knee in _ids(memory.search("leg injuries", user_id="max", threshold=0.0))
    assert memory.store.feedback(memory.project_id, [knee]) == {knee: ("NEGATIVE", "too vague")}
    memory.feedback(knee, None)
    assert memory.store.feedback(memory.project_id, [knee]) == {}


def test_bad_feedback_is_refused(memory: Memory) -> None:
    knee = memory.add(KNEE, user_id="max", infer=False)["results"][0]["id"]
    with pytest.raises(InvalidInputError) as bad:
        memory.feedback(knee, "MEH")
    assert bad.value.field == "feedback"
    with pytest.raises(MemoryNotFoundError):
        memory.feedback("no-such-memory", "POSITIVE")
    with pytest.raises(MemoryNotFoundError):  # another project's memory is not found
        memory.for_project("elsewhere").feedback(knee, "VERY_NEGATIVE")
    assert memory.store.feedback(memory.project_id, [knee]) == {}


@pytest.fixture
def server(engram_home: Path) -> Iterator[ServerProcess]:
    with ServerProcess(engram_home) as proc:
        yield proc


def test_feedback_over_http(server: ServerProcess, engram_home: Path) -> None:
    client = MemoryClient(api_key=server.api_key, host=server.url)
    added = client.add([{"role": "user", "content": KNEE}, {"role": "user", "content": ANKLE}],
                       user_id="max", infer=False)["results"]  # fmt: skip
    knee, ankle = (a["id"] for a in added)
    answer = client.feedback(knee, "VERY_NEGATIVE", feedback_reason="wrong person")
    assert answer["feedback"] == "VERY_NEGATIVE" and answer["id"] == knee
    found = client.search("leg injuries", user_id="max", threshold=0.0)["results"]
    assert [r["id"] for r in found] == [ankle]

    raw = httpx.Client(base_url=server.url, timeout=30,
                       headers={"Authorization": f"Token {server.api_key}"})  # fmt: skip
    bad = raw.post("/v1/feedback/", json={"memory_id": knee, "feedback": "MEH"})
    assert bad.status_code == 400 and bad.json()["field"] == "feedback"
    missing = raw.post("/v1/feedback/", json={"feedback": "POSITIVE"})
    assert missing.status_code == 422 and missing.json()["field"] == "memory_id"
    other = create_key("rival", path=engram_home / "server.db")
    foreign = httpx.post(f"{server.url}/v1/feedback/", headers={"Authorization": f"Token {other}"},
                         json={"memory_id": ankle, "feedback": "VERY_NEGATIVE"})  # fmt: skip
    assert foreign.status_code == 404
    assert [r["id"] for r in client.search("leg injuries", user_id="max",
                                           threshold=0.0)["results"]] == [ankle]  # fmt: skip


OFFICIAL = textwrap.dedent(
    """
    import sys
    from mem0 import MemoryClient
    client = MemoryClient(api_key=sys.argv[1], host=sys.argv[2])
    memory_id = sys.argv[3]
    answer = client.feedback(memory_id, feedback="VERY_NEGATIVE", feedback_reason="wrong")
    assert answer["feedback"] == "VERY_NEGATIVE", answer
    found = client.search("knee pain", filters={"user_id": "max"}, threshold=0.0)
    found = found["results"] if isinstance(found, dict) else found
    assert all(r["id"] != memory_id for r in found), found
    print("ok")
    """
)


def test_official_client_feedback(
    server: ServerProcess,
    mem0ai_venvs: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    driver = tmp_path / "feedback_driver.py"
    driver.write_text(OFFICIAL)
    ours = MemoryClient(api_key=server.api_key, host=server.url)
    knee = ours.add(KNEE, user_id="max", infer=False)["results"][0]["id"]
    python = mem0ai_venvs / "mem0ai-2x" / "bin" / "python"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "MEM0_TELEMETRY": "False", "MEM0_DIR": str(tmp_path / ".mem0")}  # fmt: skip
    done = subprocess.run([str(python), str(driver), server.api_key, server.url, knee],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


def test_feedback_from_the_command_line() -> None:
    import json

    from typer.testing import CliRunner

    from engram.cli import app

    runner = CliRunner()

    def run_json(*args: str) -> dict:
        done = runner.invoke(app, [*args, "--json"])
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    knee = run_json("add", KNEE, "--user", "max", "--no-infer")["results"][0]["id"]
    judged = run_json("feedback", knee, "VERY_NEGATIVE", "--reason", "not Max")
    assert judged["feedback"] == "VERY_NEGATIVE" and judged["feedback_reason"] == "not Max"
    assert run_json("search", "knee", "--user", "max", "--threshold", "0")["results"] == []
    assert run_json("feedback", knee)["feedback"] is None
    assert run_json("search", "knee", "--user", "max", "--threshold", "0")["results"]
    refused = runner.invoke(app, ["feedback", knee, "MEH"])
    assert refused.exit_code == 1 and "feedback must be one of" in refused.output
