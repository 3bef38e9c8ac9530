"""The default local embedder, run for real on the bundled int8 ONNX model."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engram.embeddings import Embedder, EmbeddingError, LocalEmbedder, make_embedder
from engram.embeddings.onnx_minilm import MAX_SEQ_LENGTH

SENTENCES = [
    "My right knee hurts on downhills",
    "knee pain when running downhill",
    "The quarterly report is due on Friday",
    "I prefer oat milk in my coffee",
    "Alice's daughter starts school in September",
    "",
    "Ünïcödé, 東京, and emoji 🎉 survive tokenisation",
]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


WORDS = "memory user prefers vegetarian food lives in Berlin works as nurse likes hiking"


def _varied(n: int) -> list[str]:
    """n different sentences of very different lengths, so batches need padding."""
    words = WORDS.split(" ")
    return [
        f"{i}: " + " ".join(words[(i * 7 + k) % len(words)] for k in range(1 + (i * 13) % 40))
        for i in range(n)
    ]


def test_satisfies_protocol(embedder: LocalEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.model_id == "all-MiniLM-L6-v2-onnx-int8"
    assert embedder.dims == 384


def test_shape_dtype_unit_norm(embedder: LocalEmbedder) -> None:
    vecs = embedder.embed(SENTENCES)
    assert vecs.shape == (len(SENTENCES), 384)
    assert vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vecs).all()


def test_deterministic_across_calls_and_instances(embedder: LocalEmbedder) -> None:
    first = embedder.embed(SENTENCES)
    assert np.array_equal(first, embedder.embed(SENTENCES))
    assert np.allclose(first, LocalEmbedder().embed(SENTENCES), atol=1e-6)


def test_paraphrase_closer_than_unrelated(embedder: LocalEmbedder) -> None:
    knee_a, knee_b, report, milk = embedder.embed(SENTENCES[:4])
    paraphrase = float(knee_a @ knee_b)
    assert paraphrase > 0.6
    for other in (report, milk):
        assert paraphrase > float(knee_a @ other) + 0.3
        assert paraphrase > float(knee_b @ other) + 0.3


def test_empty_input(embedder: LocalEmbedder) -> None:
    out = embedder.embed([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_rejects_bare_string(embedder: LocalEmbedder) -> None:
    with pytest.raises(TypeError, match="single string"):
        embedder.embed("hello")  # type: ignore[arg-type]


def test_fp32_batch_of_200_equals_one_by_one() -> None:
    fp32 = LocalEmbedder(integer_matmuls=False)  # the path that pads texts into batches
    texts = _varied(200)
    batched = fp32.embed(texts)
    single = np.vstack([fp32.embed([t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-5)


def test_fp32_small_batches_give_same_result() -> None:
    texts = _varied(23)
    small = LocalEmbedder(batch_size=4, max_batch_tokens=64, integer_matmuls=False)
    assert np.allclose(small.embed(texts), LocalEmbedder(integer_matmuls=False).embed(texts),
                       atol=1e-5)  # fmt: skip


def test_integer_products_give_one_by_one_vectors_in_a_batch(embedder: LocalEmbedder) -> None:
    """The default: activations are quantised per call, so each text runs alone: the same
    vector whatever it is embedded with (and the same as the fp32 path's batching promises)."""
    integer = embedder
    assert integer._loaded().per_text
    texts = _varied(40)
    batched = integer.embed(texts)
    assert np.array_equal(batched, np.vstack([integer.embed([t]) for t in texts]))


def test_batches_respect_row_and_token_caps() -> None:
    emb = LocalEmbedder(batch_size=4, max_batch_tokens=100)
    lengths = [10, 60, 30, 256, 5, 5, 5, 5, 5, 7]
    groups = list(emb._batches(lengths))
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert groups[0] == [3]  # longest first, alone: it is over the token cap by itself
    for group in groups:
        assert len(group) <= 4
        assert len(group) == 1 or len(group) * max(lengths[i] for i in group) <= 100


def test_truncates_long_text_at_256_tokens(embedder: LocalEmbedder) -> None:
    base = "word " * (MAX_SEQ_LENGTH - 2)  # fills the window exactly
    long_a, long_b = embedder.embed([base + "apple " * 300, base + "tax law " * 300])
    # Everything past the window is cut, so the different tails do not matter.
    assert np.allclose(long_a, long_b, atol=1e-6)


def test_concurrent_calls_match_serial(embedder: LocalEmbedder) -> None:
    fresh = LocalEmbedder()  # not loaded yet: threads race on the lazy load too
    groups = [_varied(40)[i::4] for i in range(4)]
    expected = [embedder.embed(g) for g in groups]
    results: list[np.ndarray | None] = [None] * 4

    def work(k: int) -> None:
        results[k] = fresh.embed(groups[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for got, want in zip(results, expected):
        assert got is not None and np.allclose(got, want, atol=1e-5)


def test_checksum_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    emb = LocalEmbedder(model_path=fake)
    with pytest.raises(EmbeddingError, match="sha256"):
        emb.embed(["hello"])


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="not readable"):
        LocalEmbedder(model_path=tmp_path / "absent.onnx").embed(["hello"])


def test_make_embedder_local_default_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ENGRAM_EMBEDDER", "ENGRAM_EMBEDDING_MODEL", "ENGRAM_EMBEDDING_DIMS"):
        monkeypatch.delenv(var, raising=False)
    emb = make_embedder(batch_size=8)
    assert isinstance(emb, LocalEmbedder) and emb.batch_size == 8
    assert isinstance(make_embedder("local", model="all-MiniLM-L6-v2", dims=384), LocalEmbedder)
    with pytest.raises(ValueError, match="384"):
        make_embedder("local", dims=768)
    with pytest.raises(ValueError, match="bge-small"):
        make_embedder("local", model="bge-small")
    with pytest.raises(ValueError, match="unknown embedding provider"):
        make_embedder("word2vec")
    monkeypatch.setenv("ENGRAM_EMBEDDING_DIMS", "three")
    with pytest.raises(ValueError, match="ENGRAM_EMBEDDING_DIMS"):
        make_embedder()


def test_products_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGRAM_EMBEDDING_PRODUCTS", "fp32")
    assert make_embedder("local").integer_matmuls is False  # type: ignore[attr-defined]
    monkeypatch.setenv("ENGRAM_EMBEDDING_PRODUCTS", "int4")
    with pytest.raises(ValueError, match="ENGRAM_EMBEDDING_PRODUCTS"):
        make_embedder("local")
    monkeypatch.delenv("ENGRAM_EMBEDDING_PRODUCTS")
    assert make_embedder("local").integer_matmuls is True  # type: ignore[attr-defined]


def test_model_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`engram serve` sets ENGRAM_EMBEDDING_THREADS to each worker's share of the cores."""
    monkeypatch.setenv("ENGRAM_EMBEDDING_THREADS", "1")
    embedder = make_embedder("local")
    assert isinstance(embedder, LocalEmbedder) and embedder.threads == 1
    assert len(embedder.embed(["one thread is enough"])) == 1
    for bad in ("0", "two"):
        monkeypatch.setenv("ENGRAM_EMBEDDING_THREADS", bad)
        with pytest.raises(ValueError, match="ENGRAM_EMBEDDING_THREADS"):
            make_embedder("local")


def test_import_is_lazy() -> None:
    code = (
        "import sys, engram.embeddings as e; "
        "heavy = [m for m in ('onnxruntime', 'tokenizers', 'openai') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
