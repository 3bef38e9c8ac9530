"""Files Engram writes are its owner's only: the databases (with -wal/-shm), server.db, the
key file and exports are 0600, ENGRAM_HOME is 0700, for the library and the server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from engram import Memory
from engram.transfer import export_memories
from tests.support.server_process import ServerProcess


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_library_database_and_home_are_owner_only(engram_home: Path, embedder) -> None:
    memory = Memory(embedder=embedder)
    try:
        memory.add("Max runs on Tuesdays", user_id="max", infer=False)
        files = [engram_home / n for n in ("engram.db", "engram.db-wal", "engram.db-shm")]
        assert all(f.exists() for f in files), list(engram_home.iterdir())
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(engram_home) == 0o700
    finally:
        memory.close()


def test_existing_world_readable_files_are_tightened(engram_home: Path, embedder) -> None:
    """Files an older version created 0644 in a 0755 home."""
    engram_home.mkdir(mode=0o755)
    Memory(embedder=embedder).close()
    for name in ("engram.db", "engram.db-wal", "engram.db-shm"):
        if (engram_home / name).exists():
            os.chmod(engram_home / name, 0o644)
    os.chmod(engram_home, 0o755)
    Memory(embedder=embedder).close()
    assert mode(engram_home) == 0o700
    assert mode(engram_home / "engram.db") == 0o600


def test_export_is_owner_only(memory: Memory, tmp_path: Path) -> None:
    memory.add("Max runs on Tuesdays", user_id="max", infer=False)
    out = tmp_path / "export.jsonl"
    export_memories(memory, out)
    assert mode(out) == 0o600


def test_server_files_are_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "server-home"
    with ServerProcess(home) as server:
        r = httpx.post(f"{server.url}/v3/memories/add/", timeout=60,
                       headers={"Authorization": f"Token {server.api_key}"},
                       json={"messages": "hi there", "user_id": "max", "infer": False})  # fmt: skip
        assert r.status_code == 200, r.text
        written = [p for p in home.iterdir() if p.name != server.log_path.name]
        names = {p.name for p in written}
        assert {"engram.db", "server.db", "server_key"} <= names, names
        assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}
        assert mode(home) == 0o700
