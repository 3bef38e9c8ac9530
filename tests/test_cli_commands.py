"""Every `engram` command through typer's runner, once as a real process, and the docs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from engram.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path))
    for name in ("ENGRAM_LLM_MODEL", "ENGRAM_DATABASE", "ENGRAM_HOST", "ENGRAM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(*args: str) -> click.testing.Result:
    return runner.invoke(app, list(args))


def run_json(*args: str) -> object:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_memory_lifecycle() -> None:
    added = run_json("add", "I want to run a marathon in under 4 hours", "--user", "max")
    goal = added["results"][0]
    assert goal["event"] == "ADD"
    run_json("add", "10x400m intervals", "--user", "max", "--run", "boston-2025", "--no-infer",
             "--metadata", '{"workout_type": "speed"}')  # fmt: skip
    found = run_json("search", "marathon goal", "--user", "max", "--limit", "1")
    assert [r["id"] for r in found["results"]] == [goal["id"]]
    by_meta = run_json("list", "--user", "max", "--filters",
                       '{"metadata": {"workout_type": "speed"}}')  # fmt: skip
    assert [r["memory"] for r in by_meta["results"]] == ["10x400m intervals"]
    assert run_json("list", "--user", "max", "--page-size", "1", "--page", "2")["count"] == 2
    run_json("update", goal["id"], "--text", "Max wants to run a sub-3:45 marathon")
    assert run_json("get", goal["id"])["memory"] == "Max wants to run a sub-3:45 marathon"
    events = [h["event"] for h in run_json("history", goal["id"])]
    assert events == ["ADD", "UPDATE"]
    stats = run_json("stats")
    assert {"type": "user", "id": "max"}.items() <= stats["entities"][0].items()
    run_json("delete", goal["id"])
    assert run_json("delete-all", "--user", "max", "--run", "boston-2025")["deleted"] == 1
    assert run_json("list", "--user", "max")["count"] == 0


def test_tables_for_people() -> None:
    run("add", "My right knee flares up on downhills", "--user", "max")
    result = run("search", "knee", "--user", "max", "--threshold", "0.1")
    assert result.exit_code == 0
    assert "right knee flares up" in result.stdout and "user=max" in result.stdout
    assert "nothing stored" in run("add", "lol ok", "--user", "max").stdout


def test_expiring_memory() -> None:
    run_json("add", "Rolled my ankle", "--user", "max", "--no-infer", "--expires", "2001-01-01")
    assert run_json("list", "--user", "max")["count"] == 0  # already past its expiry


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "nope"], "error: memory 'nope' not found"),
        (["list"], "error: get_all needs a scope"),
        (["add", "x", "--user", "max", "--metadata", "{bad"], "error: --metadata is not valid"),
        (["search", "x", "--user", "max", "--filters", '{"colour": "red"}'], "error: "),
        (["update", "some-id"], "error: update needs --text or --metadata"),
        (["keys", "revoke", "999"], "error: no active key matches '999'"),
        (["export", "out.jsonl", "--host", "http://example.invalid"], "error: this command"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_keys_create_list_revoke(home: Path) -> None:
    key = run_json("keys", "create", "--project", "coaching", "--name", "ray-app")["key"]
    assert key.startswith("eng_")
    listed = run_json("keys", "list")
    assert [(k["project_id"], k["name"]) for k in listed] == [("coaching", "ray-app")]
    assert key not in json.dumps(listed)  # only the prefix is ever shown again
    assert run("keys", "revoke", str(listed[0]["id"])).exit_code == 0
    assert run_json("keys", "list") == []
    assert run_json("keys", "list", "--all")[0]["revoked_at"]
    assert (home / "server.db").exists()


def test_export_then_import_into_another_home(home: Path, tmp_path: Path) -> None:
    run_json("add", "I prefer trail running over roads", "--user", "max")
    dump = tmp_path / "dump.jsonl"
    assert run("export", str(dump)).exit_code == 0
    other = tmp_path / "other"
    first = run("import", str(dump), "--home", str(other))
    assert first.exit_code == 0 and "imported 1" in first.stderr
    again = run("import", str(dump), "--home", str(other))
    assert "imported 0, skipped 1" in again.stderr
    copied = run_json("list", "--user", "max", "--home", str(other))
    assert [r["memory"] for r in copied["results"]] == ["Max prefers trail running over roads"]


def test_a_real_process(home: Path) -> None:
    """The installed entry points, as a user would run them."""
    env = {**os.environ, "ENGRAM_HOME": str(home)}
    add = subprocess.run(
        [sys.executable, "-m", "engram.cli", "add", "My right knee flares up on downhills",
         "--user", "max", "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(add.stdout)["results"][0]["event"] == "ADD"
    script = Path(sys.executable).with_name("engram")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "engram.cli"]
    listed = subprocess.run(
        [*command, "list", "--user", "max", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert json.loads(listed.stdout)["count"] == 1
    missing = subprocess.run([*command, "get", "nope"], capture_output=True, text=True,
                             env=env, timeout=120)  # fmt: skip
    assert missing.returncode == 1 and missing.stderr == "error: memory 'nope' not found\n"


def _commands(group: Any, prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer vendors its own click classes)
            found.update(_commands(command, f"{prefix}{name} "))
        else:
            found[f"{prefix}{name}"] = command
    return found


def test_docs_mention_every_command_and_option() -> None:
    docs = (ROOT / "docs" / "cli.md").read_text()
    root = get_command(app)
    assert {"keys create", "project update", "entities"} <= set(_commands(root))
    for name, command in {"--version": root, **_commands(root)}.items():
        assert re.search(rf"(`|engram ){re.escape(name)}\b", docs), f"docs miss `{name}`"
        for param in command.params:
            for opt in param.opts + param.secondary_opts:
                if opt.startswith("--") and opt != "--help":
                    assert opt in docs, f"docs/cli.md misses {opt} of `{name}`"


def test_project_settings_and_entities() -> None:
    categories = '[{"injuries": "pain"}]'
    updated = run_json("project", "update", "--custom-instructions", "Only running facts",
                       "--threshold", "0.2", "--custom-categories", categories)  # fmt: skip
    assert updated["custom_instructions"] == "Only running facts"
    assert run_json("project", "get", "--fields", "threshold") == {"threshold": 0.2}
    assert run_json("project", "get")["custom_categories"] == [{"injuries": "pain"}]
    bad = run("project", "update", "--threshold", "3")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: threshold")
    run_json("add", "Max runs on Sundays", "--user-id", "max", "--agent-id", "ray", "--no-infer")
    found = run_json("entities")
    assert found["count"] == 2
    assert {(e["type"], e["id"], e["total_memories"]) for e in found["results"]} == {
        ("user", "max", 1), ("agent", "ray", 1)
    }
    assert "max" in run("entities").stdout


def test_version() -> None:
    from engram import __version__

    assert run("--version").stdout == f"engram {__version__}\n"


def test_same_results_and_errors_through_a_server(home: Path) -> None:
    from tests.support.server_process import ServerProcess

    run_json("add", "Max runs on Sundays", "--user", "max", "--no-infer")
    with ServerProcess(home) as server:
        remote = ("--host", server.url, "--api-key", server.api_key)
        assert run_json("entities", *remote) == run_json("entities")
        listed = run_json("list", "--user", "max", *remote)
        assert {k: listed[k] for k in ("count", "results")} == run_json("list", "--user", "max")
        assert run_json("project", "get", *remote)["custom_instructions"] is None
        missing = run("get", "nope", *remote)
        assert missing.exit_code == 1
        assert missing.stderr == "error: HTTP 404: memory 'nope' not found\n"
