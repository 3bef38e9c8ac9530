"""The seed tutorial's story of Ray and Max, step by step, offline with no key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engram.demo import CUSTOM_CATEGORIES as CATEGORIES
from engram.demo import CUSTOM_INSTRUCTIONS as INSTRUCTIONS
from engram.memory import Memory
from tests.conftest import Clock

COACH_REPLY = "That's a solid goal. What's your current weekly mileage?"


@pytest.fixture
def ray(embedder, clock: Clock):
    m = Memory(embedder=embedder, clock=clock)
    m.project.update(custom_instructions=INSTRUCTIONS, custom_categories=CATEGORIES)
    yield m
    m.close()


def turn(m: Memory, text: str, **scope) -> list[dict]:
    messages = [{"role": "user", "content": text}, {"role": "assistant", "content": COACH_REPLY}]
    return m.add(messages, **(scope or {"user_id": "max"}))["results"]


def memories(m: Memory, **scope) -> dict[str, dict]:
    return {r["memory"]: r for r in m.get_all(**(scope or {"user_id": "max"}))["results"]}


def test_filler_stores_nothing(ray: Memory) -> None:
    for filler in ("hey how's it going", "hey lol ok", "cool thanks", "gtg bye",
                   "What should I focus on today?"):  # fmt: skip
        assert turn(ray, filler) == []
    assert ray.get_all(user_id="max")["count"] == 0


def test_facts_are_stored_in_third_person_and_tagged(ray: Memory) -> None:
    turn(ray, "I want to run a marathon in under 4 hours")
    turn(ray, "I prefer trail running over roads")
    turn(ray, "My right knee flares up on downhills")
    stored = memories(ray)
    assert set(stored) == {
        "Max wants to run a marathon in under 4 hours",
        "Max prefers trail running over roads",
        "Max's right knee flares up on downhills",
    }
    assert COACH_REPLY not in stored
    assert "constraints" in stored["Max's right knee flares up on downhills"]["categories"]
    assert "goals" in stored["Max wants to run a marathon in under 4 hours"]["categories"]


def test_constraints_search_returns_the_knee_not_the_goal(ray: Memory) -> None:
    turn(ray, "I want to run a marathon in under 4 hours")
    turn(ray, "My right knee flares up on downhills")
    found = ray.search(
        "injury concerns",
        filters={"AND": [{"user_id": "max"}, {"categories": {"in": ["constraints"]}}]},
        threshold=0.0,
    )["results"]
    assert [r["memory"] for r in found] == ["Max's right knee flares up on downhills"]


def test_goal_change_updates_the_same_memory(ray: Memory) -> None:
    first = turn(ray, "I want to run a marathon in under 4 hours")[0]
    changed = turn(ray, "Actually I now want to run a marathon in under 3:45")
    assert [(r["event"], r["id"]) for r in changed] == [("UPDATE", first["id"])]
    assert ray.get(first["id"])["memory"] == "Max now wants to run a marathon in under 3:45"
    history = ray.history(first["id"])
    assert [h["event"] for h in history] == ["ADD", "UPDATE"]
    assert history[1]["old_memory"] == "Max wants to run a marathon in under 4 hours"
    assert ray.get_all(user_id="max")["count"] == 1


def test_repeating_a_fact_adds_nothing(ray: Memory) -> None:
    first = turn(ray, "I prefer trail running over roads")[0]
    again = turn(ray, "I prefer trail running over roads")
    assert [(r["event"], r["id"]) for r in again] == [("NONE", first["id"])]
    assert ray.get_all(user_id="max")["count"] == 1


def test_negation_supersedes_and_keeps_a_link(ray: Memory) -> None:
    old = turn(ray, "I eat meat every day")[0]
    results = turn(ray, "I don't eat meat anymore")
    events = {r["event"]: r for r in results}
    assert set(events) == {"DELETE", "ADD"}
    assert events["DELETE"]["id"] == old["id"]
    assert events["DELETE"]["replaced_by"] == events["ADD"]["id"]
    assert set(memories(ray)) == {events["ADD"]["memory"]}
    superseded = ray.store.get("default", [old["id"]])[0]
    assert (superseded.state, superseded.replaced_by) == ("superseded", events["ADD"]["id"])
    assert [h["event"] for h in ray.history(old["id"])] == ["ADD", "DELETE"]


def test_agent_persona_is_agent_memory(ray: Memory) -> None:
    persona = "Max wants direct, data-driven feedback. Skip motivational language."
    ray.add([{"role": "system", "content": persona}], agent_id="ray_coach")
    assert set(memories(ray, agent_id="ray_coach")) == {
        "Max wants direct, data-driven feedback",
        "Skip motivational language",
    }
    assert ray.get_all(user_id="max")["count"] == 0


def test_metadata_is_set_by_hand_and_filterable(ray: Memory) -> None:
    ray.add([{"role": "user", "content": "10x400m intervals"}], user_id="max",
            metadata={"workout_type": "speed", "intensity": "high"})  # fmt: skip
    found = ray.get_all(filters={"AND": [{"user_id": "max"}, {"metadata.workout_type": "speed"}]})
    assert [r["metadata"] for r in found["results"]] == [
        {"workout_type": "speed", "intensity": "high"}
    ]


def test_ankle_memory_expires(ray: Memory, clock: Clock) -> None:
    expiry = (clock.now + timedelta(days=14)).strftime("%Y-%m-%d")
    ray.add([{"role": "user", "content": "Rolled my left ankle, needs rest"}], user_id="max",
            expiration_date=expiry)  # fmt: skip
    assert any("ankle" in t for t in memories(ray))
    clock.now += timedelta(days=15)
    assert not any("ankle" in r["memory"] for r in ray.search("ankle", user_id="max")["results"])


def test_both_category_forms_are_accepted(ray: Memory) -> None:
    ray.project.update(custom_categories=[
        {"name": "goals", "description": "Training targets"},
        {"name": "constraints", "description": "Injuries and limitations"},
    ])  # fmt: skip
    assert ray.project.get()["custom_categories"] == [
        {"goals": "Training targets"},
        {"constraints": "Injuries and limitations"},
    ]
    stored = turn(ray, "My right knee flares up on downhills")[0]
    assert ray.get(stored["id"])["categories"] == ["constraints"]
