"""Files Engram writes are its owner's alone: 0600 files in a 0700 ENGRAM_HOME.

Memories are personal data, and a database file readable by every local user would leak
them all. SQLite creates its -wal and -shm files with the database file's own mode, so
creating the database file 0600 covers them; files from older versions are tightened too.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create `path` 0700; ENGRAM_HOME is tightened even when it already exists (it is
    Engram's own), any other existing directory is left as its owner made it."""
    from engram.config import engram_home

    created = not path.exists()
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if created or path.resolve() == engram_home().resolve():
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and 0600 unless it exists; an existing one is made 0600."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE))
    _tighten(path)  # O_CREAT's mode does not apply to an existing file
    return path


def _tighten(path: Path) -> None:
    if path.stat().st_uid == os.getuid():  # another user's file is theirs to set
        os.chmod(path, FILE_MODE)


def private_sqlite(location: str | Path) -> None:
    """Before SQLite opens `location`: the file (and any -wal/-shm already there) 0600."""
    if str(location) == ":memory:" or "://" in str(location):
        return
    path = Path(location).expanduser()
    private_file(path)
    for suffix in SQLITE_COMPANIONS[1:]:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _tighten(companion)
