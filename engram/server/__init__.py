"""Engram's REST server: Mem0's hosted API over a self-hosted store.

python -m engram.server --host 127.0.0.1 --port 8765 --workers 1 --database PATH
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_DEFAULT_WORKERS = 4
APP_FACTORY = "engram.server.app:app_from_env"


def default_workers(database: str | None = None) -> int:
    """One worker process per core (up to MAX_DEFAULT_WORKERS): both stores are shared by
    processes (SQLite in WAL mode, PostgreSQL), and one process runs Python one thread at a
    time. An in-memory SQLite database lives in one process, so it gets one."""
    if database == ":memory:":
        return 1
    return max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int | None = None,
    database: str | None = None,
    log_level: str = "info",
) -> None:
    """Run the server in the foreground (the `engram serve` CLI calls this); `workers`
    defaults to `default_workers`."""
    import uvicorn

    from engram.config import MemoryConfig
    from engram.server.auth import KeyStore
    from engram.server.concurrency import WORKER_CORES_ENV
    from engram.server.http_protocol import IMPORT_PATH as HTTP_PROTOCOL
    from engram.server.state import state_location

    os.umask(0o077)  # whatever the server or a library under it writes is owner-only
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if database:
        # workers are separate processes: they read the database from the environment
        os.environ["ENGRAM_DATABASE"] = database
    # Mint the first key here, once, before any worker starts (workers would race for it).
    # With PostgreSQL the keys are shared: only the first server of all hosts mints one.
    keys = KeyStore(state_location(MemoryConfig()))
    try:
        keys.bootstrap()
    finally:
        keys.close()
    workers = workers or default_workers(database or os.environ.get("ENGRAM_DATABASE"))
    # Each worker process runs its own embedding model: N workers with a thread per core
    # each would run N times more model threads than there are cores.
    cores = str(max(1, (os.cpu_count() or 1) // workers))  # each worker's share
    os.environ.setdefault("ENGRAM_EMBEDDING_THREADS", cores)
    os.environ[WORKER_CORES_ENV] = cores  # engram.server.concurrency
    options: dict[str, Any] = dict(
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        http=HTTP_PROTOCOL,  # TCP_NODELAY on every connection, whoever bound the socket
    )
    if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):  # Windows: uvicorn's shared socket
        uvicorn.run(APP_FACTORY, **options)
        return
    from uvicorn.supervisors import Multiprocess

    from engram.server.worker_sockets import PerWorkerSocket

    config = uvicorn.Config(APP_FACTORY, **options)  # configures uvicorn's logging
    try:
        sock = PerWorkerSocket.open(host, port)  # each worker listens on its own socket
    except OSError as exc:  # the port is taken, or the host is not ours
        logging.getLogger("uvicorn.error").error("cannot listen on %s:%d: %s", host, port, exc)
        raise SystemExit(1) from exc
    logging.getLogger("uvicorn.error").info(
        "Engram serving on http://%s:%d with %d workers", host, port, workers
    )
    Multiprocess(config, sockets=[sock]).run()


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "default_workers", "serve"]
