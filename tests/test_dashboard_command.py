"""`engram dashboard` serves the dashboard for the embedded local store and says how to
sign in; the key it points to opens it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server_process import STARTUP_TIMEOUT, free_port


def test_engram_dashboard_serves_the_local_store(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    engram = Path(sys.executable).parent / "engram"
    proc = subprocess.Popen(
        [str(engram), "dashboard", "--no-browser", "--port", str(port), "--home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/dashboard/login"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                page = httpx.get(url, timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError("engram dashboard did not answer")
        assert page.status_code == 200 and 'name="api_key"' in page.text
        key = (home / "server_key").read_text().strip()
        browser = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/dashboard/login").text)
        assert token
        signed = browser.post("/dashboard/login", data={"csrf": token.group(1), "api_key": key})
        assert signed.status_code == 303
        assert browser.get("/dashboard/memories").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, said = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/dashboard/" in said
    assert str(home / "server_key") in said
