"""`engram demo` tells the whole story of Ray and Max, offline, and every promise holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from engram.cli import app


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path / "untouched"))
    for name in ("ENGRAM_LLM_MODEL", "ENGRAM_DATABASE", "ENGRAM_HOST"):
        monkeypatch.delenv(name, raising=False)


def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--plain", "--home", str(tmp_path / "demo")])
    text = result.output
    assert result.exit_code == 0, text
    assert "\x1b[" not in text  # --plain: no colour codes in CI logs
    for title in ("Day one", "The app restarts", "Day two", "Noise filtering",
                  "Search by category", "Agent persona memory", "Memories that expire",
                  "A goal that changes", "Two agents, one user", "run_id isolation",
                  "Clean-up"):  # fmt: skip
        assert title in text
    # what was stored, skipped and retrieved along the way
    assert "Max wants to run a marathon in under 4 hours" in text
    assert "stored: nothing (no durable fact" in text
    assert "Max prefers trail running over roads" in text
    assert "UPDATE" in text and "sub-3:45" in text
    assert '"workout_type": "speed"' in text
    assert "offline responder" in text
    assert "MISS" not in text
    summary = text.strip().splitlines()[-1]
    met, total = summary.split()[0].split("/")
    assert met == total and int(total) >= 15
    assert (tmp_path / "demo" / "engram.db").exists()
    assert not (tmp_path / "untouched").exists()  # --home was used, not ENGRAM_HOME


def test_demo_defaults_to_a_temporary_home(tmp_path: Path) -> None:
    from engram.demo import run_demo

    checks = run_demo(plain=True)
    assert checks and all(ok for _, ok in checks)
    assert not (tmp_path / "untouched").exists()
