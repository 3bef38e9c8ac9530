"""The unmodified official mem0ai clients (1.x and 2.x) against a real Engram server.

Each client runs in its own venv made by scripts/setup_official_clients.sh (a session
fixture runs it; pip reaches PyPI). The driver below runs under that venv's python and
asserts there; if a venv cannot be created the test fails and says why: never skipped.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess

REPO = Path(__file__).resolve().parents[1]
VENVS = Path(os.environ.get("ENGRAM_MEM0AI_VENVS") or REPO / ".cache")

DRIVER = textwrap.dedent(
    """
    import sys, time
    from importlib.metadata import version
    from mem0 import MemoryClient

    major = int(version("mem0ai").split(".")[0])
    key, host = sys.argv[1], sys.argv[2]
    client = MemoryClient(api_key=key, host=host)  # pings /v1/ping/, learns org and project
    assert client.org_id == "default" and client.project_id == "default", client.org_id

    def wait(event_id):
        for _ in range(300):
            event = client.client.get(f"/v1/event/{event_id}/").json()
            if event["status"] in ("SUCCEEDED", "FAILED"):
                assert event["status"] == "SUCCEEDED", event
                return event["results"]
            time.sleep(0.1)
        raise AssertionError("event never finished")

    client.project.update(
        custom_instructions="Track running constraints.",
        custom_categories=[{"constraints": "injuries, allergies, limits"}],
    )
    assert client.project.get()["custom_instructions"] == "Track running constraints."

    text = "I'm Max. I have a knee injury so I avoid downhill running."
    if major == 1:
        added = client.add(text, user_id="max", async_mode=False)["results"]
        queued = client.add("I am allergic to peanuts.", user_id="max")  # async by default
        more = wait(queued["results"][0]["event_id"])
        search = client.search("injury", filters={"AND": [{"user_id": "max"}]})
        listed = client.get_all(filters={"user_id": "max"}, page=1, page_size=50)
    else:
        queued = client.add(text, filters={"user_id": "max"})
        assert queued["status"] == "PENDING", queued
        added = wait(queued["event_id"])
        more = wait(client.add("I am allergic to peanuts.", filters={"user_id": "max"})["event_id"])
        search = client.search("injury", filters={"AND": [{"user_id": "max"}]}, top_k=5)
        listed = client.get_all(filters={"user_id": "max"}, page=1, page_size=50)
    assert added and more, (added, more)
    assert any("knee" in r["memory"] for r in search["results"]), search
    assert search["results"][0]["user_id"] == "max"
    assert listed["count"] == len(listed["results"]) >= 2, listed

    memory_id = next(r["id"] for r in search["results"] if "knee" in r["memory"])
    client.update(memory_id, text="Max's knee has healed.")
    assert client.get(memory_id)["memory"] == "Max's knee has healed."
    assert [h["event"] for h in client.history(memory_id)][:2] == ["ADD", "UPDATE"]

    client.batch_update([{"memory_id": memory_id, "text": "Max's knee is fine."}])
    assert client.get(memory_id)["memory"] == "Max's knee is fine."
    users = client.users()["results"]
    assert {"type": "user", "name": "max"}.items() <= users[0].items(), users

    try:
        client.get("no-such-memory")
    except Exception as exc:
        assert "404" in repr(exc) or "not found" in str(exc).lower(), repr(exc)
    else:
        raise AssertionError("expected a not-found error")

    client.delete(memory_id)
    assert all(m["id"] != memory_id for m in client.get_all(filters={"user_id": "max"})["results"])
    if major == 1:
        client.add("I run every Tuesday.", user_id="bob", async_mode=False)
    else:
        wait(client.add("I run every Tuesday.", filters={"user_id": "bob"})["event_id"])
    client.delete_all(user_id="max")
    assert client.get_all(filters={"user_id": "max"})["results"] == []
    client.delete_users(user_id="bob")
    assert client.users()["results"] == []
    print("ok", version("mem0ai"))
    """
)


@pytest.fixture(scope="session")
def mem0ai_venvs() -> Path:
    script = REPO / "scripts" / "setup_official_clients.sh"
    done = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "ENGRAM_MEM0AI_VENVS": str(VENVS)},
    )
    if done.returncode != 0:
        pytest.fail(f"could not create the mem0ai venvs ({script}):\n{done.stderr[-4000:]}")
    return VENVS


@pytest.fixture
def server(engram_home: Path) -> Iterator[ServerProcess]:
    with ServerProcess(engram_home) as proc:
        yield proc


@pytest.mark.parametrize("flavour", ["mem0ai-1x", "mem0ai-2x"])
def test_official_client(
    flavour: str, mem0ai_venvs: Path, server: ServerProcess, tmp_path: Path
) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    python = mem0ai_venvs / flavour / "bin" / "python"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "MEM0_TELEMETRY": "False",
        "MEM0_DIR": str(tmp_path / ".mem0"),
    }
    done = subprocess.run(
        [str(python), str(driver), server.api_key, server.url],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, f"{flavour} driver failed:\n{done.stderr[-6000:]}\n{server.log()}"
    assert done.stdout.startswith("ok"), done.stdout
