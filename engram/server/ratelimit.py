"""Per-key rate limits: N requests per window of S seconds for each API key.

Off unless configured: `ENGRAM_RATE_LIMIT=600/60` (every key), and per key with
`engram keys limit PREFIX 100/60` (a key's own limit wins; `off` lifts it). Counts are kept
in the server's database (fixed windows aligned to the epoch), so every worker process and,
with PostgreSQL, every host counts against the same budget. A request without a key is
counted by its client address.

Every limited answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (seconds until the window ends); a request over the limit is refused
with 429, `Retry-After` (seconds) and the JSON error body (`RateLimitError`, `retry_after`),
as the official clients read them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engram.errors import InvalidInputError
from engram.server.state import StateSchema, open_state
from engram.stores.migrations import Migration

ENV = "ENGRAM_RATE_LIMIT"

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_windows (
    key TEXT NOT NULL, slot INTEGER NOT NULL, hits INTEGER NOT NULL,
    PRIMARY KEY (key, slot)
);
CREATE TABLE IF NOT EXISTS key_rate_limits (
    prefix TEXT PRIMARY KEY, requests INTEGER NOT NULL, seconds INTEGER NOT NULL
);
"""
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS {rate_windows} (
    key text COLLATE "C" NOT NULL, slot bigint NOT NULL, hits integer NOT NULL,
    PRIMARY KEY (key, slot)
);
CREATE TABLE IF NOT EXISTS {key_rate_limits} (
    prefix text COLLATE "C" PRIMARY KEY, requests integer NOT NULL, seconds integer NOT NULL
);
"""
_HIT = (
    "INSERT INTO {rate_windows} (key, slot, hits) VALUES (?, ?, 1)"
    " ON CONFLICT (key, slot) DO UPDATE SET hits = {rate_windows}.hits + 1 RETURNING hits"
)

SCHEMA = StateSchema(
    "rate_limits", sqlite=[Migration(1, _SQLITE_SCHEMA)], postgres=[Migration(1, _POSTGRES_SCHEMA)]
)


@dataclass(frozen=True)
class Limit:
    requests: int
    seconds: int

    @classmethod
    def parse(cls, text: str, field: str = "rate_limit") -> Limit:
        """'100/60' is 100 requests per 60 s; '100' is per minute."""
        count, _, window = text.strip().partition("/")
        try:
            limit = cls(int(count), int(window or 60))
        except ValueError:
            limit = cls(0, 0)
        if limit.requests < 1 or limit.seconds < 1:
            raise InvalidInputError(f"{field}: expected REQUESTS/SECONDS such as 600/60, "
                                    f"got {text!r}", field=field)  # fmt: skip
        return limit

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [(b"x-ratelimit-limit", str(self.limit).encode()),
               (b"x-ratelimit-remaining", str(self.remaining).encode()),
               (b"x-ratelimit-reset", str(self.reset).encode())]  # fmt: skip
        if not self.allowed:
            out.append((b"retry-after", str(self.reset).encode()))
        return out


class RateLimiter:
    """The counters and per-key limits, in the server's state database."""

    RELOAD_SECONDS = 5.0  # a key's new limit applies within this long, on every server

    def __init__(self, location: Path | str, default: Limit | None) -> None:
        self._db = open_state(location, SCHEMA)
        self.default = default
        self._per_key: list[tuple[str, Limit | None]] = []
        self._loaded_at = -math.inf

    def close(self) -> None:
        self._db.close()

    def unlimited(self, key: str | None) -> bool:
        """Whether no limit applies to `key`, as the per-key limits read lately say (no
        database read: a request it clears needs no count, nor a thread to count it on)."""
        fresh = time.monotonic() - self._loaded_at <= self.RELOAD_SECONDS
        return fresh and self._limit(key) is None

    def limit_for(self, key: str | None) -> Limit | None:
        """The key's own limit (the longest matching prefix), else the server's."""
        if time.monotonic() - self._loaded_at > self.RELOAD_SECONDS:
            rows = self._db.execute("SELECT prefix, requests, seconds FROM {key_rate_limits}")
            self._per_key = sorted(((p, Limit(r, s) if r > 0 else None) for p, r, s in rows),
                                   key=lambda item: -len(item[0]))  # fmt: skip
            self._loaded_at = time.monotonic()
        return self._limit(key)

    def _limit(self, key: str | None) -> Limit | None:
        for prefix, limit in self._per_key:
            if key and key.startswith(prefix):
                return limit
        return self.default

    def hit(self, key: str | None, client: str) -> Verdict | None:
        """Count one request; None when no limit applies."""
        limit = self.limit_for(key)
        if limit is None:
            return None
        now = time.time()
        window = int(now // limit.seconds)
        who = "key:" + hashlib.sha256(key.encode()).hexdigest() if key else f"addr:{client}"
        ((hits,),) = self._db.execute(_HIT, (f"{who}:{limit}", window))
        if random.random() < 0.01:  # now and then, forget windows long gone
            self._db.execute("DELETE FROM {rate_windows} WHERE slot < ?", (window - 1,))
        reset = max(1, math.ceil((window + 1) * limit.seconds - now))
        return Verdict(hits <= limit.requests, limit.requests,
                       max(0, limit.requests - hits), reset)  # fmt: skip

    def set_key_limit(self, prefix: str, limit: Limit | None) -> None:
        """Give keys starting with `prefix` their own limit (None: unlimited)."""
        requests, seconds = (limit.requests, limit.seconds) if limit else (0, 0)
        self._db.execute(
            "INSERT INTO {key_rate_limits} (prefix, requests, seconds) VALUES (?, ?, ?)"
            " ON CONFLICT (prefix) DO UPDATE SET requests = excluded.requests,"
            " seconds = excluded.seconds",
            (prefix, requests, seconds),
        )

    def clear_key_limit(self, prefix: str) -> int:
        rows = self._db.execute(
            "DELETE FROM {key_rate_limits} WHERE prefix = ? RETURNING prefix", (prefix,)
        )
        return len(rows)


def default_limit() -> Limit | None:
    text = os.environ.get(ENV, "").strip()
    return Limit.parse(text, ENV) if text and text.lower() != "off" else None


class RateLimit:
    """ASGI middleware: counts each request against its key's limit, answers 429 when over,
    and adds the X-RateLimit-* headers to every answer it limited. The limiter is the
    running server's (`app.state.server.limiter`), opened with the server's other tables."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = getattr(scope.get("app").state, "server", None) if scope.get("app") else None
        limiter = getattr(server, "limiter", None)
        if scope["type"] != "http" or limiter is None:
            return await self.app(scope, receive, send)
        key = _token(scope["headers"])
        if limiter.unlimited(key):  # the usual case: no limit configured
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        verdict = await anyio.to_thread.run_sync(limiter.hit, key, client)
        if verdict is None:
            return await self.app(scope, receive, send)
        if not verdict.allowed:
            return await _refuse(send, verdict)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  *verdict.headers()]}  # fmt: skip
            await send(message)

        await self.app(scope, receive, with_headers)


def _token(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() in ("token", "bearer") and token.strip():
                return token.strip()
    return None


async def _refuse(send: Send, verdict: Verdict) -> None:
    body = json.dumps({
        "detail": f"rate limit exceeded: {verdict.limit} requests per window; "
                  f"retry after {verdict.reset} s",
        "field": None, "error": "RateLimitError", "retry_after": verdict.reset,
    }).encode()  # fmt: skip
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *verdict.headers()]  # fmt: skip
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def limit_key(prefix: str, value: str, *, path: Path | None = None) -> str:
    """`engram keys limit`: give keys starting with `prefix` their own limit ('100/60'),
    none ('off'), or the server's ('default'). Uses the server's store for the settings."""
    from engram.server.state import state_location

    limiter = RateLimiter(path or state_location(), None)
    try:
        if value == "default":
            limiter.clear_key_limit(prefix)
            return "default"
        limit = None if value == "off" else Limit.parse(value, "limit")
        limiter.set_key_limit(prefix, limit)
        return str(limit) if limit else "off"
    finally:
        limiter.close()
