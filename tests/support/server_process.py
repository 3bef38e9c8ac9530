"""Run the real Engram server as a subprocess, the way a deployment would.

    with ServerProcess(home) as server:
        client = MemoryClient(api_key=server.api_key, host=server.url)
        server.restart()  # same ENGRAM_HOME, same port: memories must survive

The home directory is the caller's (a pytest tmp_path), so a restart finds everything.
`pid_namespace=True` runs the server as PID 1 of a fresh PID namespace (`unshare`, as root),
the way a container does, so every restart is the same PID again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx

STARTUP_TIMEOUT = 90.0  # the first start loads the embedding model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(
        self,
        home: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        workers: int = 1,
        log_level: str = "warning",
        pid_namespace: bool = False,
        cwd: Path | None = None,
    ) -> None:
        self.home = Path(home)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_level = log_level  # "info" writes uvicorn's access log too
        self.extra_env = env or {}
        self.pid_namespace = pid_namespace
        # `python -m` puts the working directory first on sys.path: a server of another tree
        # (bench --compare) must start in that tree, or it imports the checkout's engram
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.home / f"server-{self.port}.log"

    @property
    def api_key(self) -> str:
        """The key the server minted on its first start (ENGRAM_HOME/server_key)."""
        if "ENGRAM_API_KEY" in self.extra_env:
            return self.extra_env["ENGRAM_API_KEY"]
        return (self.home / "server_key").read_text().strip()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
        env.update(ENGRAM_HOME=str(self.home), **self.extra_env)
        return env

    def start(self) -> Self:
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "engram.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            self.log_level,
        ]
        if self.pid_namespace:
            require_pid_namespace()
            cmd = [*UNSHARE_PID, *cmd]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.cwd)  # fmt: skip
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                # any HTTP answer (401 without a key) means uvicorn is serving
                httpx.get(f"{self.url}/v1/ping/", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not answer within {STARTUP_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def server_pid(self) -> int:
        """The server's PID as this process sees it (not unshare's, in a PID namespace)."""
        assert self.proc is not None
        if not self.pid_namespace:
            return self.proc.pid
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (graceful) or SIGKILL (a crash)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        # the server itself, never only the unshare wrapping it (if it already exited, unshare
        # follows it)
        with contextlib.suppress(ProcessLookupError, FileNotFoundError, IndexError):
            os.kill(self.server_pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self, *, kill: bool = True) -> Self:
        self.stop(kill=kill)
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# PID 1 of a new PID namespace with its own /proc; --kill-child takes the server down with
# unshare if the test dies first.
UNSHARE_PID = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]


def require_pid_namespace() -> None:
    """Fail, naming what is missing, when this machine cannot start a PID namespace."""
    try:
        done = subprocess.run([*UNSHARE_PID, "true"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise RuntimeError("`unshare` (util-linux) is missing: cannot restart as PID 1") from None
    if done.returncode != 0:
        raise RuntimeError(
            "cannot create a PID namespace (unshare --pid --fork --mount-proc needs root or"
            f" CAP_SYS_ADMIN, and a kernel allowing it): {done.stderr.strip()}"
        )


def wait_for_event(c: httpx.Client, event_id: str, timeout: float = 60) -> dict[str, object]:
    """Poll a queued add until it has succeeded or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = c.get(f"/v1/event/{event_id}/").json()
        if event["status"] in ("SUCCEEDED", "FAILED"):
            return event
        time.sleep(0.1)
    raise AssertionError(f"event {event_id} did not finish")
