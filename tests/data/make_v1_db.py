"""Writes tests/data/engram-v1.db: a database as the first release (schema version 1) left it.

The migration test (tests/test_schema_migration.py) opens this file with the current code and
checks that nothing stored is lost. To regenerate it, run this script with the first release's
code, not today's (today's code would write the current schema):

    git worktree add /tmp/engram-v1 ab781b6
    cd /tmp/engram-v1 && python tests/data/make_v1_db.py   # with that checkout's engram importable

It uses `infer=False` and a fixed clock so the stored texts, scopes and dates are the same on
every run (memory ids are random uuids; the test looks memories up by text).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from engram.memory import Memory

OUT = Path(__file__).with_name("engram-v1.db")
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def main() -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{OUT}{suffix}").unlink(missing_ok=True)
    clock = Clock()
    m = Memory({"database": str(OUT)}, clock=clock)
    m.project.update(custom_instructions="Only running facts", threshold=0.2)
    knee = m.add("My right knee hurts on downhills", user_id="max", infer=False,
                 metadata={"body_part": "knee"})["results"][0]["id"]  # fmt: skip
    clock.now += timedelta(minutes=1)
    m.add("Max is training for the Boston marathon in April", user_id="max", agent_id="ray",
          infer=False)  # fmt: skip
    clock.now += timedelta(minutes=1)
    m.update(knee, text="My right knee hurts on steep downhills")
    clock.now += timedelta(minutes=1)
    gone = m.add("Max likes running in the rain", user_id="max", infer=False)["results"][0]["id"]
    m.delete(gone)
    m.add("Rolled my left ankle", user_id="max", infer=False, expiration_date="2026-03-02")
    other = m.for_project("club")
    other.add("The club meets on Tuesdays", app_id="club-app", infer=False)
    other.project.update(threshold=0.5)
    m.close()
    # Fold the WAL into the main file, so the one committed file holds everything.
    import apsw

    conn = apsw.Connection(str(OUT))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
