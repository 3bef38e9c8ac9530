"""user_id, agent_id, run_id and app_id keep memories apart; projects too."""

from __future__ import annotations

import pytest

from engram import MissingScopeError
from engram.memory import Memory


@pytest.fixture
def scoped(memory: Memory) -> Memory:
    add = memory.add
    add("Boston plan: hills on Tuesdays", user_id="max", run_id="boston-2025", infer=False)
    add("NYC plan: bridges on Thursdays", user_id="max", run_id="nyc-2025", infer=False)
    add("Direct, data-driven feedback", agent_id="ray", infer=False)
    add("Encouraging, playful tone", agent_id="jordan", infer=False)
    add("Max prefers trail running", user_id="max", infer=False)
    add("Anna prefers road running", user_id="anna", infer=False)
    add("Uses metric units", app_id="coach-app", infer=False)
    return memory


def texts(result: dict) -> set[str]:
    return {r["memory"] for r in result["results"]}


def test_run_ids_never_leak(scoped: Memory) -> None:
    boston = scoped.search("training plan", user_id="max", run_id="boston-2025")
    assert texts(boston) == {"Boston plan: hills on Tuesdays"}
    nyc = scoped.get_all(user_id="max", run_id="nyc-2025")
    assert texts(nyc) == {"NYC plan: bridges on Thursdays"}


def test_agent_persona_is_separate_from_user(scoped: Memory) -> None:
    assert texts(scoped.search("coaching style", agent_id="ray")) == {
        "Direct, data-driven feedback"
    }
    assert "Direct, data-driven feedback" not in texts(scoped.get_all(user_id="max"))
    assert texts(scoped.get_all(agent_id="jordan")) == {"Encouraging, playful tone"}


def test_users_are_isolated(scoped: Memory) -> None:
    assert "Anna prefers road running" not in texts(scoped.search("running", user_id="max"))
    assert texts(scoped.get_all(user_id="anna")) == {"Anna prefers road running"}
    assert texts(scoped.get_all(app_id="coach-app")) == {"Uses metric units"}


def test_delete_all_touches_only_its_scope(scoped: Memory) -> None:
    assert scoped.delete_all(user_id="max", run_id="boston-2025")["deleted"] == 1
    assert texts(scoped.get_all(user_id="max")) == {
        "NYC plan: bridges on Thursdays",
        "Max prefers trail running",
    }
    assert scoped.get_all(agent_id="ray")["count"] == 1


@pytest.mark.parametrize("call", ["search", "get_all", "delete_all", "add"])
def test_calls_without_scope_are_refused(scoped: Memory, call: str) -> None:
    args = {"search": ("running",), "add": ("I like tea",)}.get(call, ())
    with pytest.raises(MissingScopeError, match="user_id, agent_id, run_id, app_id"):
        getattr(scoped, call)(*args)
    with pytest.raises(MissingScopeError):
        getattr(scoped, call)(*args, filters={"metadata.x": 1}) if call != "add" else (
            scoped.add("I like tea", metadata={"x": 1})
        )
    assert scoped.get_all(user_id="max")["count"] == 3


def test_projects_do_not_see_each_other(scoped: Memory) -> None:
    other = scoped.for_project("other")
    assert other.get_all(user_id="max")["count"] == 0
    other.add("Max likes tea", user_id="max", infer=False)
    assert texts(scoped.get_all(filters={"memory": {"contains": "tea"}, "user_id": "max"})) == set()
    mid = scoped.get_all(user_id="max")["results"][0]["id"]
    with pytest.raises(KeyError):
        other.get(mid)


def test_user_facts_reconcile_across_agents(memory: Memory) -> None:
    first = memory.add("I want to run a marathon in under 4 hours", user_id="max",
                       agent_id="ray")["results"][0]  # fmt: skip
    again = memory.add("I want to run a marathon in under 4 hours", user_id="max",
                       agent_id="jordan")["results"]  # fmt: skip
    assert [(r["event"], r["id"]) for r in again] == [("NONE", first["id"])]
    assert memory.search("marathon goal", user_id="max", agent_id="jordan")["results"] == []
    assert memory.get_all(user_id="max")["count"] == 1
