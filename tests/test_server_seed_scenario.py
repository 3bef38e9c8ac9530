"""The seed tutorial through engram.MemoryClient against a real server subprocess,
then a hard kill and restart on the same ENGRAM_HOME: every memory must still be there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engram.client import MemoryClient, NotFoundError
from tests.support.server_process import ServerProcess

CATEGORIES_PAIRS = [
    {"constraints": "Injuries, allergies, diet rules and other limits on what Max can do"},
    {"name": "gear", "description": "Running shoes, watches and equipment"},
]


@pytest.fixture
def server(engram_home: Path) -> Iterator[ServerProcess]:
    with ServerProcess(engram_home) as proc:
        yield proc


def _client(server: ServerProcess) -> MemoryClient:
    return MemoryClient(api_key=server.api_key, host=server.url, timeout=60)


def test_seed_scenario_survives_restart(server: ServerProcess) -> None:
    client = _client(server)
    settings = client.project.update(
        custom_instructions="Remember training facts and constraints about the runner.",
        custom_categories=CATEGORIES_PAIRS,
    )
    names = [next(iter(c)) for c in settings["custom_categories"]]
    assert names == ["constraints", "gear"]
    assert client.project.get()["custom_instructions"].startswith("Remember training")

    facts = client.add(
        [
            {"role": "user", "content": "I'm Max. I have a knee injury, so no downhill running."},
            {"role": "assistant", "content": "Noted, I will avoid downhill sessions."},
        ],
        user_id="max",
    )
    assert facts["results"], facts
    assert all(r["event"] == "ADD" for r in facts["results"])
    assert client.add("Thanks, sounds good!", user_id="max")["results"] == []

    hits = client.search(
        "what should the training plan avoid?",
        filters={"AND": [{"user_id": "max"}, {"categories": {"in": ["constraints"]}}]},
    )["results"]
    assert hits and all("constraints" in h["categories"] for h in hits)
    assert any("knee" in h["memory"] for h in hits)

    agent = client.add(
        "You are a concise, encouraging running coach.", agent_id="coach", infer=False
    )["results"]
    assert agent and client.get_all(agent_id="coach")["count"] == 1

    client.add(
        "Today I want an easy 5k recovery run.", user_id="max", run_id="session-1", infer=False
    )
    in_run = client.get_all(filters={"AND": [{"user_id": "max"}, {"run_id": "session-1"}]})
    in_other = client.get_all(filters={"AND": [{"user_id": "max"}, {"run_id": "session-2"}]})
    assert in_run["count"] == 1 and in_other["count"] == 0

    expired = client.add(
        "Temporary: the track is closed.", user_id="max", infer=False, expiration_date="2000-01-01"
    )["results"]
    lasting = client.add(
        "Race day is in October.", user_id="max", infer=False, expiration_date="2999-01-01"
    )["results"]
    with pytest.raises(NotFoundError):
        client.get(expired[0]["id"])
    assert client.get(lasting[0]["id"])["expiration_date"].startswith("2999-01-01")

    knee_id = next(h["id"] for h in hits if "knee" in h["memory"])
    client.update(knee_id, text="Max's knee injury has healed; downhill is fine again.")
    assert "healed" in client.get(knee_id)["memory"]
    events = [h["event"] for h in client.history(knee_id)]
    assert events[:2] == ["ADD", "UPDATE"]

    client.delete(lasting[0]["id"])
    with pytest.raises(NotFoundError):
        client.get(lasting[0]["id"])

    before = client.get_all(user_id="max")
    before_agent = client.get_all(agent_id="coach")
    assert before["count"] >= 2

    server.restart(kill=True)  # a crash, not a clean shutdown
    client = _client(server)
    after = client.get_all(user_id="max")
    assert sorted(m["id"] for m in after["results"]) == sorted(m["id"] for m in before["results"])
    assert client.get_all(agent_id="coach")["results"] == before_agent["results"]
    assert client.project.get()["custom_instructions"].startswith("Remember training")
    assert [h["event"] for h in client.history(knee_id)][:2] == ["ADD", "UPDATE"]

    deleted = client.delete_all(user_id="max")
    assert deleted["deleted"] >= before["count"]  # expired rows are purged too
    assert client.get_all(user_id="max")["count"] == 0
    assert client.get_all(agent_id="coach")["count"] == 1  # another scope is untouched
