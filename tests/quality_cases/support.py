"""What the quality sets share: a factory of fresh offline memories, and result helpers."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engram.embeddings import Embedder
from engram.memory import Memory

Result = tuple[str, bool, str]
MakeMemory = Callable[[], Memory]


def memory_factory(embedder: Embedder, root: Path | None = None) -> tuple[MakeMemory, Memory]:
    """Every call returns a fresh, empty project on one temporary SQLite store. Projects share
    the models (spaCy loads once) but nothing stored: each case starts from nothing."""
    root = root or Path(tempfile.mkdtemp(prefix="engram-quality-"))
    base = Memory({"database": str(root / "quality.db")}, embedder=embedder)
    counter = itertools.count()

    def make_memory() -> Memory:
        return base.for_project(f"case-{next(counter)}")

    return make_memory, base


def results_fixture(quality_set: Any) -> Any:
    """A module-scoped `results` fixture: the set's cases run once on fresh offline memories."""

    @pytest.fixture(scope="module")
    def results(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Any:
        make_memory, base = memory_factory(embedder, tmp_path_factory.mktemp(quality_set.SET_NAME))
        yield quality_set.run(make_memory)
        base.close()

    return results


def user_turn(m: Memory, text: str, user_id: str = "max") -> list[dict[str, Any]]:
    return m.add([{"role": "user", "content": text}], user_id=user_id)["results"]


def active(m: Memory, user_id: str = "max") -> list[str]:
    return [r["memory"] for r in m.get_all(user_id=user_id)["results"]]


def accuracy(results: list[Result]) -> float:
    return sum(ok for _, ok, _ in results) / max(1, len(results))
