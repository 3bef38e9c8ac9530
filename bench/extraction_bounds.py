"""Big offline adds: time, memory, and how long another project's small add waits (issue 14).

    python bench/extraction_bounds.py [--json] [--chars N]

Each variant runs in a fresh process: two adds of N characters (default 100,000, the
infer=true cap) in project A through `Memory.add`, with project B's one-line add started
while A's second add is parsing. Reported: A's add time, B's wait, how much of A's text had
been parsed when B finished, and the process's resident memory (after load, after each big
add, and its peak). Variants, side by side:

    pieces+fair    text parsed in pieces of 2,000 characters under a first-come lock (shipped)
    pieces+plain   the same pieces under threading.Lock (the releasing thread may take it
                   straight back)
    one parse      each line parsed whole, as before issue 14 (one lock hold per line)

Run on the shared 2-core machine under heavy load (load average ~28), 100,000 characters:
B's add 1.0 s / 0.8 s / 21.0 s, A parsed 2% / 2% / 100% when B was done, peak RSS 373 /
380 / 755 MB. The plain lock interleaved as well in this run; the fair one guarantees it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS = ("pieces+fair", "pieces+plain", "one parse")
SENTENCES = (
    "I ran {n} km along the river on Tuesday with my friend Sam. "
    "My coach wants me to keep the easy runs under {n} beats per minute. "
    "Hmm, what do you think about the weather in the park these days? "
    "My left knee felt sore after the {n} km tempo session. "
)


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def text(chars: int, seed: int) -> str:
    """Chat text of `chars` characters; about one fact in 30 sentences is new."""
    parts, n = [], 0
    while sum(len(p) for p in parts) < chars:
        parts.append(SENTENCES.format(n=seed + n // 30))
        n += 1
    return "".join(parts)[:chars]


def run_variant(variant: str, chars: int) -> dict[str, object]:
    import threading as th

    from spacy.language import Language

    from engram.embeddings import make_embedder
    from engram.extraction import bounds
    from engram.memory import Memory

    parsed: list[tuple[int, int]] = []
    started: list[int] = []

    @Language.component("bench_parse_start")
    def log_start(doc):  # type: ignore[no-untyped-def]
        started.append(th.get_ident())
        return doc

    @Language.component("bench_parse_end")
    def log_end(doc):  # type: ignore[no-untyped-def]
        parsed.append((th.get_ident(), len(doc.text)))
        return doc

    if variant == "one parse":
        bounds.PIECE_CHARS = 10**9
    root = Path(tempfile.mkdtemp(prefix="engram-bench-"))
    memory = Memory({"database": str(root / "m.db"), "add_timeout": 3600},
                    embedder=make_embedder("local"))  # fmt: skip
    english = memory._engine.extractor._english
    if variant == "pieces+plain":
        english._lock = th.Lock()
    memory.for_project("b").add("warm up the models", user_id="max")
    english._pipeline().add_pipe("bench_parse_start", first=True)
    english._pipeline().add_pipe("bench_parse_end", last=True)
    loaded = rss_mb()

    start = time.perf_counter()
    memory.for_project("a").add(text(chars, 0), user_id="max")
    first = time.perf_counter() - start
    after_first = rss_mb()

    a_ident: list[int] = []
    b_wait: dict[str, float] = {}

    def add_big() -> None:
        a_ident.append(th.get_ident())
        memory.for_project("a").add(text(chars, 1000), user_id="max")

    parsed.clear()
    started.clear()
    worker = threading.Thread(target=add_big)
    begun = time.perf_counter()
    worker.start()
    while not started and worker.is_alive():  # until A is parsing
        time.sleep(0.002)
    b_start = time.perf_counter()
    memory.for_project("b").add("I like green tea", user_id="max")
    b_wait["seconds"] = time.perf_counter() - b_start
    a_when_b = sum(n for t, n in list(parsed) if t in a_ident)
    worker.join()
    second = time.perf_counter() - begun
    a_total = sum(n for t, n in parsed if t in a_ident)
    memory.close()
    return {
        "variant": variant, "chars": chars, "a_add_s": round(first, 2),
        "a_add_2_s": round(second, 2), "b_add_s": round(b_wait["seconds"], 3),
        "a_parsed_when_b_done": round(a_when_b / max(1, a_total), 3),
        "rss_loaded_mb": round(loaded), "rss_after_1_mb": round(after_first),
        "rss_after_2_mb": round(rss_mb()), "rss_peak_mb": round(rss_mb("VmHWM")),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # child run
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.chars)))
        return
    rows = []
    for variant in VARIANTS:
        child = [sys.executable, __file__, "--variant", variant, "--chars", str(args.chars)]
        out = subprocess.run(child, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| variant | A add s | A add (2nd) s | B add s | A parsed when B done | "
          "RSS loaded MB | after 1st | after 2nd | peak |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['a_add_s']} | {r['a_add_2_s']} | {r['b_add_s']} | "
              f"{r['a_parsed_when_b_done']:.0%} | {r['rss_loaded_mb']} | {r['rss_after_1_mb']} | "
              f"{r['rss_after_2_mb']} | {r['rss_peak_mb']} |")


if __name__ == "__main__":
    main()
