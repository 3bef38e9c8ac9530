"""The embedding cache serves repeated texts without the model and returns the same vectors."""

from __future__ import annotations

import numpy as np

from engram.embeddings.cache import CachedEmbedder


class Counting:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.model_id, self.dims, self.seen = inner, inner.model_id, inner.dims, 0

    def embed(self, texts):
        self.seen += len(texts)
        return self.inner.embed(texts)


def test_repeats_are_served_from_the_cache(embedder) -> None:
    counting = Counting(embedder)
    cached = CachedEmbedder(counting, size=10)
    first = cached.embed(["Max likes tea", "Max lives in Lyon", "Max likes tea"])
    assert counting.seen == 2  # duplicates inside one call are embedded once
    again = cached.embed(["Max lives in Lyon", "Max likes tea"])
    assert counting.seen == 2
    assert np.allclose(again, first[[1, 0]])
    assert np.allclose(first, embedder.embed(["Max likes tea", "Max lives in Lyon",
                                              "Max likes tea"]))  # fmt: skip


def test_least_recently_used_texts_are_evicted(embedder) -> None:
    counting = Counting(embedder)
    cached = CachedEmbedder(counting, size=2)
    cached.embed(["a", "b"])
    cached.embed(["a"])  # "a" is now more recent than "b"
    cached.embed(["c"])  # evicts "b"
    seen = counting.seen
    cached.embed(["a", "c"])
    assert counting.seen == seen
    cached.embed(["b"])
    assert counting.seen == seen + 1


def test_more_texts_than_the_cache_holds(embedder) -> None:
    cached = CachedEmbedder(embedder, size=2)
    texts = [f"fact {i}" for i in range(5)]
    assert np.allclose(cached.embed(texts), embedder.embed(texts))
    assert cached.embed([]).shape == (0, embedder.dims)
