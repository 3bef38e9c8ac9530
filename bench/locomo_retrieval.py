"""LoCoMo retrieval benchmark: does search hand back the turns that answer each question?

Each turn of each conversation is added as the speaker's message (user_id = speaker,
run_id = conversation), with its dialogue id in metadata. For every question (categories
1-4; 5 is unanswerable by design) we search the conversation and measure, side by side in
one run:
  hit@k        a retrieved memory comes from an evidence turn
  recall@k     the share of evidence turns retrieved
  answer@k     the share of the gold answer's words found in the retrieved texts
for `extract` (infer=True: the offline pipeline) against `raw` (infer=False: every turn as is),
under several lexical weights (search rerank) and context weights (conversation blended
into each fact's vector at add time).

    .venv/bin/python bench/locomo_retrieval.py [--conversations 5] [--k 5 10]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from engram.embeddings import make_embedder
from engram.memory import Memory

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo-dev.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "and", "of", "to", "in", "on", "at", "for", "is", "was", "her", "his"}


class Clock:
    """The conversation's own time, so created_at follows the sessions."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def session_time(text: str) -> datetime:
    # "1:56 pm on 8 May, 2023"
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def turns(conversation: dict) -> list[tuple[datetime, dict]]:
    out = []
    n = 1
    while f"session_{n}" in conversation:
        when = session_time(conversation[f"session_{n}_date_time"])
        out.extend((when, t) for t in conversation[f"session_{n}"])
        n += 1
    return out


def ingest(memory: Memory, clock: Clock, sample: dict, infer: bool) -> tuple[int, float]:
    started = time.perf_counter()
    all_turns = turns(sample["conversation"])
    for when, t in all_turns:
        clock.now = when
        text = t["text"]
        if t.get("blip_caption"):
            text += f" [shares a photo: {t['blip_caption']}]"
        memory.add(
            [{"role": "user", "content": text}],
            user_id=t["speaker"],
            run_id=sample["sample_id"],
            metadata={"dia_id": t["dia_id"]},
            infer=infer,
        )
    return len(all_turns), time.perf_counter() - started


def words(text: object) -> set[str]:
    return set(_WORD.findall(str(text).lower())) - _STOP


def score(memory: Memory, sample: dict, ks: list[int]) -> list[dict]:
    rows = []
    for qa in sample["qa"]:
        if qa["category"] not in CATEGORIES:
            continue
        started = time.perf_counter()
        found = memory.search(qa["question"], run_id=sample["sample_id"], limit=max(ks))["results"]
        latency = time.perf_counter() - started
        evidence = set(qa["evidence"])
        answer = words(qa["answer"])
        row = {"category": qa["category"], "latency": latency}
        for k in ks:
            top = found[:k]
            dia = {(r["metadata"] or {}).get("dia_id") for r in top}
            texts = words(" ".join(r["memory"] for r in top))
            row[f"hit@{k}"] = float(bool(dia & evidence))
            row[f"recall@{k}"] = len(dia & evidence) / max(1, len(evidence))
            row[f"answer@{k}"] = len(answer & texts) / max(1, len(answer))
        rows.append(row)
    return rows


def run_mode(
    mode: str, samples: list[dict], ks: list[int], weights: list[float], embedder, home: Path,
    context_weight: float,
) -> list[dict]:
    """Ingest once, then score the same store under each lexical weight."""
    clock = Clock()
    config = {"database": str(home / f"{mode}-{context_weight}.db"),
              "context_weight": context_weight}  # fmt: skip
    memory = Memory(config, embedder=embedder, clock=clock)
    label = f"{mode} ctx={context_weight:g}" if mode == "extract" else mode
    total_turns, ingest_seconds = 0, 0.0
    for sample in samples:
        n, seconds = ingest(memory, clock, sample, infer=(mode == "extract"))
        total_turns += n
        ingest_seconds += seconds
    clock.now = datetime.now(UTC)
    stored = sum(memory.get_all(run_id=s["sample_id"])["count"] for s in samples)
    results = []
    for weight in weights:
        memory.config.lexical_weight = weight
        rows = [row for sample in samples for row in score(memory, sample, ks)]
        results.append({"mode": f"{label} lex={weight:g}", "turns": total_turns,
                        "stored": stored, "ms_per_add": 1000 * ingest_seconds / total_turns,
                        "rows": rows})  # fmt: skip
    memory.close()
    return results


def mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in rows) if rows else 0.0


def report(results: list[dict], ks: list[int], console: Console) -> None:
    table = Table(title="LoCoMo dev half: retrieval (questions of categories 1-4)")
    for col in ["mode", "memories", "ms/add", "search p50 ms", *[f"{m}@{k}" for k in ks
                for m in ("hit", "recall", "answer")]]:  # fmt: skip
        table.add_column(col, justify="right")
    for r in results:
        p50 = 1000 * statistics.median(x["latency"] for x in r["rows"])
        metrics = [f"{m}@{k}" for k in ks for m in ("hit", "recall", "answer")]
        cells = [f"{mean(r['rows'], key):.3f}" for key in metrics]
        table.add_row(r["mode"], str(r["stored"]), f"{r['ms_per_add']:.1f}", f"{p50:.1f}", *cells)
    console.print(table)
    k = max(ks)
    by_cat = Table(title=f"hit@{k} by question category")
    by_cat.add_column("mode")
    for name in CATEGORIES.values():
        by_cat.add_column(name, justify="right")
    for r in results:
        cells = [mean([x for x in r["rows"] if x["category"] == c], f"hit@{k}") for c in CATEGORIES]
        by_cat.add_row(r["mode"], *[f"{v:.3f}" for v in cells])
    console.print(by_cat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--conversations", type=int, default=5)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--modes", nargs="+", default=["extract", "raw"])
    parser.add_argument("--lexical-weights", type=float, nargs="+", default=[0.0, 0.3])
    parser.add_argument("--context-weights", type=float, nargs="+", default=[0.0, 0.6])
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    samples = json.loads(args.data.read_text())[: args.conversations]
    embedder = make_embedder("local")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(m, c) for m in args.modes
                for c in (args.context_weights if m == "extract" else [0.0])]  # fmt: skip
        results = [r for m, c in runs for r in run_mode(
            m, samples, args.k, args.lexical_weights, embedder, Path(tmp), c)]  # fmt: skip
    report(results, args.k, Console(width=160))
    if args.json:
        summary = [{k: v for k, v in r.items() if k != "rows"} | {
            f"{m}@{k}": mean(r["rows"], f"{m}@{k}") for k in args.k
            for m in ("hit", "recall", "answer")} for r in results]  # fmt: skip
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(main())
