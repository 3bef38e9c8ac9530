"""Which offline embedder for which store: Chinese and English quality side by side.

    .venv/bin/python bench/multilingual.py [--json PATH] [--conversations 5] [--skip-locomo]

For each local embedder variant, in one run:
  chinese/*   the labelled Chinese set (tests/quality_cases/chinese.py), per case class
  <set>/all   every other labelled quality set (reconciliation, categories, junk, ...), since
              a store's embedder also drives reconciliation, categories and instructions
  locomo      English retrieval on LoCoMo's development half, bench/locomo.py's raw mode
              (every turn stored as said) with the default search; hit@k = an evidence turn
              among the top k, recall@k = the share of evidence turns among them
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.locomo as locomo_bench  # noqa: E402
from bench.quality import set_modules  # noqa: E402
from engram.embeddings import (  # noqa: E402
    Embedder,
    LocalEmbedder,
    MultilingualEmbedder,
    UniversalSentenceEmbedder,
)
from tests.quality_cases.support import memory_factory  # noqa: E402

LOCOMO = locomo_bench.DATA
VARIANTS = {
    "minilm": lambda: LocalEmbedder(),
    "e5-small-q4": lambda: MultilingualEmbedder(center=False),
    "e5-small-q4-centered": lambda: MultilingualEmbedder(),
    "use-multilingual-v3": lambda: UniversalSentenceEmbedder(),
}


def quality(embedder: Embedder, root: Path) -> dict[str, float]:
    make_memory, base = memory_factory(embedder, root)
    out: dict[str, float] = {}
    try:
        for module in set_modules():
            by_class: dict[str, list[bool]] = defaultdict(list)
            for case_class, ok, _ in module.run(make_memory):
                by_class[case_class].append(ok)
            everything = [ok for oks in by_class.values() for ok in oks]
            out[f"{module.SET_NAME}/all"] = statistics.fmean(everything)
            if module.SET_NAME == "chinese":
                out |= {f"chinese/{c}": statistics.fmean(v) for c, v in by_class.items()}
    finally:
        base.close()
    return out


def locomo(embedder: Embedder, root: Path, conversations: int) -> dict[str, float]:
    """bench/locomo.py's raw mode with the default search, on this embedder."""
    samples = json.loads(LOCOMO.read_text())[:conversations]
    (run,) = locomo_bench.run_mode("raw", samples, ["default (threshold)"], embedder, root)
    summary = run.summary()
    return {f"locomo {m}": summary[m] for m in ("hit@5", "hit@10", "recall@5", "recall@10")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--conversations", type=int, default=5)
    parser.add_argument("--skip-locomo", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for name in args.variants:
        embedder = VARIANTS[name]()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            row = {} if args.skip_quality else quality(embedder, Path(tmp))
            if not args.skip_locomo:
                row |= locomo(embedder, Path(tmp), args.conversations)
        row["seconds"] = time.perf_counter() - started
        results[name] = row
        print(f"{name}: done in {row['seconds']:.0f} s", file=sys.stderr, flush=True)
    metrics = sorted({m for row in results.values() for m in row if m != "seconds"})
    print("| metric | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for metric in [*metrics, "seconds"]:
        cells = [f"{row.get(metric, float('nan')):.3f}" for row in results.values()]
        print(f"| {metric} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
