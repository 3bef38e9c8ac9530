"""The labelled Chinese set (tests/quality_cases/chinese.py) through the offline pipeline."""

from __future__ import annotations

from tests.quality_cases import chinese
from tests.quality_cases.support import accuracy, memory_factory


def test_chinese_cases(embedder, tmp_path) -> None:
    make_memory, base = memory_factory(embedder, tmp_path)
    try:
        results = [r for r in chinese.run(make_memory) if r[0] != "search"]
    finally:
        base.close()
    misses = "\n".join(detail for _, ok, detail in results if not ok)
    assert len(results) >= 40
    assert accuracy(results) >= 0.9, misses
