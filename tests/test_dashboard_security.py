"""The dashboard's guards, over real HTTP against a live server: CSRF tokens, escaping,
session expiry and tampering, cookie attributes, revoked keys, and project isolation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram.server.auth import create_key, key_digest, revoke_key
from engram.server.dashboard import session as sess
from tests.support.server_process import ServerProcess

XSS = "<script>alert('pwned')</script><img src=x onerror=alert(1)> likes tempo runs"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("dashboard-security")) as proc:
        yield proc


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60,
                        headers={"Authorization": f"Token {server.api_key}"})  # fmt: skip


@pytest.fixture(scope="module")
def memory_id(api: httpx.Client) -> str:
    added = api.post("/v1/memories/", json={"messages": XSS, "user_id": "max", "infer": False})
    return added.json()["results"][0]["id"]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _signed_in(server: ServerProcess, key: str | None = None) -> httpx.Client:
    browser = httpx.Client(base_url=server.url, timeout=60)
    token = _csrf(browser.get("/dashboard/login").text)
    answer = browser.post("/dashboard/login",
                          data={"csrf": token, "api_key": key or server.api_key})
    assert answer.status_code == 303, answer.text
    return browser


def test_sign_in_cookie_is_httponly_samesite_and_holds_no_key(server: ServerProcess) -> None:
    browser = httpx.Client(base_url=server.url, timeout=60)
    token = _csrf(browser.get("/dashboard/login").text)
    answer = browser.post("/dashboard/login", data={"csrf": token, "api_key": server.api_key})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(sess.COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert server.api_key not in cookie and server.api_key not in answer.headers["location"]
    page = browser.get("/dashboard/memories")
    assert page.status_code == 200
    assert browser.post("/dashboard/logout", data={"csrf": "wrong"}).status_code == 403
    out = browser.post("/dashboard/logout", data={"csrf": _csrf(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
    assert browser.get("/dashboard/memories").status_code == 303  # signed out


def test_wrong_key_is_refused(server: ServerProcess) -> None:
    browser = httpx.Client(base_url=server.url, timeout=60)
    token = _csrf(browser.get("/dashboard/login").text)
    answer = browser.post("/dashboard/login", data={"csrf": token, "api_key": "eng_wrong"})
    assert answer.status_code == 401 and sess.COOKIE not in answer.cookies
    assert browser.get("/dashboard/memories").status_code == 303  # back to sign-in


def test_forms_without_the_csrf_token_are_refused(
    server: ServerProcess, api: httpx.Client, memory_id: str
) -> None:
    browser = _signed_in(server)
    for token in (None, "", "forged-token"):
        data = {"text": "rewritten by a forged form"}
        if token is not None:
            data["csrf"] = token
        answer = browser.post(f"/dashboard/memories/{memory_id}/edit", data=data)
        assert answer.status_code == 403 and "CSRF" in answer.text
        deleted = browser.post(f"/dashboard/memories/{memory_id}/delete", data=data)
        assert deleted.status_code == 403
    assert api.get(f"/v1/memories/{memory_id}/").json()["memory"] == XSS  # untouched
    # another session's token is not this session's
    other = _signed_in(server)
    foreign = _csrf(other.get("/dashboard/memories").text)
    answer = browser.post(f"/dashboard/memories/{memory_id}/delete", data={"csrf": foreign})
    assert answer.status_code == 403
    assert api.get(f"/v1/memories/{memory_id}/").status_code == 200
    # the sign-in form needs its own token too (login CSRF)
    bare = httpx.Client(base_url=server.url, timeout=60)
    assert bare.post("/dashboard/login", data={"api_key": server.api_key}).status_code == 403


def test_memory_text_is_escaped_everywhere(server: ServerProcess, memory_id: str) -> None:
    browser = _signed_in(server)
    for path in ("/dashboard/memories", f"/dashboard/memories/{memory_id}",
                 "/dashboard/memories?q=tempo", "/dashboard/cleanup?user_id=max",
                 "/dashboard/quality"):  # fmt: skip
        page = browser.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        assert "&lt;script&gt;alert(" in page.text or path.endswith("quality"), path
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp  # and no inline script could run anyway
    hostile = browser.get("/dashboard/memories", params={"user_id": '"><script>x</script>'})
    assert "<script>x" not in hostile.text


def test_expired_or_tampered_sessions_send_you_to_sign_in(server: ServerProcess) -> None:
    secret = (server.home / sess.SECRET_FILE).read_text().strip().encode()
    digest = key_digest(server.api_key)

    def visit(cookie: str) -> httpx.Response:
        client = httpx.Client(base_url=server.url, timeout=60, cookies={sess.COOKIE: cookie})
        return client.get("/dashboard/memories")

    fresh = sess.Session(digest, int(time.time()) + 60, "nonce")
    assert visit(sess.encode(secret, fresh)).status_code == 200
    expired = sess.Session(digest, int(time.time()) - 1, "nonce")
    answer = visit(sess.encode(secret, expired))
    assert answer.status_code == 303 and "/dashboard/login" in answer.headers["location"]
    forged = sess.encode(b"not the server's secret", fresh)
    assert visit(forged).status_code == 303
    _, signature = sess.encode(secret, fresh).split(".")
    longer = sess.Session(digest, int(time.time()) + 10**8, "nonce")
    swapped = sess.encode(secret, longer).split(".")[0] + "." + signature
    assert visit(swapped).status_code == 303  # an extended expiry breaks the signature
    # and an expired session cannot act either
    client = httpx.Client(base_url=server.url, timeout=60,
                          cookies={sess.COOKIE: sess.encode(secret, expired)})  # fmt: skip
    assert client.post("/dashboard/entities/delete",
                       data={"csrf": "nonce", "kind": "user", "entity_id": "max"}
                       ).status_code == 403  # fmt: skip


def test_a_short_session_lifetime_ends_the_session(tmp_path: Path) -> None:
    env = {sess.LIFETIME_ENV: "2"}
    with ServerProcess(tmp_path / "short", env=env) as server:
        browser = _signed_in(server)
        assert browser.get("/dashboard/memories").status_code == 200
        time.sleep(3)
        assert browser.get("/dashboard/memories").status_code == 303


def test_a_revoked_key_ends_its_sessions(server: ServerProcess) -> None:
    key = create_key("short-lived", path=server.home / "server.db")
    browser = _signed_in(server, key)
    assert browser.get("/dashboard/memories").status_code == 200
    assert revoke_key(key, path=server.home / "server.db") == 1
    assert browser.get("/dashboard/memories").status_code == 303


def test_a_key_sees_only_its_project(server: ServerProcess, memory_id: str) -> None:
    key = create_key("elsewhere", path=server.home / "server.db")
    browser = _signed_in(server, key)
    assert browser.get(f"/dashboard/memories/{memory_id}").status_code == 404
    token = _csrf(browser.get("/dashboard/memories").text)
    for path, data in ((f"/dashboard/memories/{memory_id}/edit", {"text": "mine now"}),
                       (f"/dashboard/memories/{memory_id}/delete", {}),
                       ("/dashboard/quality/resolve", {"action": "delete",
                                                       "memory_id": memory_id})):  # fmt: skip
        assert browser.post(path, data={"csrf": token, **data}).status_code == 404, path
    page = browser.get("/dashboard/memories").text
    assert "tempo runs" not in page and "0 memories" in page


def test_bad_input_is_a_4xx_page_never_a_500(server: ServerProcess, memory_id: str) -> None:
    browser = _signed_in(server)
    token = _csrf(browser.get("/dashboard/memories").text)
    pages = [
        browser.get("/dashboard/memories", params={"date_from": "not a date"}),
        browser.get("/dashboard/memories", params={"meta_key": "a\x00b"}),
        browser.get("/dashboard/memories/no-such-memory"),
        browser.post(f"/dashboard/memories/{memory_id}/edit",
                     data={"csrf": token, "metadata": "{not json"}),
        browser.post(f"/dashboard/memories/{memory_id}/feedback",
                     data={"csrf": token, "feedback": "MEH"}),
        browser.post("/dashboard/settings", data={"csrf": token, "threshold": "high"}),
        browser.post("/dashboard/quality/resolve", data={"csrf": token, "action": "explode"}),
        browser.post("/dashboard/entities/delete",
                     data={"csrf": token, "kind": "planet", "entity_id": "x"}),
        browser.post("/dashboard/cleanup", data={"csrf": token, "user_id": "max",
                                                 "fingerprint": "stale"}),
    ]  # fmt: skip
    for page in pages:
        assert 400 <= page.status_code < 500, (page.request.url, page.status_code, page.text)
        assert page.headers["content-type"].startswith("text/html"), page.request.url
        assert 'class="error"' in page.text
