"""The local embedder runs a batch's texts on several callers at once (one model call per
text, LocalEmbedder._run_each), on a second session of one thread made for them on the first
batch: each text's vector is the one it gets alone on the first session, whatever the
split, and a process forked after a batch still embeds batches."""

from __future__ import annotations

import multiprocessing

import numpy as np

from engram.embeddings import LocalEmbedder

TEXTS = [
    "I am training for the Berlin marathon in September",
    "My right knee hurts on long downhill runs",
    "She prefers oat milk in her coffee",
    "We adopted a rescue dog named Pepper in 2022",
    "He is allergic to peanuts and carries an EpiPen",
    "东京的天气很好",
    "ok",
]


def test_each_text_gets_the_vector_it_gets_alone() -> None:
    side_by_side = LocalEmbedder(threads=2)
    alone = np.stack([side_by_side.embed([t])[0] for t in TEXTS])
    assert side_by_side._side_by_side is None  # lone texts: the first session only
    together = side_by_side.embed(TEXTS)
    batch_session = side_by_side._side_by_side
    assert batch_session is not None
    assert batch_session.session is not side_by_side._loaded().session
    one_caller = LocalEmbedder(threads=1).embed(TEXTS)
    assert np.array_equal(together, alone) and np.array_equal(together, one_caller)
    side_by_side.embed(TEXTS[:2])
    assert side_by_side._side_by_side is batch_session  # made once


def _embed_in_child(embedder: LocalEmbedder, out: multiprocessing.Queue) -> None:
    out.put(embedder.embed(TEXTS))


def test_a_forked_process_embeds_batches_after_its_parent_did() -> None:
    embedder = LocalEmbedder(threads=2)
    expected = embedder.embed(TEXTS)  # the parent's pool of callers exists now
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()
    child = context.Process(target=_embed_in_child, args=(embedder, results))
    child.start()
    try:
        got = results.get(timeout=60)  # a pool without its threads would hang here
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert np.array_equal(got, expected)
