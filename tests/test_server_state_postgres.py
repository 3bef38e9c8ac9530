"""With PostgreSQL, the server's keys and queued adds live in the memories' database, so
servers on different hosts (here: two processes with different ENGRAM_HOME directories and
one database URL) share keys, revocations and the add queue, and each add runs once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from engram.server import auth
from engram.server.auth import KeyStore, Principal
from engram.server.events import EventStore
from tests.support.server_process import ServerProcess, wait_for_event

# ------------------------------------------------------------------ two "hosts", one database


@pytest.fixture(scope="module")
def shared_url(postgres_server) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="module")
def hosts(
    shared_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {"ENGRAM_DATABASE": shared_url, "ENGRAM_EVENT_LEASE_SECONDS": "1.5"}
    a = ServerProcess(tmp_path_factory.mktemp("host-a"), env=env).start()
    try:
        b = ServerProcess(tmp_path_factory.mktemp("host-b"), env=env).start()
    except BaseException:
        a.stop()
        raise
    yield a, b
    b.stop()
    a.stop()


def _http(server: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Token {key}"})


def _cli(*args: str, url: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
    env.update(ENGRAM_DATABASE=url, ENGRAM_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "engram.cli", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_first_key_is_minted_once_for_all_hosts(hosts: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = hosts
    assert not (b.home / "server_key").exists()  # b found a's key in the shared database
    assert not (a.home / "server.db").exists() and not (b.home / "server.db").exists()
    for server in hosts:
        with _http(server, a.api_key) as c:
            assert c.get("/v1/ping/").json()["project_id"] == "default"


def test_cli_key_works_on_both_hosts_and_revocation_reaches_both(
    hosts: tuple[ServerProcess, ServerProcess], shared_url: str, tmp_path: Path
) -> None:
    made = _cli("keys", "create", "--project", "shared", "--json", url=shared_url, home=tmp_path)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    for server in hosts:
        with _http(server, key) as c:
            assert c.get("/v1/ping/").json()["project_id"] == "shared"
    listed = auth.list_keys(database=shared_url)
    assert [k.project_id for k in listed] == ["default", "shared"]
    revoked = _cli("keys", "revoke", key[:12], url=shared_url, home=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    for server in hosts:
        with _http(server, key) as c:
            assert c.get("/v1/ping/").status_code == 401
    assert not (tmp_path / "server.db").exists()  # the CLI used PostgreSQL, not a file


def test_add_queued_on_one_host_is_polled_on_the_other_and_runs_once(
    hosts: tuple[ServerProcess, ServerProcess], shared_url: str
) -> None:
    a, b = hosts
    keys = {p: auth.create_key(p, database=shared_url) for p in ("queue-1", "queue-2")}
    texts = {p: [f"{p} fact {i}" for i in range(6)] for p in keys}
    queued: list[tuple[str, str, ServerProcess]] = []
    for i in range(6):  # interleaved, half through each host: both workers compete
        for n, (project, key) in enumerate(keys.items()):
            sent_to, other = (a, b) if (i + n) % 2 else (b, a)
            with _http(sent_to, key) as c:
                body = {"messages": texts[project][i], "user_id": "max", "infer": False}
                r = c.post("/v3/memories/add/", json=body)
                assert r.status_code == 200, r.text
                queued.append((project, r.json()["event_id"], other))
    for project, event_id, other in queued:
        with _http(other, keys[project]) as c:  # polled on the host that did not queue it
            assert wait_for_event(c, event_id)["status"] == "SUCCEEDED"
    for project, key in keys.items():
        with _http(a, key) as c:
            stored = c.post("/v2/memories/", json={"user_id": "max"}).json()["results"]
            # infer=False stores every message: an add run twice would show up twice
            assert sorted(m["memory"] for m in stored) == sorted(texts[project])
            assert c.get("/v1/events/").json()["count"] == 6
        assert _added_in_order(shared_url, project) == texts[project]


def _added_in_order(url: str, project: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT new_memory FROM engram_history WHERE project = %s AND event = 'ADD'"
            " ORDER BY seq",
            (project,),
        ).fetchall()
    return [r[0] for r in rows]


def test_add_abandoned_by_a_dead_host_is_run_by_a_live_one(
    hosts: tuple[ServerProcess, ServerProcess], shared_url: str
) -> None:
    a, _ = hosts
    key = auth.create_key("orphans", database=shared_url)
    payload = {"messages": "I row on Sundays.", "user_id": "max", "infer": False}
    with psycopg.connect(shared_url) as conn:  # claimed by a host that then died
        (event_id,) = conn.execute(
            "INSERT INTO engram_events (id, org_id, project_id, event_type, status, payload,"
            " worker, lease_until, created_at, updated_at) VALUES (gen_random_uuid()::text,"
            " 'default', 'orphans', 'ADD', 'RUNNING', %s, 'gone-host:1:dead',"
            " now() + interval '0.5 second', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
            " RETURNING id",
            (json.dumps(payload),),
        ).fetchone()
    with _http(a, key) as c:  # the servers renew leases and re-queue every 0.5 s
        event = wait_for_event(c, event_id, timeout=30)
        assert event["status"] == "SUCCEEDED"
        assert [m["memory"] for m in event["results"]] == ["I row on Sundays."]


# ------------------------------------------------------------------ stores, without servers


@pytest.fixture
def stores(postgres_url: str) -> Iterator[list[EventStore]]:
    opened = [EventStore(postgres_url, lease_seconds=60) for _ in range(4)]
    yield opened
    for store in opened:
        store.close()


def test_two_claimers_never_take_the_same_add(stores: list[EventStore]) -> None:
    for i in range(40):
        stores[0].enqueue(Principal("default", f"p{i}"), {"n": i})
    taken: list[list[str]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def drain(k: int) -> None:
        start.wait()
        while (claimed := stores[k].claim()) is not None:
            taken[k].append(claimed[0])

    threads = [threading.Thread(target=drain, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    every = [e for ids in taken for e in ids]
    assert len(every) == 40 and len(set(every)) == 40


def test_one_project_never_has_two_adds_running(stores: list[EventStore]) -> None:
    who = Principal("default", "solo")
    ids = [stores[0].enqueue(who, {"n": i}) for i in range(5)]
    results: list[object] = [None] * len(stores)
    start = threading.Barrier(len(stores))

    def claim(k: int) -> None:
        start.wait()
        results[k] = stores[k].claim()

    threads = [threading.Thread(target=claim, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    won = [(k, r) for k, r in enumerate(results) if r is not None]
    assert len(won) == 1 and won[0][1][0] == ids[0]  # only the oldest, and only once
    order = [ids[0]]
    holder = won[0][0]
    for _ in range(4):  # each finish lets exactly the next one through, in order
        stores[holder].finish(order[-1], results=[])
        holder = (holder + 1) % len(stores)
        claimed = stores[holder].claim()
        assert claimed is not None and stores[(holder + 1) % len(stores)].claim() is None
        order.append(claimed[0])
    assert order == ids


def test_other_projects_run_while_one_is_busy(stores: list[EventStore]) -> None:
    p1 = [stores[0].enqueue(Principal("default", "p"), {"n": i}) for i in range(2)]
    q1 = stores[0].enqueue(Principal("default", "q"), {"n": 0})
    assert stores[1].claim()[0] == p1[0]
    assert stores[2].claim()[0] == q1
    assert stores[3].claim() is None  # p's second add waits for its first


def test_expired_lease_is_requeued_and_renewed_one_is_not(postgres_url: str) -> None:
    worker, other = EventStore(postgres_url, lease_seconds=2.0), EventStore(postgres_url)
    try:
        who = Principal("default", "lease")
        event_id = worker.enqueue(who, {"n": 1})
        assert worker.claim()[0] == event_id
        for _ in range(6):  # renewed every 0.5 s, it outlives its 2 s lease
            time.sleep(0.5)
            worker.heartbeat()
            assert other.requeue_orphans() == 0
        time.sleep(2.3)  # the worker "died": no more heartbeats
        assert other.requeue_orphans() == 1
        assert other.claim()[0] == event_id
        worker.finish(event_id, results=["stale"])  # the old owner may not overwrite
        assert other.get(who, event_id)["status"] == "RUNNING"
        other.finish(event_id, results=["done"])
        assert other.get(who, event_id)["results"] == ["done"]
    finally:
        worker.close()
        other.close()


def test_bootstrap_mints_one_key_for_all_hosts(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGRAM_API_KEY", raising=False)
    stores = [KeyStore(postgres_url) for _ in range(3)]
    written: list[Path | None] = [None] * len(stores)
    start = threading.Barrier(len(stores))

    def boot(k: int) -> None:
        start.wait()
        written[k] = stores[k].bootstrap(tmp_path / f"host{k}" / "server_key")

    threads = [threading.Thread(target=boot, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        files = [w for w in written if w is not None]
        assert len(files) == 1 and len(stores[0].list_keys()) == 1
        assert stores[2].verify(files[0].read_text().strip()) == Principal("default", "default")
    finally:
        for store in stores:
            store.close()
