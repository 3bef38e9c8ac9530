"""Connections that arrive together are spread over the server's workers.

uvicorn hands its workers one shared listening socket, and the first worker to wake accepted
every queued connection: a pool of kept-alive connections (httpx, the mem0ai clients) then
sent all its requests to one process while the others idled. Each worker now listens on its
own SO_REUSEPORT socket and the kernel spreads the connections.
"""

from __future__ import annotations

import http.client
import socket
import time
from pathlib import Path

import psutil

from tests.support.server_process import ServerProcess

CONNECTIONS = 16  # all on one of two workers by chance: 2 in 65,536


def workers_of(server: ServerProcess) -> list[psutil.Process]:
    return [p for p in psutil.Process(server.server_pid).children() if is_worker(p)]


def is_worker(process: psutil.Process) -> bool:
    # a short-lived helper child (gone, or exited and not yet reaped) has no command line to read
    try:
        return "spawn_main" in " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return False


def listening(worker: psutil.Process, port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
               for c in worker.net_connections(kind="tcp"))  # fmt: skip


def wait_until_all_listen(server: ServerProcess, count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = workers_of(server)
        if len(workers) == count and all(listening(w, server.port) for w in workers):
            return workers
        time.sleep(0.2)
    raise AssertionError(f"{count} workers did not all listen within 60 s:\n{server.log()}")


def test_connections_opened_together_reach_every_worker(engram_home: Path) -> None:
    env = {"ENGRAM_API_KEY": "eng_share_connections_key_0123456789ab"}
    with ServerProcess(engram_home, env=env, workers=2) as server:
        workers = wait_until_all_listen(server, 2)
        # opened at once, before any request: they all wait in the kernel's accept queue(s)
        conns = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(CONNECTIONS)]
        try:
            for sock in conns:
                http_conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                http_conn.sock = sock
                http_conn.request(
                    "GET", "/v1/ping/", headers={"Authorization": f"Token {server.api_key}"}
                )
                assert http_conn.getresponse().status == 200
            ports = {s.getsockname()[1] for s in conns}
            held = [
                sum(bool(c.raddr) and c.raddr.port in ports for c in w.net_connections(kind="tcp"))
                for w in workers
            ]
        finally:
            for sock in conns:
                sock.close()
    assert sum(held) == CONNECTIONS
    assert min(held) > 0, f"connections per worker: {held}"
