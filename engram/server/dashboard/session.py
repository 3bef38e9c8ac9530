"""Dashboard sign-in: a signed, expiring session cookie, and CSRF tokens for its forms.

The cookie holds the SHA-256 of the API key the person signed in with (never the key), an
expiry and a CSRF nonce, signed with HMAC-SHA256. Every request verifies the digest again
against the key store, so a revoked key ends its sessions at once. The cookie is HttpOnly
and SameSite=Strict (Secure over HTTPS); forms carry the nonce, checked on every POST.

The signing secret is ENGRAM_DASHBOARD_SECRET, else a random one kept in
ENGRAM_HOME/dashboard_secret (0600), shared by the server's worker processes. Servers on
several hosts need the environment variable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from engram.config import engram_home
from engram.private import private_dir

COOKIE = "engram_session"
LOGIN_COOKIE = "engram_login_csrf"  # double-submit token of the sign-in form
SECRET_ENV = "ENGRAM_DASHBOARD_SECRET"
SECRET_FILE = "dashboard_secret"
LIFETIME_ENV = "ENGRAM_DASHBOARD_SESSION_SECONDS"
DEFAULT_LIFETIME = 8 * 3600  # a working day


@dataclass(frozen=True)
class Session:
    key_digest: str
    expires: int  # unix seconds
    csrf: str


def lifetime() -> int:
    return int(os.environ.get(LIFETIME_ENV) or DEFAULT_LIFETIME)


def load_secret(home: Path | None = None) -> bytes:
    """The signing secret: from the environment, else a file created once (O_EXCL, so
    workers starting together agree on one)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode()
    path = (home or engram_home()) / SECRET_FILE
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker may be writing it this instant
            value = path.read_text().strip()
            if value:
                return value.encode()
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def encode(secret: bytes, session: Session) -> str:
    body = _b64(json.dumps({"k": session.key_digest, "e": session.expires,
                            "c": session.csrf}).encode())  # fmt: skip
    return f"{body}.{_sign(secret, body)}"


def decode(secret: bytes, value: str | None, now: float | None = None) -> Session | None:
    """The session in a cookie, or None when it is missing, tampered with or expired."""
    if not value or value.count(".") != 1:
        return None
    body, signature = value.split(".")
    if not hmac.compare_digest(signature, _sign(secret, body)):
        return None
    try:
        data = json.loads(_unb64(body))
        session = Session(str(data["k"]), int(data["e"]), str(data["c"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > (now or time.time()) else None


def new_session(key_digest: str) -> Session:
    return Session(key_digest, int(time.time()) + lifetime(), secrets.token_urlsafe(24))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))
