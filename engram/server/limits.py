"""Request limits: a body over the limit is refused with 413 before it reaches a route, and
secrets sent in a URL never reach the access log."""

from __future__ import annotations

import json
import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413, whether or not Content-Length is honest.

    The body is read here, up to the limit, and replayed to the app: a chunked body that
    grows past the limit is then a 413 too (raised inside the app's own read, FastAPI
    turned it into a 400 "error parsing the body")."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            return await self._reject(send)
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return await self.app(scope, _replay([message], receive), send)
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                return await self._reject(send)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body exceeds {self.max_bytes} bytes",
                           "field": "body", "error": "InvalidInputError"}).encode()  # fmt: skip
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed


# A query parameter that may carry a credential (some clients send ?api_key=...), and any
# Engram key wherever it appears in a URL.
_SECRET_PARAM = re.compile(r"(?i)([?&][^=&]*(?:key|token|secret|password|auth)[^=&]*=)[^&\s]*")
_ENGRAM_KEY = re.compile(r"eng_[A-Za-z0-9_\-]{8,}")


def redact_url(text: str) -> str:
    return _ENGRAM_KEY.sub("eng_[redacted]", _SECRET_PARAM.sub(r"\1[redacted]", text))


class RedactSecrets(logging.Filter):
    """Uvicorn's access log writes the path with its query string: redact credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())
