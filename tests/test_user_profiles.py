"""User profiles and summaries: built from a user's current memories, grouped by category
and attribute, following every change; offline they hold only memory texts, and an LLM's
statement that cites no memory it was shown is dropped. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engram import Memory
from engram.errors import InvalidInputError, NotFoundError
from tests.support.scripted_openai_server import ScriptedOpenAIServer


@pytest.fixture
def mem(backend: str, request: pytest.FixtureRequest, embedder, engram_home: Path
        ) -> Iterator[Memory]:  # fmt: skip
    config = {"database": request.getfixturevalue("postgres_url")} if backend == "postgres" else {}
    m = Memory(config, embedder=embedder)
    yield m
    m.close()


def texts(profile: dict) -> set[str]:
    return {e["memory"] for attrs in profile.values() for entries in attrs.values()
            for e in entries}  # fmt: skip


def test_profile_follows_the_memories(mem: Memory) -> None:
    mem.add("I live in Berlin. I am vegetarian. My right knee hurts on downhills.", user_id="max")
    first = mem.profiles.get("max")
    assert first["status"] == "succeeded" and first["entity_id"] == "max"
    stored = {r["memory"] for r in mem.get_all(user_id="max")["results"]}
    assert texts(first["profile"]) == stored  # nothing a memory does not hold
    slots = {slot for attrs in first["profile"].values() for slot in attrs}
    assert {"residence", "diet"} <= slots, first["profile"]
    changed = mem.add("I moved to Munich, I live in Munich now.", user_id="max")["results"]
    assert any("Munich" in t for t in texts(mem.profiles.get("max")["profile"])), changed
    for r in mem.get_all(user_id="max")["results"]:
        mem.delete(r["id"])
    assert mem.profiles.get("max")["status"] == "insufficient_data"
    with pytest.raises(NotFoundError):
        mem.profiles.get("nobody")


def test_settings_schema_jobs_and_summary(mem: Memory) -> None:
    mem.add("I live in Berlin and I work as a nurse.", user_id="ann")
    mem.add("I like tea.", user_id="bob")
    schema = {"type": "object", "properties": {
        "home": {"type": "string", "description": "the city where the user lives"},
        "pets": {"type": "string", "description": "the user's pets and animals"}}}  # fmt: skip
    settings = mem.profiles.update_settings({"entities": {"user": {"schema": schema}}})
    assert settings["entities"]["user"]["schema"] == schema and settings["enabled"] is True
    answers = mem.profiles.get("ann")["profile"]["schema"]
    assert any("Berlin" in t for t in answers["home"]) and answers["pets"] is None
    with pytest.raises(InvalidInputError) as bad:
        mem.profiles.update_settings({"entities": {"user": {"schema": {"properties": {"x": {}}}}}})
    assert bad.value.field == "entities.user.schema"
    job = mem.profiles.create_job({"operation": "trigger", "entity_id": "ann"}, "key-1")
    again = mem.profiles.create_job({"operation": "trigger", "entity_id": "ann"}, "key-1")
    assert again["job_id"] == job["job_id"] and again["replayed"] is True
    assert mem.profiles.job(job["job_id"])["job"]["succeeded"] == 1
    sample = mem.profiles.create_job({"operation": "sample", "limit": 5}, None)
    assert sorted(sample["entity_ids"]) == ["ann", "bob"]
    mem.profiles.update_settings({"enabled": False})
    assert mem.profiles.get("ann")["status"] == "not_enabled"
    summary = mem.profiles.summary({"user_id": "ann"})
    assert "Berlin" in summary["summary"] and summary["memory_count"] >= 1


def test_llm_profile_cites_memories(embedder, engram_home: Path) -> None:
    with ScriptedOpenAIServer() as llm:
        m = Memory({"llm": llm.llm_config()}, embedder=embedder)
        try:
            llm.reply_json({"facts": [{"text": "Max lives in Berlin", "categories": []}]})
            added = m.add("I live in Berlin", user_id="max")["results"]
            mid = added[0]["id"]
            llm.reply_json({"statements": [
                {"category": "uncategorized", "attribute": "residence",
                 "statement": "Lives in Berlin", "memory_ids": [mid]},
                {"category": "uncategorized", "attribute": "residence",
                 "statement": "Owns a boat", "memory_ids": ["not-a-memory"]}]})  # fmt: skip
            profile = m.profiles.get("max")
            flat = [e for attrs in profile["profile"].values() for entries in attrs.values()
                    for e in entries]  # fmt: skip
            statements = [e["statement"] for e in flat if "statement" in e]
            assert statements == ["Lives in Berlin"], profile
            assert profile["generation_count"] == 1
            assert m.profiles.get("max")["generation_count"] == 1  # unchanged: not rewritten
        finally:
            m.close()
