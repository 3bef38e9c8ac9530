"""Accuracy of the offline pipeline on the labelled quality sets (issue 8).

    python bench/quality.py [--json] [--set NAME] [--misses]

Runs every module in tests/quality_cases/ that has `run(make_memory)` and prints accuracy
per set and per case class, as a markdown table (or JSON with `--json`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.quality_cases as quality_cases
from engram.embeddings import make_embedder
from tests.quality_cases.support import Result, memory_factory


def set_modules(only: str | None = None) -> list[ModuleType]:
    modules = []
    for info in pkgutil.iter_modules(quality_cases.__path__):
        module = importlib.import_module(f"{quality_cases.__name__}.{info.name}")
        if hasattr(module, "run") and (only is None or only == module.SET_NAME):
            modules.append(module)
    return modules


def summarize(name: str, results: list[Result]) -> list[dict[str, object]]:
    by_class: dict[str, list[bool]] = defaultdict(list)
    for case_class, ok, _ in results:
        by_class[case_class].append(ok)
    rows = [_row(name, c, oks) for c, oks in by_class.items()]
    rows.append(_row(name, "all", [ok for _, ok, _ in results]))
    return rows


def _row(name: str, case_class: str, oks: list[bool]) -> dict[str, object]:
    return {"set": name, "class": case_class, "passed": sum(oks), "cases": len(oks),
            "accuracy": round(sum(oks) / max(1, len(oks)), 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--set", help="run only this set")
    parser.add_argument("--misses", action="store_true", help="print every failed case")
    args = parser.parse_args()
    make_memory, base = memory_factory(make_embedder("local"))
    rows, misses = [], []
    start = time.perf_counter()
    for module in set_modules(args.set):
        results = module.run(make_memory)
        rows.extend(summarize(module.SET_NAME, results))
        misses.extend(f"{module.SET_NAME}/{c}: {d}" for c, ok, d in results if not ok)
    base.close()
    seconds = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps({"rows": rows, "seconds": seconds, "misses": misses}, indent=2))
        return
    print("| set | class | passed | cases | accuracy |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['class']} | {r['passed']} | {r['cases']} | {r['accuracy']:.1%} |")
    print(f"\n{seconds} s")
    if args.misses:
        print("\n".join(misses))


if __name__ == "__main__":
    main()
