"""LoCoMo retrieval benchmark: does search hand back the turns that answer each question?

Two ways to store each conversation (run_id = the conversation, user_id = the speaker):
  raw      each session's turns in one `add(infer=False)`: every turn stored as given, as its
           transcript line "Speaker: text"
  extract  each session through `add(infer=True)` once per speaker (their turns as the user's,
           the other's as the assistant's), with `timestamp` = the session's date
Every turn carries its dia_id as `message_id`, so a memory's `sources` (provenance) say which
turns it came from. For every answerable question (categories 1-4) each search variant runs
on the same store, side by side:
  recall@k   evidence recall: the share of the question's evidence turns among the sources
             of the top k
  hit@k      at least one evidence turn among them
  answer@k   the share of the gold answer's words found in the top k (text and date)
plus memories stored, ms per add, search p50/p95, and the prompt tokens (characters / 4) the
top k memories take against the whole conversation.

    .venv/bin/python bench/locomo.py                     # dev half, 5 conversations: 35 min
                                                         # on 2 busy vCPUs
    .venv/bin/python bench/locomo.py --conversations 2 --modes raw   # quick iteration
    .venv/bin/python bench/locomo.py --products fp32 integer         # the embedder's two paths
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import engram.memory
import engram.ranking
import engram.stores.sql
from engram.embeddings import LocalEmbedder, make_embedder
from engram.memory import Memory
from engram.stores.base import Query

# the data sits in shared/ beside the checkout (or beside a worktree's parent)
DATA = next((p / "shared" / "data" / "locomo" / "locomo-dev.json"
             for p in Path(__file__).resolve().parents
             if (p / "shared" / "data" / "locomo").is_dir()), Path("locomo-dev.json"))  # fmt: skip
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (1, 5, 10)
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "and", "of", "to", "in", "on", "at", "for", "is", "was", "her", "his"}

# name -> search options; "today" is the search before issue 13 (see `today_search`)
VARIANTS: dict[str, dict[str, Any]] = {
    "today": {},
    "vector only": {"keyword_search": False, "rerank": False, "threshold": 0.0},
    "vector + score": {"keyword_search": False, "rerank": True, "threshold": 0.0},
    "hybrid, RRF order": {"keyword_search": True, "rerank": False, "threshold": 0.0},
    "hybrid + score": {"keyword_search": True, "rerank": True, "threshold": 0.0},
    "hybrid + score, one keyword query": {"threshold": 0.0, "_keyword_list_per_term": False},
    "hybrid + score, no context words": {"threshold": 0.0, "_ranking.keyword_sources": "none"},
    "hybrid + score, no time": {"threshold": 0.0, "_time_candidates": False,
                                "_ranking.time_weight": 0.0},
    "hybrid + score, time candidates, no time weight": {"threshold": 0.0,
                                                        "_ranking.time_weight": 0.0},
    "hybrid + score, time weight 0.4": {"threshold": 0.0, "_ranking.time_weight": 0.4},
    "default, pools of 50": {"_search_pool_factor": 5, "_search_pool_min": 50},
    "default, pools of 150": {"_search_pool_factor": 15, "_search_pool_min": 150},
    "default, pools of 200": {"_search_pool_factor": 20, "_search_pool_min": 200},
    "default, keyword lists of 10": {"_keyword_list_min": 10},
    "default, words in over half skipped": {"_sql.common_term_min_memories": 1000,
                                            "_sql.common_term_percent": 50},
    "default, words in over 10% skipped": {"_sql.common_term_min_memories": 100,
                                           "_sql.common_term_percent": 10},
    "default, words in over 20% skipped": {"_sql.common_term_min_memories": 100,
                                           "_sql.common_term_percent": 20},
    "default (threshold)": {},
}


# ---------------------------------------------------------------------------- data


def session_time(text: str) -> datetime:
    # "1:56 pm on 8 May, 2023"
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def sessions(conversation: dict) -> list[tuple[datetime, list[dict]]]:
    out, n = [], 1
    while f"session_{n}" in conversation:
        out.append((session_time(conversation[f"session_{n}_date_time"]),
                    conversation[f"session_{n}"]))  # fmt: skip
        n += 1
    return out


def turn_text(turn: dict) -> str:
    text = turn["text"]
    if turn.get("blip_caption"):
        text += f" [shares a photo: {turn['blip_caption']}]"
    return text


def words(text: object) -> set[str]:
    return set(_WORD.findall(str(text).lower())) - _STOP


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


# ---------------------------------------------------------------------------- ingest


def ingest(memory: Memory, sample: dict, mode: str) -> int:
    """Store one conversation; returns the number of add calls."""
    calls = 0
    for when, turns in sessions(sample["conversation"]):
        if mode == "raw":
            messages = [{"role": "user", "content": f"{t['speaker']}: {turn_text(t)}",
                         "message_id": t["dia_id"]} for t in turns]  # fmt: skip
            memory.add(messages, run_id=sample["sample_id"], infer=False, timestamp=when)
            calls += 1
            continue
        for speaker in dict.fromkeys(t["speaker"] for t in turns):
            messages = [{"role": "user" if t["speaker"] == speaker else "assistant",
                         "content": turn_text(t), "message_id": t["dia_id"]}
                        for t in turns]  # fmt: skip
            memory.add(messages, user_id=speaker, run_id=sample["sample_id"], infer=True,
                       timestamp=when)  # fmt: skip
            calls += 1
    return calls


# ---------------------------------------------------------------------------- search


def today_search(memory: Memory, query: str, run_id: str, limit: int) -> list[dict]:
    """The search before issue 13, kept here only as the baseline: the 100 nearest memories
    by vector, reordered by cosine + 0.3 x the share of the query's words they contain,
    each word weighted by its rarity in that pool."""
    from engram import filters as F
    from engram.lexical import terms

    vector = memory.embedder.embed([query])[0]
    q = Query(memory.project_id, F.scope_filter(run_id=run_id), memory._now(), vector, 100)
    rows = memory.store.query(q)

    def match(word: str, doc: set[str]) -> bool:
        return word in doc or (len(word) >= 5 and any(w.startswith(word[:5]) for w in doc))

    wanted = set(terms(query))
    docs = [set(terms(r.memory)) for r, _ in rows]
    idf = {w: math.log(1 + len(docs) / (1 + sum(match(w, d) for d in docs))) for w in wanted}
    total = sum(idf.values()) or 1.0
    scored = [((s or 0.0) + 0.3 * sum(v for w, v in idf.items() if match(w, d)) / total, r)
              for (r, s), d in zip(rows, docs)]  # fmt: skip
    scored.sort(key=lambda pair: -pair[0])
    return [{**r.to_dict(c), "sources": r.sources} for c, r in scored][:limit]


def _setting(key: str) -> tuple[Any, str]:
    module, _, name = key[1:].rpartition(".")
    return {"": engram.memory, "ranking": engram.ranking, "sql": engram.stores.sql}[module], \
        name.upper()


def searcher(memory: Memory, variant: str) -> Callable[[str, str, int, datetime], list[dict]]:
    if variant == "today":
        return lambda query, run_id, k, _: today_search(memory, query, run_id, k)
    options = {k: v for k, v in VARIANTS[variant].items() if not k.startswith("_")}
    # "_module.setting" keys: a module constant tried as a variant (default module: memory)
    tweaks = {_setting(k): v for k, v in VARIANTS[variant].items() if k.startswith("_")}

    def search(query: str, run_id: str, k: int, reference: datetime) -> list[dict]:
        saved = {(m, name): getattr(m, name) for m, name in tweaks}
        for (module, name), value in tweaks.items():
            setattr(module, name, value)
        try:
            return memory.search(query, run_id=run_id, limit=k, include_sources=True,
                                 reference_date=reference, **options)["results"]  # fmt: skip
        finally:
            for (module, name), value in saved.items():
                setattr(module, name, value)

    return search


# ---------------------------------------------------------------------------- scoring


@dataclass
class Run:
    mode: str
    variant: str
    turns: int = 0
    stored: int = 0
    ms_per_add: float = 0.0
    conversation_tokens: float = 0.0
    rows: list[dict] = field(default_factory=list)

    def mean(self, key: str, category: int | None = None) -> float:
        rows = [r for r in self.rows if category is None or r["category"] == category]
        return statistics.fmean(r[key] for r in rows) if rows else 0.0

    def latency(self, q: float) -> float:
        values = sorted(r["latency"] for r in self.rows)
        return 1000 * values[min(len(values) - 1, int(q * len(values)))] if values else 0.0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode, "variant": self.variant, "turns": self.turns,
            "memories": self.stored, "ms_per_add": round(self.ms_per_add, 2),
            "search_p50_ms": round(self.latency(0.5), 2),
            "search_p95_ms": round(self.latency(0.95), 2),
            "prompt_tokens_top10": round(self.mean("tokens@10"), 1),
            "conversation_tokens": round(self.conversation_tokens, 1),
            "questions": len(self.rows),
        }  # fmt: skip
        for metric in ("recall", "hit", "answer"):
            for k in KS:
                out[f"{metric}@{k}"] = round(self.mean(f"{metric}@{k}"), 4)
        out["recall@10 by category"] = {
            name: round(self.mean("recall@10", c), 4) for c, name in CATEGORIES.items()
        }
        return out


def sources_of(result: dict, by_text: dict[str, str]) -> set[str]:
    """The dia_ids a result came from: its provenance, else (older stores) its exact text."""
    found = {s.get("message_id") for s in result.get("sources") or []
             if not s.get("context")} - {None}  # context messages are not where it came from
    return found or ({by_text[result["memory"]]} if result["memory"] in by_text else set())


def score_question(
    search: Callable[[str, str, int, datetime], list[dict]], qa: dict, sample: dict,
    by_text: dict[str, str],
) -> dict[str, Any]:
    """One question, asked as of the conversation's last session (its `reference_date`)."""
    reference = sessions(sample["conversation"])[-1][0]
    started = time.perf_counter()
    found = search(qa["question"], sample["sample_id"], max(KS), reference)
    row: dict[str, Any] = {"category": qa["category"], "latency": time.perf_counter() - started}
    evidence, answer = set(qa["evidence"]), words(qa["answer"])
    for k in KS:
        top = found[:k]
        dia = set().union(*(sources_of(r, by_text) for r in top)) if top else set()
        said = " ".join(f"{r['memory']} ({_day(r.get('created_at'))})" for r in top)
        row[f"hit@{k}"] = float(bool(dia & evidence))
        row[f"recall@{k}"] = len(dia & evidence) / max(1, len(evidence))
        row[f"answer@{k}"] = len(answer & words(said)) / max(1, len(answer))
        row[f"tokens@{k}"] = tokens(said)
    return row


def _day(created_at: str | None) -> str:
    return datetime.fromisoformat(created_at).strftime("%-d %B %Y") if created_at else ""


def run_mode(mode: str, samples: list[dict], variants: list[str], embedder: Any,
             home: Path, label: str) -> list[Run]:  # fmt: skip
    memory = Memory({"database": str(home / f"{mode}.db")}, embedder=embedder)
    adds, started = 0, time.perf_counter()
    for sample in samples:
        adds += ingest(memory, sample, mode)
    ms_per_add = 1000 * (time.perf_counter() - started) / max(1, adds)
    turns = [t for s in samples for _, ts in sessions(s["conversation"]) for t in ts]
    stored = sum(memory.get_all(run_id=s["sample_id"])["count"] for s in samples)
    conversation_tokens = statistics.fmean(
        tokens(" ".join(f"{t['speaker']}: {turn_text(t)}" for _, ts in
                        sessions(s["conversation"]) for t in ts)) for s in samples
    )  # fmt: skip
    by_text = {f"{t['speaker']}: {turn_text(t)}": t["dia_id"] for t in turns}
    runs = []
    for variant in variants:
        run = Run(label, variant, len(turns), stored, ms_per_add, conversation_tokens)
        search = searcher(memory, variant)
        memory.embedder.clear()  # every variant's latency includes embedding its queries
        for sample in samples:
            run.rows.extend(score_question(search, qa, sample, by_text)
                            for qa in sample["qa"] if qa["category"] in CATEGORIES)  # fmt: skip
        runs.append(run)
    memory.close()
    return runs


# ---------------------------------------------------------------------------- report


def markdown(runs: list[Run]) -> str:
    head = ["mode", "search", "memories", "ms/add", "p50 ms", "p95 ms",
            *[f"recall@{k}" for k in KS], "hit@10", "answer@10", "tokens@10 / all"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        s = r.summary()
        cells = [r.mode, r.variant, str(r.stored), f"{r.ms_per_add:.1f}",
                 f"{s['search_p50_ms']:.1f}", f"{s['search_p95_ms']:.1f}",
                 *[f"{s[f'recall@{k}']:.3f}" for k in KS], f"{s['hit@10']:.3f}",
                 f"{s['answer@10']:.3f}",
                 f"{s['prompt_tokens_top10']:.0f} / {s['conversation_tokens']:.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| mode | search | " + " | ".join(CATEGORIES.values()) + " |",
              "|---|---|" + "---|" * len(CATEGORIES)]  # fmt: skip
    for r in runs:
        cells = [f"{r.mean('recall@10', c):.3f}" for c in CATEGORIES]
        lines.append(f"| {r.mode} | {r.variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--conversations", type=int, default=5)
    parser.add_argument("--modes", nargs="+", default=["raw", "extract"],
                        choices=["raw", "extract"])  # fmt: skip
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--embedder", default="local", help="embedding provider (make_embedder)")
    parser.add_argument("--embedding-model", default=None)
    parser.add_argument("--products", nargs="+", default=["integer"], choices=["fp32", "integer"],
                        help="the local model's matrix products (LocalEmbedder integer_matmuls); "
                             "both: each mode is stored and searched once per choice")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    samples = json.loads(args.data.read_text())[: args.conversations]
    runs = []
    for products in args.products:
        embedder = make_embedder(args.embedder, model=args.embedding_model)
        if isinstance(embedder, LocalEmbedder):
            embedder = LocalEmbedder(integer_matmuls=products == "integer")
        with tempfile.TemporaryDirectory() as tmp:
            for mode in args.modes:
                label = mode if len(args.products) == 1 else f"{mode}, {products} products"
                runs += run_mode(mode, samples, args.variants, embedder, Path(tmp), label)
    print(f"LoCoMo dev, {len(samples)} conversations, questions of categories 1-4, "
          f"embedder {embedder.model_id}\n")  # fmt: skip
    print(markdown(runs))
    if args.json:
        args.json.write_text(json.dumps([r.summary() for r in runs], indent=2))


if __name__ == "__main__":
    sys.exit(main())
