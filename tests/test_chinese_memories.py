"""The labelled Chinese set (tests/quality_cases/chinese.py) through the offline pipeline,
on a store configured as a Chinese deployment would be: the multilingual embedder."""

from __future__ import annotations

import pytest

from engram.embeddings import make_embedder
from tests.quality_cases import chinese
from tests.quality_cases.support import accuracy, memory_factory


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> list[tuple[str, bool, str]]:
    embedder = make_embedder("local", model="multilingual")
    make_memory, base = memory_factory(embedder, tmp_path_factory.mktemp("chinese"))
    try:
        return chinese.run(make_memory)
    finally:
        base.close()


def test_chinese_cases(results) -> None:
    misses = "\n".join(detail for _, ok, detail in results if not ok)
    assert len(results) >= 40
    assert accuracy(results) >= 0.9, misses


def test_chinese_search_cases(results) -> None:
    search = [r for r in results if r[0] == "search"]
    assert len(search) >= 20
    assert accuracy(search) >= 0.8, "\n".join(d for _, ok, d in search if not ok)


def test_extraction_does_not_depend_on_the_embedder(embedder, tmp_path) -> None:
    """The default (English) embedder still extracts Chinese facts; only search needs the
    multilingual one."""
    make_memory, base = memory_factory(embedder, tmp_path)
    try:
        extraction = [r for r in chinese.run(make_memory) if not r[0].startswith("search")]
    finally:
        base.close()
    assert accuracy(extraction) >= 0.9, "\n".join(d for _, ok, d in extraction if not ok)
