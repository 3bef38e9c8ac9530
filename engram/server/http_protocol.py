"""uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

With several workers, uvicorn binds the listening socket itself and leaves its `proto` at 0;
accepted sockets inherit it, and asyncio only sets TCP_NODELAY when `proto` is IPPROTO_TCP
(Kludex/uvicorn#3149, open in uvicorn 0.54). A response then goes out as headers and body
in two writes, the body waits for the client's delayed ACK, and every request on a kept-alive
connection (what httpx and the mem0ai clients do) took ~44 ms instead of ~4 (measured with
`engram serve` on 2 workers: /v1/ping/ 44 ms per request over one connection, 3-5 ms each
on fresh ones). Setting the option per connection works whoever bound the socket.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

#: What `uvicorn.run(http=...)` takes: an import string, so worker processes import it too.
IMPORT_PATH = "engram.server.http_protocol:NoDelayHTTPProtocol"


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP transport's socket (a no-op on Unix sockets)."""
    sock: Any = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """The protocol uvicorn would pick (httptools if installed, else h11), with TCP_NODELAY."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
