"""A real HTTP server that receives webhook calls, as an app would, for the tests.

    with Receiver(secret_for=lambda: secret, fail_first=2) as rx:
        ... rx.url ...
        rx.wait_for(lambda got: len(got) >= 3)

It answers 500 to the first `fail_first` calls of each delivery id, then 200; with `hang`
set, it holds the first call open until `release()` (a server killed mid-delivery). Every
call is kept (`calls`), with whether its signature verified; `delivered()` is the receiver's
own dedupe: the accepted calls, one per delivery id.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from engram.server.webhooks import verify_signature


@dataclass
class Call:
    delivery_id: str
    event_type: str
    body: dict[str, Any]
    signed: bool
    answered: int


class Receiver:
    def __init__(self, secret_for: Callable[[], str], *, fail_first: int = 0,
                 hang: bool = False) -> None:  # fmt: skip
        self.secret_for, self.fail_first, self.hang = secret_for, fail_first, hang
        self.calls: list[Call] = []
        self.lock = threading.Condition()
        self.hanging = threading.Event()  # set when the held call arrived
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = rx._answer(dict(self.headers.items()), raw)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender died while we held the call
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _answer(self, headers: dict[str, str], raw: bytes) -> int:
        delivery = headers.get("X-Engram-Delivery", "")
        with self.lock:
            seen = sum(1 for c in self.calls if c.delivery_id == delivery)
            first_ever = not self.calls
        if self.hang and first_ever:
            self.hanging.set()
            self._release.wait(60)
            status = 503  # the sender is gone: this call settles nothing
        else:
            status = 500 if seen < self.fail_first else 200
        signed = verify_signature(self.secret_for(), headers, raw)
        call = Call(delivery, headers.get("X-Engram-Event", ""), json.loads(raw), signed, status)
        with self.lock:
            self.calls.append(call)
            self.lock.notify_all()
        return status

    def release(self) -> None:
        self._release.set()

    def delivered(self) -> dict[str, Call]:
        """The receiver's dedupe: one accepted call per delivery id."""
        with self.lock:
            return {c.delivery_id: c for c in self.calls if c.answered == 200}

    def wait_for(self, done: Callable[[dict[str, Call]], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not done({c.delivery_id: c for c in self.calls if c.answered == 200}):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"webhook calls never arrived; got {self.calls}")
                self.lock.wait(min(left, 0.5))

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
