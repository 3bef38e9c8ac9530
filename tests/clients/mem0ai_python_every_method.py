"""Run under an official mem0ai venv (1.x or 2.x): every public method of MemoryClient,
AsyncMemoryClient and their `project`, against a live Engram. The methods are read from
the installed client, so one this script does not call is reported as untested.

Usage: python mem0ai_python_every_method.py API_KEY HOST  ->  JSON on stdout:
    {"version", "methods": [every public method], "results": {method: "ok" | "error ..."}}
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import time
import traceback
from importlib.metadata import version
from typing import Any

import httpx
from mem0 import AsyncMemoryClient, MemoryClient

KEY, HOST = sys.argv[1], sys.argv[2]
MAJOR = int(version("mem0ai").split(".")[0])
HTTP = httpx.Client(base_url=HOST, headers={"Authorization": f"Token {KEY}"}, timeout=60)


def public(cls: type) -> list[str]:
    names = (n for n, _ in inspect.getmembers(cls, inspect.isfunction))
    return sorted(n for n in names if not n.startswith("_"))


class Driven:
    """A client seen synchronously: the async client's coroutines run to completion, so one
    scenario drives both clients."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self._target, self._loop = target, loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name == "project":
            return Driven(attr, self._loop)
        if self._loop is None or not callable(attr):
            return attr
        loop = self._loop

        def run(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            return loop.run_until_complete(out) if inspect.isawaitable(out) else out

        return run


def wait(event_id: str) -> list[dict[str, Any]]:
    for _ in range(600):
        event = HTTP.get(f"/v1/event/{event_id}/").json()
        if event["status"] in ("SUCCEEDED", "FAILED"):
            assert event["status"] == "SUCCEEDED", event
            return event["results"]
        time.sleep(0.1)
    raise AssertionError(f"event {event_id} never finished")


def added(out: Any) -> list[dict[str, Any]]:
    """What an add did, whichever shape the version answers with."""
    if isinstance(out, dict) and "event_id" in out:
        return wait(out["event_id"])
    results = out["results"] if isinstance(out, dict) else out
    if results and "event_id" in results[0]:
        return wait(results[0]["event_id"])
    return results


def refused(call: Any, *words: str) -> None:
    try:
        call()
    except Exception as exc:  # the client's own error class, or httpx's (1.x AsyncProject)
        response = getattr(exc, "response", None)
        text = (str(exc) + (response.text if response is not None else "")).lower()
        assert all(w in text for w in words), repr(exc)
    else:
        raise AssertionError("expected a refusal")


def scenario(c: Driven, tag: str, available: set[str]) -> dict[str, Any]:
    """Each step names the public method it exercises; state flows from step to step."""
    u, other, third = f"max-{tag}", f"ann-{tag}", f"bob-{tag}"
    s: dict[str, Any] = {}

    def add() -> None:
        opts = {"async_mode": False} if MAJOR == 1 else {}
        turns = [{"role": "user", "content": t} for t in  # one memory a turn
                 ("I live in Berlin.", "I am vegetarian.", "I run every Tuesday.")]
        s["mine"] = added(c.add(turns, user_id=u, metadata={"source": "driver"}, **opts))
        assert s["mine"], s
        s["other"] = added(c.add("I like green tea.", user_id=other, **opts))
        s["third"] = added(c.add("I swim on Fridays.", user_id=third, **opts))
        s["id"] = next(r["id"] for r in s["mine"] if "Berlin" in r["memory"])
        s["spare"] = next(r["id"] for r in s["mine"] if r["id"] != s["id"])

    def search() -> None:
        kw = {"top_k": 5} if MAJOR == 2 else {"limit": 5}
        found = c.search("where does the user live", filters={"AND": [{"user_id": u}]}, **kw)
        assert any("Berlin" in r["memory"] for r in found["results"]), found

    def get_all() -> None:
        listed = c.get_all(filters={"user_id": u}, page=1, page_size=50)
        assert listed["count"] == len(listed["results"]) >= 2, listed

    def get() -> None:
        assert "Berlin" in c.get(s["id"])["memory"]

    def update() -> None:
        c.update(s["id"], text="Max lives in Munich")
        c.update(s["id"], timestamp=1683504000)
        if MAJOR == 2:
            c.update(s["id"], expiration_date="2099-01-01")
        got = c.get(s["id"])
        assert got["memory"] == "Max lives in Munich" and got["created_at"].startswith("2023-05-08")
        assert MAJOR == 1 or got["expiration_date"].startswith("2099-01-01"), got

    def history() -> None:
        entries = c.history(s["id"])
        assert [e["event"] for e in entries][:2] == ["ADD", "UPDATE"], entries
        assert entries[0]["input"] and "categories" in entries[0], entries[0]

    def batch_update() -> None:
        c.batch_update([{"memory_id": s["id"], "text": "Max lives in Hamburg"}])
        assert c.get(s["id"])["memory"] == "Max lives in Hamburg"

    def batch_delete() -> None:
        c.batch_delete([{"memory_id": s["spare"]}])
        assert all(r["id"] != s["spare"] for r in c.get_all(filters={"user_id": u})["results"])

    def users() -> None:
        names = {e["name"] for e in c.users()["results"]}
        assert {u, other, third} <= names, names

    def get_summary() -> None:
        summary = c.get_summary(filters={"user_id": u})
        assert "Hamburg" in summary["summary"], summary

    def update_profile_settings() -> None:
        schema = {"type": "object", "properties": {
            "home": {"type": "string", "description": "the city where the user lives"}}}
        out = c.update_profile_settings(enabled=True, schema=schema)
        assert out["entities"]["user"]["schema"] == schema, out

    def get_profile_settings() -> None:
        assert c.get_profile_settings()["enabled"] is True

    def get_profile() -> None:
        profile = c.get_profile(u)
        assert profile["status"] == "succeeded", profile
        assert any("Hamburg" in t for t in profile["profile"]["schema"]["home"]), profile

    def generate_profile() -> None:
        s["job"] = c.generate_profile(u)
        assert s["job"]["status_url"], s["job"]

    def get_profile_job() -> None:
        job = c.get_profile_job(s["job"]["status_url"])["job"]
        assert job["succeeded"] == 1, job
        assert c.get_profile_job(s["job"]["job_id"])["job"]["status"] == "succeeded"

    def sample_profiles() -> None:
        sample = c.sample_profiles(limit=2)
        assert len(sample["entity_ids"]) == 2, sample

    def get_project() -> None:
        got = c.get_project(fields=["custom_instructions"])
        assert got["custom_instructions"] == "Track running constraints.", got

    def update_project() -> None:
        c.update_project(custom_instructions="Track running constraints.")

    def project_update() -> None:
        c.project.update(custom_categories=[{"constraints": "injuries, allergies, limits"}])

    def project_get() -> None:
        names = [next(iter(x)) for x in c.project.get()["custom_categories"]]
        assert names == ["constraints"], names

    def project_admin(method: str) -> Any:
        args = {"create": ("another",), "add_member": ("a@b.c",),
                "update_member": ("a@b.c", "OWNER"), "remove_member": ("a@b.c",)}.get(method, ())
        return lambda: refused(lambda: getattr(c.project, method)(*args), "engram keys")

    def delete() -> None:
        c.delete(s["id"])
        refused(lambda: c.get(s["id"]), "not found")

    def delete_all() -> None:
        kw = {"filters": {"user_id": other}} if MAJOR == 2 else {"user_id": other}
        assert c.delete_all(**kw)
        assert c.get_all(filters={"user_id": other})["results"] == []

    def delete_users() -> None:
        c.delete_users(user_id=third)
        assert third not in {e["name"] for e in c.users()["results"]}

    def reset() -> None:
        added(c.add("I like rain.", user_id=other, **({"async_mode": False} if MAJOR == 1 else {})))
        c.reset()
        assert c.users()["results"] == []

    def chat() -> None:  # a stub in the client itself: no request is ever sent
        refused(c.chat, "not implemented")

    def webhooks() -> None:
        hook = c.create_webhook(url="http://127.0.0.1:9/hook", name="h", project_id="default",
                                event_types=["memory_add"])
        hooks = c.get_webhooks(project_id="default")
        assert hooks, hooks
        c.update_webhook(webhook_id=hook["webhook_id"], name="h2", event_types=["memory_add"])
        c.delete_webhook(webhook_id=hook["webhook_id"])

    def exports() -> None:
        schema = {"type": "object", "properties": {"memory": {"type": "string"}}}
        made = c.create_memory_export(schema=json.dumps(schema), filters={"user_id": u})
        assert made, made
        assert c.get_memory_export(filters={"user_id": u})

    def feedback() -> None:
        tea = s["other"][0]["id"]
        try:
            c.feedback(memory_id=tea, feedback="VERY_NEGATIVE", feedback_reason="not true")
        except TypeError as exc:  # 1.0.11's own telemetry call breaks after the request
            assert MAJOR == 1 and "capture_client_event" in str(exc), repr(exc)
        hits = c.search("green tea", filters={"AND": [{"user_id": other}]})["results"]
        assert all(h["id"] != tea for h in hits), hits  # VERY_NEGATIVE: no longer found

    steps = [
        ("update_project", update_project), ("get_project", get_project),
        ("project.update", project_update), ("project.get", project_get),
        ("add", add), ("search", search), ("get_all", get_all), ("get", get),
        ("update", update), ("history", history), ("batch_update", batch_update),
        ("batch_delete", batch_delete), ("users", users), ("get_summary", get_summary),
        ("update_profile_settings", update_profile_settings),
        ("get_profile_settings", get_profile_settings), ("get_profile", get_profile),
        ("generate_profile", generate_profile), ("get_profile_job", get_profile_job),
        ("sample_profiles", sample_profiles), ("feedback", feedback),
        ("create_webhook", webhooks), ("get_webhooks", None), ("update_webhook", None),
        ("delete_webhook", None), ("create_memory_export", exports),
        ("get_memory_export", None), ("delete", delete), ("delete_all", delete_all),
        ("delete_users", delete_users), ("chat", chat), ("reset", reset),
        *((f"project.{m}", project_admin(m)) for m in
          ("create", "delete", "get_members", "add_member", "update_member", "remove_member")),
    ]
    results: dict[str, str] = {}
    shared = ""
    for name, step in steps:
        if name not in available:  # a method this version does not have
            continue
        if step is None:  # covered by the step before it
            results[name] = shared
            continue
        try:
            step()
            shared = results[name] = "ok"
        except Exception:
            shared = results[name] = "error: " + traceback.format_exc(limit=3)[-1500:]
    return results


def main() -> None:
    out: dict[str, Any] = {"version": version("mem0ai"), "methods": [], "results": {}}
    project_cls = type(MemoryClient(api_key=KEY, host=HOST).project)
    for cls, loop in ((MemoryClient, None), (AsyncMemoryClient, asyncio.new_event_loop())):
        names = public(cls) + [f"project.{n}" for n in public(project_cls)]
        out["methods"] += [f"{cls.__name__}.{n}" for n in names]
        client = cls(api_key=KEY, host=HOST)
        tag = "sync" if loop is None else "async"
        for name, result in scenario(Driven(client, loop), tag, set(names)).items():
            out["results"][f"{cls.__name__}.{name}"] = result
    print(json.dumps(out))


main()
