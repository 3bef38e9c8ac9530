"""Writes tests/data/server-v0.db: a server database (keys, projects, queued adds) as the
releases before the server tables had a schema version (version 0) left it.

The migration test (tests/test_server_schema_migration.py) opens this file with the current
code and checks that nothing stored is lost. To regenerate it, run this script with that
release's code, not today's (today's code would record the current version):

    git worktree add /tmp/engram-v0 40e751b
    cd /tmp/engram-v0 && python tests/data/make_server_v0_db.py   # that checkout's engram

The key is fixed (KEY) so the test can verify it; it guards nothing.
"""

from __future__ import annotations

from pathlib import Path

from engram.server.auth import KeyStore, Principal
from engram.server.events import EventStore

OUT = Path(__file__).with_name("server-v0.db")
KEY = "eng_test-key-of-the-committed-v0-server-database"
CLUB = Principal("acme", "club")


def main() -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{OUT}{suffix}").unlink(missing_ok=True)
    keys = KeyStore(OUT)
    with keys._db.transaction() as run:
        keys._insert(run, KEY, CLUB.org_id, CLUB.project_id, "coach app")
    keys.create_key("club", org="acme", name="revoked one")
    keys.revoke(keys.list_keys()[-1].prefix)
    events = EventStore(OUT)
    done = events.enqueue(CLUB, {"messages": [{"role": "user", "content": "I run on Mondays"}],
                                 "user_id": "max"})  # fmt: skip
    claimed = events.claim()
    assert claimed is not None and claimed[0] == done
    events.finish(done, results=[{"id": "m1", "memory": "Max runs on Mondays", "event": "ADD"}])
    events.enqueue(CLUB, {"messages": [{"role": "user", "content": "I swim on Fridays"}],
                          "user_id": "max"})  # fmt: skip
    events.close()
    keys.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{OUT}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
