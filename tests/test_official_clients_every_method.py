"""Every public method of the official Mem0 clients against a live Engram server: Python
mem0ai 2.2.1 and 1.0.11 (MemoryClient, AsyncMemoryClient and their `project`, the method
list read from the installed client), the TypeScript SDK (npm mem0ai 3.3.1, driven by a
Node script) and every command of mem0-cli 0.2.13. A method no script calls fails here.

scripts/setup_official_clients.sh installs the clients (scripts/test.sh runs it; the
fixture runs it again, a no-op then); if it cannot, the test fails saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.server_process import ServerProcess

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ENGRAM_MEM0AI_VENVS") or REPO / ".cache")
SCRIPTS = Path(__file__).parent / "clients"

# The one table of methods whose server side is still being built, method -> the bullet of
# issue 12 that owns it. They run like every other method; a failure of one of these alone is
# tolerated. Empty now: webhooks, exports and feedback have landed and pass.
NOT_YET: dict[str, str] = {}


@pytest.fixture(scope="module")
def official_clients() -> Path:
    done = subprocess.run(["bash", str(REPO / "scripts" / "setup_official_clients.sh")],
                          capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "ENGRAM_MEM0AI_VENVS": str(CACHE)})  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"could not install the official clients:\n{done.stderr[-4000:]}")
    return CACHE


@pytest.fixture
def server(engram_home: Path) -> Iterator[ServerProcess]:
    with ServerProcess(engram_home, env={"ENGRAM_PURGE_SECONDS": "3600"}) as proc:
        yield proc


def client_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "MEM0_TELEMETRY": "False",
            "MEM0_DIR": str(tmp_path / ".mem0")}  # fmt: skip


def check(report: dict, log: str) -> None:
    """Every method listed was run, and passed unless NOT_YET names it."""
    results = report["results"]
    untested = [m for m in report["methods"] if m not in results]
    failed = {m: r for m, r in results.items()
              if r != "ok" and m.rsplit(".", 1)[-1] not in NOT_YET}  # fmt: skip
    tolerated = sorted(m for m, r in results.items() if r != "ok" and m not in failed)
    print("NOT_YET still failing:", tolerated)  # shown with -s: what the table still covers
    assert not untested, f"methods no script calls: {untested}"
    assert not failed, "\n\n".join(f"{m}: {r}" for m, r in failed.items()) + "\n" + log[-3000:]


@pytest.mark.parametrize("flavour", ["mem0ai-2x", "mem0ai-1x"])
def test_python_client(
    flavour: str, official_clients: Path, server: ServerProcess, tmp_path: Path
) -> None:
    python = official_clients / flavour / "bin" / "python"
    done = subprocess.run(
        [str(python), str(SCRIPTS / "mem0ai_python_every_method.py"), server.api_key, server.url],
        capture_output=True, text=True, timeout=600, env=client_env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, f"{flavour} driver crashed:\n{done.stderr[-6000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["methods"]) >= 40, report["methods"]  # both clients and their project
    check(report, server.log())


def test_typescript_sdk(official_clients: Path, server: ServerProcess, tmp_path: Path) -> None:
    done = subprocess.run(
        ["node", str(SCRIPTS / "mem0ai_ts_every_method.js"), str(official_clients / "mem0ai-ts"),
         server.api_key, server.url],
        capture_output=True, text=True, timeout=600, env=client_env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, f"the Node driver crashed:\n{done.stderr[-6000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["methods"]) >= 25, report["methods"]
    check(report, server.log())


class Cli:
    """mem0-cli 0.2.13 pointed at the server (MEM0_API_KEY, MEM0_BASE_URL), its config in
    a fresh HOME; each run's JSON output parsed when asked for."""

    def __init__(self, root: Path, server: ServerProcess, home: Path) -> None:
        self.exe = str(root / "mem0-cli" / "bin" / "mem0")
        self.env = {**client_env(home), "MEM0_API_KEY": server.api_key,
                    "MEM0_BASE_URL": server.url}  # fmt: skip

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.exe, *args], capture_output=True, text=True, timeout=120,
                              env=self.env, stdin=subprocess.DEVNULL)  # fmt: skip
        assert (done.returncode == 0) == ok, f"mem0 {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def json(self, *args: str) -> object:
        out = json.loads(self(*args, "-o", "json").stdout)
        return out["data"] if isinstance(out, dict) and "data" in out else out

    def commands(self) -> list[str]:
        """Every command `mem0 help --json` lists, groups as "event list", "entity delete"."""
        listed = json.loads(self("help", "--json").stdout)["commands"]
        return sorted(f"{name} {sub}" if sub else name for name, spec in listed.items()
                      for sub in (spec.get("subcommands") or {None: None}))  # fmt: skip


def cli_scenario(cli: Cli, server: ServerProcess, tmp: Path) -> dict[str, Callable[[], None]]:
    s: dict[str, object] = {}

    def wait(queued: object) -> list[dict]:
        event_id = (queued[0] if isinstance(queued, list) else queued)["event_id"]  # type: ignore[index]
        for _ in range(600):
            event = cli.json("event", "status", event_id)
            if event["status"] in ("SUCCEEDED", "FAILED"):  # type: ignore[index]
                assert event["status"] == "SUCCEEDED", event
                s["event"] = event_id
                return event["results"]  # type: ignore[index,no-any-return]
            time.sleep(0.1)
        raise AssertionError("event never finished")

    def init() -> None:
        out = cli("init", "--api-key", server.api_key, "--user-id", "max").stdout
        assert "Error" not in out and "saved" in out, out

    def config() -> None:
        cli("config", "set", "user_id", "max")
        assert cli("config", "get", "user_id").stdout.strip() == "max"
        shown = cli("config", "show", "-o", "json").stdout
        assert server.url in shown, shown

    def status() -> None:
        assert cli.json("status")["connected"] is True  # type: ignore[index]

    def add() -> None:
        mine = wait(cli.json("add", "I live in Berlin and I run every Tuesday.", "-u", "max",
                             "--metadata", '{"via": "cli"}'))  # fmt: skip
        s["id"] = next(r["id"] for r in mine if "Berlin" in r["data"]["memory"])
        raw = wait(cli.json("add", "Knee surgery scheduled", "-u", "max", "--no-infer",
                            "--immutable", "--expires", "2099-01-01", "--timestamp",
                            "1683504000", "--custom-categories", '[{"health": "injuries"}]'))
        s["raw"] = raw[0]["id"]
        got = cli.json("get", s["raw"])
        assert got["immutable"] is True and got["categories"] == ["health"], got  # type: ignore[index]
        assert got["created_at"].startswith("2023-05-08"), got  # type: ignore[index]
        turns = json.dumps([{"role": "user", "content": "I am allergic to peanuts."}])
        assert wait(cli.json("add", "--messages", turns, "-u", "max"))
        refused = cli("add", "x", "-u", "max", "--structured-data-schema", '{"a": 1}', ok=False)
        assert "structured_data_schema" in refused.stdout + refused.stderr

    def event_list() -> None:
        assert any(e["id"] == s["event"] for e in cli.json("event", "list"))  # type: ignore[union-attr,index]

    def event_status() -> None:
        shown = cli("event", "status", str(s["event"])).stdout
        assert "peanut" in shown.lower() and "max" in shown, shown

    def search() -> None:
        hits = cli.json("search", "where does max live", "-u", "max")
        assert any("Berlin" in h["memory"] for h in hits), hits  # type: ignore[union-attr,index]
        few = cli.json("search", "where does max live", "-u", "max", "--fields", "memory")
        assert all(set(h) <= {"id", "memory"} for h in few), few  # type: ignore[union-attr]
        health = '{"AND": [{"user_id": "max"}, {"categories": {"in": ["health"]}}]}'
        for flag in (["--show-expired"], ["--latest-only"], ["--reference-date", "2024-01-01"],
                     ["--filter", health]):
            cli.json("search", "knee", "-u", "max", *flag)

    def list_() -> None:
        listed = cli.json("list", "-u", "max", "--page", "1", "--page-size", "50")
        assert len(listed) >= 3, listed  # type: ignore[arg-type]
        health = cli.json("list", "-u", "max", "--category", "health")
        assert s["raw"] in [m["id"] for m in health], health  # type: ignore[union-attr,index]
        assert all("health" in m["categories"] for m in health), health  # type: ignore[union-attr,index]
        assert cli.json("list", "-u", "max", "--after", "2099-01-01") == []
        for flag in ("--show-expired", "--latest-only"):
            assert cli.json("list", "-u", "max", flag)

    def get() -> None:
        assert "Berlin" in cli.json("get", str(s["id"]))["memory"]  # type: ignore[index]

    def update() -> None:
        cli("update", str(s["id"]), "Max lives in Munich")
        cli("update", str(s["id"]), "--expires", "2099-02-01")
        cli("update", str(s["id"]), "--timestamp", "1683504000")
        got = cli.json("get", str(s["id"]))
        assert got["memory"] == "Max lives in Munich", got  # type: ignore[index]
        assert got["expiration_date"].startswith("2099-02-01"), got  # type: ignore[index]

    def import_() -> None:
        file = tmp / "import.json"
        file.write_text(json.dumps([{"memory": "I like rain."}, {"text": "I like snow."}]))
        cli("import", str(file), "-u", "ann")
        assert len(cli.json("list", "-u", "ann")) >= 1  # type: ignore[arg-type]

    def entity_list() -> None:
        names = {e["name"] for e in cli.json("entity", "list", "users")}  # type: ignore[union-attr,index]
        assert {"max", "ann"} <= names, names

    def entity_delete() -> None:
        cli("entity", "delete", "--user-id", "ann", "--force")
        assert cli.json("list", "-u", "ann") == []

    def delete() -> None:
        cli("delete", str(s["id"]), "--force")
        cli("get", str(s["id"]), ok=False)
        cli("delete", "--all", "-u", "max", "--dry-run")
        assert cli.json("list", "-u", "max")
        wait(cli.json("add", "I like tea.", "-u", "bob", "--no-infer"))
        wiped = cli.json("delete", "--all", "--project", "--force")
        assert wiped["deleted"] >= 3, wiped  # type: ignore[index]
        assert cli.json("entity", "list", "users") == []

    return {"init": init, "config get": config, "config set": config, "config show": config,
            "status": status, "add": add, "event list": event_list,
            "event status": event_status, "search": search, "list": list_, "get": get,
            "update": update, "import": import_, "entity list": entity_list,
            "entity delete": entity_delete, "delete": delete}  # fmt: skip


def test_mem0_cli(official_clients: Path, server: ServerProcess, tmp_path: Path) -> None:
    cli = Cli(official_clients, server, tmp_path)
    steps = cli_scenario(cli, server, tmp_path)
    commands = cli.commands()
    results: dict[str, str] = {}
    done: dict[Callable[[], None], str] = {}
    for name, step in steps.items():
        if step not in done:
            try:
                step()
                done[step] = "ok"
            except AssertionError as exc:
                done[step] = f"error: {exc}"
        results[name] = done[step]
    check({"methods": commands, "results": results}, server.log())
