"""Webhooks over real HTTP, on SQLite and PostgreSQL: managed per project as the official
client calls them; every memory change reaches a real receiving server, signed, retried
with backoff until it is accepted (exactly once per delivery id after the receiver's
dedupe), and a delivery cut off by a killed server is made after the restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engram import MemoryClient
from engram.errors import InvalidInputError, NotFoundError
from tests.conftest import BACKENDS
from tests.support.server_process import ServerProcess
from tests.support.webhook_receiver import Receiver

FAST_RETRIES = {"ENGRAM_WEBHOOK_BACKOFF_SECONDS": "0.2", "ENGRAM_WEBHOOK_POLL_SECONDS": "0.1",
                "ENGRAM_WEBHOOK_TIMEOUT_SECONDS": "2"}  # fmt: skip


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServerProcess]:  # fmt: skip
    """One server per backend for the tests that leave it running."""
    pg = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    url = pg.create_database() if pg else None
    env = {**FAST_RETRIES, **({"ENGRAM_DATABASE": url} if url else {})}
    with ServerProcess(tmp_path_factory.mktemp("home"), env=env) as proc:
        yield proc
    if pg:
        pg.drop_database(url)


@pytest.fixture
def server(backend: str, request: pytest.FixtureRequest, engram_home: Path
           ) -> Iterator[ServerProcess]:  # fmt: skip
    """A server of its own, for a test that kills it."""
    env = dict(FAST_RETRIES)
    if backend == "postgres":
        env["ENGRAM_DATABASE"] = request.getfixturevalue("postgres_url")
    with ServerProcess(engram_home, env=env) as proc:
        yield proc


def _client(server: ServerProcess) -> MemoryClient:
    return MemoryClient(api_key=server.api_key, host=server.url, retries=0)


def test_webhooks_are_managed_per_project(shared: ServerProcess) -> None:
    server = shared
    with _client(server) as client:
        project = client.ping()["project_id"]
        made = client.create_webhook(url="http://127.0.0.1:9/hook", name="logger",
                                     project_id=project, event_types=["memory_add"])  # fmt: skip
        assert made["secret"].startswith("whsec_") and made["is_active"] is True
        assert made["event_types"] == ["memory_add"] and made["project"] == project
        hook_id = made["webhook_id"]
        assert [h["webhook_id"] for h in client.get_webhooks(project_id=project)] == [hook_id]
        changed = client.update_webhook(hook_id, name="renamed",
                                        event_types=["memory_update", "memory_delete"])  # fmt: skip
        assert (changed["name"], changed["event_types"]) == ("renamed",
                                                             ["memory_update", "memory_delete"])
        assert changed["url"] == made["url"] and changed["secret"] == made["secret"]
        with pytest.raises(InvalidInputError) as bad:
            client.update_webhook(hook_id, event_types=["memory_add", "memory_explode"])
        assert bad.value.field == "event_types[1]"
        with pytest.raises(InvalidInputError) as bad:
            client.create_webhook(url="ftp://x/", name="n", project_id=project,
                                  event_types=["memory_add"])  # fmt: skip
        assert bad.value.field == "url"
        assert client.delete_webhook(hook_id)["message"] == "Webhook deleted successfully"
        assert client.get_webhooks(project_id=project) == []
        with pytest.raises(NotFoundError):
            client.delete_webhook(hook_id)
        r = httpx.get(f"{server.url}/api/v1/webhooks/projects/other/",
                      headers={"Authorization": f"Token {server.api_key}"})  # fmt: skip
        assert r.status_code == 403 and r.json()["field"] == "project_id"


def test_every_change_is_delivered_signed_once_per_id_after_retries(
    shared: ServerProcess,
) -> None:
    server = shared
    secret = "whsec_test_secret_0123456789"
    with Receiver(lambda: secret, fail_first=2) as rx, _client(server) as client:
        project = client.ping()["project_id"]
        hook = client.create_webhook(url=rx.url, name="app", project_id=project,
                                     event_types=["memory_add", "memory_update",
                                                  "memory_delete", "memory_categorize"])
        client.update_webhook(hook["webhook_id"], secret=secret)
        added = client.add("I go trail running every Sunday morning.", user_id="max",
                           infer=False)["results"][0]  # fmt: skip
        client.update(added["id"], text="I go trail running every Saturday morning.")
        client.delete(added["id"])
        kinds = {"memory_add", "memory_update", "memory_delete", "memory_categorize"}
        rx.wait_for(lambda got: {c.event_type for c in got.values()} >= kinds)

        delivered = rx.delivered()
        assert all(c.signed for c in rx.calls), "every attempt carries a valid signature"
        by_type = {c.event_type: c for c in delivered.values()}
        assert set(by_type) == kinds and len(delivered) == 4  # exactly one per change
        details = {k: c.body["event_details"] for k, c in by_type.items()}
        assert details["memory_add"]["id"] == added["id"]
        assert details["memory_add"]["data"]["memory"] == added["memory"]
        assert details["memory_add"]["data"]["user_id"] == "max"
        assert details["memory_update"]["data"]["previous_memory"] == added["memory"]
        assert details["memory_update"]["event"] == "UPDATE"
        assert details["memory_delete"]["event"] == "DELETE"
        assert details["memory_categorize"]["data"]["categories"]
        for delivery_id, call in delivered.items():
            tries = [c for c in rx.calls if c.delivery_id == delivery_id]
            assert [c.answered for c in tries] == [500, 500, 200]  # the id is stable
            assert call.body["delivery_id"] == delivery_id

        log = _settled(client, hook["webhook_id"])
        assert len(log) == 4
        for entry in log:
            assert entry["status"] == "SUCCEEDED" and entry["attempts"] == 3, entry
            assert [a["status_code"] for a in entry["attempt_log"]] == [500, 500, 200]
            assert entry["delivered_at"] and entry["id"] in delivered


def test_a_delivery_cut_off_by_a_killed_server_is_made_after_restart(
    server: ServerProcess,
) -> None:
    secret = "whsec_test_secret_0123456789"
    with Receiver(lambda: secret, hang=True) as rx:
        with _client(server) as client:
            project = client.ping()["project_id"]
            client.create_webhook(url=rx.url, name="app", project_id=project,
                                  event_types=["memory_add"], secret=secret)  # fmt: skip
            client.add("I swim on Mondays.", user_id="max", infer=False)
        assert rx.hanging.wait(30), "the first delivery never arrived"
        server.stop(kill=True)  # the server dies while the receiver holds the call
        rx.release()
        server.start()
        rx.wait_for(lambda got: len(got) == 1)
        (call,) = rx.delivered().values()
        assert call.signed and call.event_type == "memory_add"
        assert call.body["event_details"]["data"]["memory"] == "I swim on Mondays."
        assert len([c for c in rx.calls if c.delivery_id == call.delivery_id]) == 2
        with _client(server) as client:
            (entry,) = _settled(client)
        assert entry["status"] == "SUCCEEDED" and entry["id"] == call.delivery_id


def _settled(client: MemoryClient, webhook_id: int | None = None, timeout: float = 30
             ) -> list[dict[str, Any]]:  # fmt: skip
    """The delivery log, once the server has recorded every outcome (it records a call
    after the receiver answered it)."""
    deadline = time.monotonic() + timeout
    while True:
        log = client.webhook_deliveries(webhook_id)["results"]
        settled = all(e["status"] in ("SUCCEEDED", "FAILED") for e in log)
        if settled or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


# A process that stores a change and dies before it releases the change's webhook calls (and
# one that held calls for a write that never committed): what a crash between the memory
# database and the server database leaves behind.
_CRASH_AFTER_COMMIT = """
import os
from engram.config import MemoryConfig
from engram.memory import Memory
from engram.server.state import state_location
from engram.server.webhooks import ObservedStore, WebhookStore
from engram.stores import make_store

config = MemoryConfig()
hooks = WebhookStore(state_location(config))
never = {"id": "never-written", "history_id": "none", "event": "ADD", "data": {"memory": "x"}}
hooks.hold("default", [("memory_add", never)])
hooks.release = lambda ids: os._exit(9)  # dies after the commit, before the release
Memory(config, store=ObservedStore(make_store(config), hooks)).add(
    "I cycle to work.", user_id="max", infer=False)
"""


def test_a_change_stored_just_before_a_crash_is_still_announced(server: ServerProcess) -> None:
    secret = "whsec_test_secret_0123456789"
    with Receiver(lambda: secret) as rx:
        with _client(server) as client:
            project = client.ping()["project_id"]
            client.create_webhook(url=rx.url, name="app", project_id=project,
                                  event_types=["memory_add"], secret=secret)  # fmt: skip
        server.stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
        env.update(ENGRAM_HOME=str(server.home), **server.extra_env)
        died = subprocess.run([sys.executable, "-c", _CRASH_AFTER_COMMIT], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert died.returncode == 9, died.stderr
        server.extra_env["ENGRAM_WEBHOOK_HOLD_SECONDS"] = "0"  # recover at once
        server.start()
        rx.wait_for(lambda got: len(got) >= 1)
        with _client(server) as client:
            log = _settled(client)
        assert [e["payload"]["event_details"]["data"]["memory"] for e in log] == [
            "I cycle to work."]  # the committed change, and not the one that never was
        assert [c.body["event_details"]["data"]["memory"] for c in rx.delivered().values()
                ] == ["I cycle to work."]  # fmt: skip


def test_the_cli_manages_webhooks_on_a_server(shared: ServerProcess) -> None:
    from typer.testing import CliRunner

    from engram.cli import app

    remote = ["--host", shared.url, "--api-key", shared.api_key, "--json"]

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(app, ["webhooks", *args, *remote])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    made = cli("create", "http://127.0.0.1:9/hook", "--name", "cli", "--event", "memory_add",
               "--event", "memory_delete")  # fmt: skip
    assert made["event_types"] == ["memory_add", "memory_delete"] and made["name"] == "cli"
    assert made["webhook_id"] in [h["webhook_id"] for h in cli("list")]
    paused = cli("update", str(made["webhook_id"]), "--paused", "--url", "http://127.0.0.1:9/b")
    assert paused["is_active"] is False and paused["url"] == "http://127.0.0.1:9/b"
    assert cli("deliveries", str(made["webhook_id"]))["count"] == 0
    assert cli("delete", str(made["webhook_id"]))["message"] == "Webhook deleted successfully"
    assert made["webhook_id"] not in [h["webhook_id"] for h in cli("list")]
    local = CliRunner().invoke(app, ["webhooks", "list"])
    assert local.exit_code == 1 and "--host" in local.stderr
