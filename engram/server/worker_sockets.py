"""A listening socket per worker process, so the kernel spreads connections over the workers.

uvicorn's multi-worker mode binds one socket and hands it to every worker: they share one
accept queue, and asyncio accepts everything queued when it wakes (up to the backlog). Eight
kept-alive connections that arrive together all land in the first worker to wake, and stay
there: measured with `bench/serve.py --workers 2`, one worker used 36 s of CPU and the other
1.3 s. With SO_REUSEPORT each worker listens on its own socket and the kernel assigns every
new connection to one of them by a hash of its addresses.

The parent binds a socket with SO_REUSEPORT itself (it holds the port and fails fast if the
port is taken; it never listens, so it takes no connections). Each worker receives it
pickled, as uvicorn's spawned workers receive their sockets, and unpickling binds a new
socket to the same address in the worker: a worker uvicorn starts again after a crash gets
its own socket the same way.
"""

from __future__ import annotations

import socket
from typing import Any


def bound_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT, not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class PerWorkerSocket(socket.socket):
    """The parent's bound socket; each process that unpickles it binds its own to the same
    address (`multiprocessing` looks its socket reducer up by exact type, so this subclass
    is pickled by `__reduce__`, not as a shared file descriptor)."""

    @classmethod
    def open(cls, host: str, port: int) -> PerWorkerSocket:
        sock = bound_socket(host, port)
        return cls(sock.family, sock.type, fileno=sock.detach())

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        host, port = self.getsockname()[:2]
        return bound_socket, (host, port)
