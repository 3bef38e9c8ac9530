"""A SQLite database's WAL is copied back into the file by a thread of its own
(engram.stores.database's _Checkpointer), not inside the commit that takes the log past
1,000 pages: the file still takes every committed page, nothing is lost, and closing the
database stops the thread."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from engram.stores.database import SQLiteDatabase


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "engram-checkpoint"]


def test_the_log_is_checkpointed_by_its_own_thread(tmp_path: Path) -> None:
    path = str(tmp_path / "engram.db")
    db = SQLiteDatabase(path)
    db.rows("CREATE TABLE t (x BLOB)")
    before = os.path.getsize(path)
    committing = threading.get_ident()
    checkpointed_by: list[int] = []
    original = db._checkpointer._run  # type: ignore[union-attr]

    def run() -> None:
        checkpointed_by.append(threading.get_ident())
        original()

    db._checkpointer._run = run  # type: ignore[union-attr]
    for _ in range(300):  # ~1,500 pages of 4 KB: past the 1,000 that wake the thread
        with db.transaction() as tx:
            tx("INSERT INTO t VALUES (randomblob(20000))")
    assert checkpointed_by and checkpointed_by[0] != committing
    deadline = time.monotonic() + 10
    while os.path.getsize(path) < before + 4_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.getsize(path) >= before + 4_000_000  # the pages are in the file itself
    assert _checkpointers()
    db.close()
    assert not _checkpointers()
    again = SQLiteDatabase(path)
    assert again.rows("SELECT count(*) FROM t")[0][0] == 300
    again.close()


def test_a_memory_database_has_no_checkpointer() -> None:
    db = SQLiteDatabase(":memory:")
    db.rows("CREATE TABLE t (x BLOB)")
    for _ in range(300):
        db.rows("INSERT INTO t VALUES (randomblob(20000))")
    assert db._checkpointer is None and not _checkpointers()
    db.close()


def test_without_its_own_connection_the_commits_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """If the thread cannot open the file, the commits checkpoint as SQLite's automatic
    checkpoint would: the log does not grow without end."""
    import apsw

    path = str(tmp_path / "engram.db")
    db = SQLiteDatabase(path)
    db.rows("CREATE TABLE t (x BLOB)")

    def refused(*args: object, **kwargs: object) -> None:
        raise apsw.CantOpenError("refused for the test")

    monkeypatch.setattr(apsw, "Connection", refused)
    for _ in range(600):
        with db.transaction() as tx:
            tx("INSERT INTO t VALUES (randomblob(20000))")
    assert db._checkpointer._failed  # type: ignore[union-attr]
    assert os.path.getsize(path) >= 4_000_000
    db.close()
