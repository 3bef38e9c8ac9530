"""Crash test, on SQLite and PostgreSQL: writers (direct adds, updates, deletes) and queued adds
run against a real server that is SIGKILLed at random moments and restarted, alternately as
the same PID (PID 1 of a fresh PID namespace, as in a container) and as a new PID. Afterwards:
every acknowledged write is there, no memory is half-written (a row without its vector, a
full-text entry without its row or a row without its full-text entry), and every queued add
has finished.

CRASH_SEED=<n> replays one run's kill moments and operations.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.server_process import ServerProcess, require_pid_namespace, wait_for_event

KILLS = 6  # half restart as the same PID, half as a new one
WRITERS = 3
# Kills land after a random number of acknowledged writes plus a random delay (so a slow
# machine gets as much load as a fast one), or, one in three, during start-up.
LOAD_WRITES = (5, 40)
JITTER_SECONDS = (0.0, 0.3)
EARLY_SECONDS = (0.0, 1.0)  # how soon after the server listens an early kill lands
LOAD_TIMEOUT = 90.0  # the first write after a start loads the embedding model
LEASE_SECONDS = "3"  # a claim made in a PID namespace that died is re-queued after this
ACTIVITIES = ("trail running", "swimming", "cycling", "rowing", "climbing", "yoga")


@dataclass
class Ledger:
    """What one writer was told: acknowledged writes, and writes cut off without an answer."""

    present: dict[str, str] = field(default_factory=dict)  # id -> last acknowledged text
    deleted: set[str] = field(default_factory=set)
    unanswered_adds: set[str] = field(default_factory=set)  # texts that may or may not exist
    events: list[str] = field(default_factory=list)  # acknowledged queued adds
    acknowledged: int = 0
    cut_off: int = 0
    violations: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class Acks:
    """Acknowledged writes of all writers, so the killer can wait for load."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def add(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait_for(self, more: int, server: ServerProcess) -> None:
        with self.changed:
            target = self.count + more
            done = self.changed.wait_for(lambda: self.count >= target, LOAD_TIMEOUT)
        assert done, f"{self.count}/{target} writes acknowledged in time:\n{server.log()[-3000:]}"


class Writer(threading.Thread):
    def __init__(
        self,
        server: ServerProcess,
        n: int,
        rng: random.Random,
        stop: threading.Event,
        acks: Acks,
    ) -> None:
        super().__init__(name=f"writer-{n}", daemon=True)
        self.server, self.n, self.rng, self.stop, self.acks = server, n, rng, stop, acks
        self.user = f"writer-{n}"
        self.ledger = Ledger()
        self.count = 0

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url,
            timeout=30,
            headers={"Authorization": f"Token {self.server.api_key}"},
        )

    def run(self) -> None:
        with self._client() as c:
            while not self.stop.is_set():
                try:
                    self._one(c)
                except httpx.TransportError:
                    time.sleep(0.05)  # the server is down; the op's outcome was settled

    def _one(self, c: httpx.Client) -> None:
        self.count += 1
        text = f"{self.user} note {self.count}: {self.rng.random():.6f}"
        roll = self.rng.random()
        ids = sorted(self.ledger.present)
        if roll < 0.15:  # a queued add, with extraction
            activity = self.rng.choice(ACTIVITIES)
            body = {
                "messages": f"I'm Max {self.count} and I love {activity}.",
                "user_id": f"{self.user}-q{self.count}",
            }
            r = self._send(c, "POST", "/v3/memories/add/", body)
            if r is not None:
                self.ledger.events.append(r.json()["event_id"])
        elif roll < 0.55 or not ids:
            body = {"messages": text, "user_id": self.user, "infer": False, "async_mode": False}
            r = self._send(c, "POST", "/v1/memories/", body, maybe=text)
            if r is not None:
                (added,) = r.json()["results"]
                self.ledger.present[added["id"]] = added["memory"]
        elif roll < 0.85:
            memory_id = self.rng.choice(ids)
            old = self.ledger.present[memory_id]
            r = self._send(c, "PUT", f"/v1/memories/{memory_id}/", {"text": text})
            if r is None:
                self._settle(c, memory_id, {old, text}, may_be_gone=False)
            else:
                self.ledger.present[memory_id] = text
        else:
            memory_id = self.rng.choice(ids)
            old = self.ledger.present[memory_id]
            r = self._send(c, "DELETE", f"/v1/memories/{memory_id}/")
            if r is None:
                self._settle(c, memory_id, {old}, may_be_gone=True)
            else:
                del self.ledger.present[memory_id]
                self.ledger.deleted.add(memory_id)

    def _send(
        self, c: httpx.Client, method: str, path: str, body: object = None, maybe: str = ""
    ) -> httpx.Response | None:
        """The answer to an acknowledged write, or None when the server died before answering."""
        try:
            r = c.request(method, path, json=body)
        except httpx.TransportError as exc:
            self.ledger.cut_off += 1
            self.ledger.errors[type(exc).__name__] += 1
            time.sleep(0.05)  # the server is down
            if maybe:
                self.ledger.unanswered_adds.add(maybe)
            return None
        if r.status_code != 200:
            self.ledger.violations.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
            return None
        self.ledger.acknowledged += 1
        self.acks.add()
        return r

    def _settle(self, c: httpx.Client, memory_id: str, texts: set[str], may_be_gone: bool) -> None:
        """After a write cut off by a kill, read the memory back once the server answers: it
        holds the old or the new value, whole."""
        while True:
            try:
                r = c.get(f"/v1/memories/{memory_id}/")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        if r.status_code == 404 and may_be_gone:
            del self.ledger.present[memory_id]
            self.ledger.deleted.add(memory_id)
        elif r.status_code == 200 and r.json()["memory"] in texts:
            self.ledger.present[memory_id] = r.json()["memory"]
        else:
            self.ledger.violations.append(f"cut-off write left {memory_id}: {r.text[:200]}")


@pytest.fixture(params=["sqlite", "postgres"])
def crash_server(request: pytest.FixtureRequest, engram_home: Path) -> Iterator[ServerProcess]:
    require_pid_namespace()  # fails (never skips) naming what the machine lacks
    env = {"ENGRAM_EVENT_LEASE_SECONDS": LEASE_SECONDS}
    if request.param == "postgres":
        env["ENGRAM_DATABASE"] = request.getfixturevalue("postgres_url")
    server = ServerProcess(engram_home, env=env, pid_namespace=True)
    server.backend = request.param  # type: ignore[attr-defined]
    yield server.start()
    server.stop()


@pytest.mark.timeout(900)  # ~1 min a backend on an idle 2-core runner, ~4 under heavy load
def test_acknowledged_writes_survive_sigkill(crash_server: ServerProcess) -> None:
    server = crash_server
    seed = int(os.environ.get("CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    stop, acks = threading.Event(), Acks()
    writers = [Writer(server, n, random.Random(rng.random()), stop, acks) for n in range(WRITERS)]
    for w in writers:
        w.start()
    pids: list[tuple[bool, int]] = []
    try:
        for kill in range(KILLS):
            if kill % 3 == 2:  # while it starts up: loading models, re-queueing claims
                time.sleep(rng.uniform(*EARLY_SECONDS))
            else:  # under load
                acks.wait_for(rng.randint(*LOAD_WRITES), server)
                time.sleep(rng.uniform(*JITTER_SECONDS))
            pids.append((server.pid_namespace, server.server_pid))
            server.stop(kill=True)
            server.pid_namespace = kill % 2 == 1  # alternate: a new PID, then PID 1 again
            server.start()
        acks.wait_for(rng.randint(*LOAD_WRITES), server)
    finally:
        stop.set()
        for w in writers:
            w.join(timeout=60)
    pids.append((server.pid_namespace, server.server_pid))
    assert not any(w.is_alive() for w in writers), "a writer hung"
    ledgers = [w.ledger for w in writers]
    context = f"seed {seed} on {server.backend}"  # type: ignore[attr-defined]
    assert not [v for ledger in ledgers for v in ledger.violations], context
    assert [pid for in_namespace, pid in pids if not in_namespace], "no restart as a new PID"
    assert sum(1 for in_namespace, _ in pids if in_namespace) >= KILLS // 2

    with httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Token {server.api_key}"}
    ) as c:
        # no stuck event: every acknowledged queued add finishes (claims of killed servers
        # are re-queued when their lease runs out or their PID is known gone)
        events = [wait_for_event(c, e, timeout=120) for ledger in ledgers for e in ledger.events]
        failed = [e for e in events if e["status"] != "SUCCEEDED"]
        assert not failed, (context, failed)
        for event in events:
            for result in event["results"] or []:
                if result.get("event") == "ADD":
                    assert c.get(f"/v1/memories/{result['id']}/").status_code == 200, context
        # every acknowledged write: present with its last acknowledged text, or gone if deleted
        for w in writers:
            stored = {
                m["id"]: m["memory"]
                for m in c.post(
                    "/v2/memories/", json={"user_id": w.user, "page_size": 1000}
                ).json()["results"]
            }
            lost = {i: t for i, t in w.ledger.present.items() if stored.get(i) != t}
            assert not lost, (context, "lost or changed", lost)
            revived = set(stored) & w.ledger.deleted
            assert not revived, (context, "deleted memories came back", revived)
            unknown = {i: t for i, t in stored.items() if i not in w.ledger.present}
            assert set(unknown.values()) <= w.ledger.unanswered_adds, (context, unknown)
    half_written = _half_written(server)
    assert not half_written, (context, half_written)

    acknowledged = sum(ledger.acknowledged for ledger in ledgers)
    cut_off = sum(ledger.cut_off for ledger in ledgers)
    print(  # the figures the README quotes
        f"\ncrash {context}: {KILLS} kills ({len(pids) - 1} restarts), {acknowledged} acknowledged"
        f" writes ({len(events)} queued adds), {cut_off} cut off, 0 lost;"
        f" errors {sum((ledger.errors for ledger in ledgers), Counter())}"
    )


def _half_written(server: ServerProcess) -> list[str]:
    """Rows without a vector or full-text entry, and full-text entries without a row."""
    database = server.extra_env.get("ENGRAM_DATABASE")
    if database:
        import psycopg

        with psycopg.connect(database) as conn:
            return _check_postgres(conn)
    server.stop()  # SQLite: read the file the server wrote, with it closed
    import apsw

    conn = apsw.Connection(str(server.home / "engram.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return _check_sqlite(conn)
    finally:
        conn.close()


def _check_sqlite(conn: object) -> list[str]:
    rows = dict(conn.execute("SELECT seq, embedding FROM memories").fetchall())  # type: ignore[attr-defined]
    fts = {r for (r,) in conn.execute("SELECT rowid FROM memories_fts")}  # type: ignore[attr-defined]
    widths = {len(v) for v in rows.values() if v is not None}
    problems = [f"memory seq {s} has no vector" for s, v in rows.items() if v is None]
    problems += [f"vectors of {len(widths)} widths: {widths}"] if len(widths) > 1 else []
    problems += [f"full-text entry {r} has no memory" for r in fts - set(rows)]
    problems += [f"memory seq {s} has no full-text entry" for s in set(rows) - fts]
    return problems


def _check_postgres(conn: object) -> list[str]:
    run = conn.execute  # type: ignore[attr-defined]
    problems = [
        f"memory {i} has no vector"
        for (i,) in run("SELECT id FROM engram_memories WHERE embedding IS NULL").fetchall()
    ]
    stale = run(
        "SELECT id FROM engram_memories"
        " WHERE fts IS DISTINCT FROM to_tsvector('simple', index_text)"
    ).fetchall()
    problems += [f"memory {i} has a stale full-text vector" for (i,) in stale]
    # the GIN index agrees with the table: each word found by the index as by a scan
    stat = "SELECT word FROM ts_stat('SELECT fts FROM engram_memories') LIMIT 40"
    words = [w for (w,) in run(stat).fetchall()]
    for word in words:
        query = "SELECT count(*) FROM engram_memories WHERE fts @@ plainto_tsquery('simple', %s)"
        run("SET enable_seqscan = off")
        (by_index,) = run(query, (word,)).fetchone()
        run("SET enable_seqscan = on; SET enable_bitmapscan = off; SET enable_indexscan = off")
        (by_scan,) = run(query, (word,)).fetchone()
        run("RESET ALL")
        if by_index != by_scan:
            problems.append(f"full-text index finds {by_index} rows for {word!r}, table {by_scan}")
    return problems
