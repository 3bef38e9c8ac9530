"""Requests on a kept-alive connection answer at once: the server turns Nagle's algorithm off
on every connection, also when uvicorn binds the socket for several workers (there it left
TCP_NODELAY unset, and each request after a connection's first waited ~40 ms for the
client's delayed ACK)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import statistics
import time
from pathlib import Path

from engram.server.http_protocol import set_nodelay
from tests.support.server_process import ServerProcess

# Linux delays an ACK by at least 40 ms; a ping is ~2 ms. Far apart, so load cannot blur them.
DELAYED_ACK_MS = 40


def accepted_nodelay(fix: bool) -> int:
    """TCP_NODELAY of a connection accepted on a listener bound as uvicorn's workers bind it
    (proto 0), with or without `set_nodelay`."""

    async def main() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                if fix:
                    set_nodelay(transport)
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto left at 0
        listener.bind(("127.0.0.1", 0))
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    return asyncio.run(main())


def test_a_connection_on_a_proto_0_listener_gets_tcp_nodelay() -> None:
    assert accepted_nodelay(fix=False) == 0  # asyncio leaves it off: what the fix is for
    assert accepted_nodelay(fix=True) != 0


def test_two_workers_answer_kept_alive_requests_without_the_delayed_ack(
    engram_home: Path,
) -> None:
    env = {"ENGRAM_API_KEY": "eng_keepalive_test_key_0123456789abcdef"}
    with ServerProcess(engram_home, env=env, workers=2) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        headers = {"Authorization": f"Token {server.api_key}"}
        took = []
        for _ in range(12):  # one connection: every request after the first reuses it
            started = time.perf_counter()
            conn.request("GET", "/v1/ping/", headers=headers)
            response = conn.getresponse()
            response.read()
            took.append(1000 * (time.perf_counter() - started))
            assert response.status == 200
        conn.close()
    assert statistics.median(took[1:]) < DELAYED_ACK_MS / 2, took
