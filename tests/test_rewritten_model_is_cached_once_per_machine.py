"""The default embedder's rewritten model (engram/embeddings/integer_matmuls.py) is written
once, by a child process, into the model cache, and checked by its sha256 on every load."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engram.embeddings import LocalEmbedder
from engram.embeddings import integer_matmuls as im

TEXTS = ["I am training for the Berlin marathon in September", "东京的天气很好", ""]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENGRAM_MODEL_CACHE", str(tmp_path / "models"))
    return tmp_path / "models"


def _cached(cache: Path) -> tuple[Path, dict]:
    (model,) = cache.glob("*-integer-v*.onnx")
    return model, json.loads(model.with_suffix(".json").read_text())


def test_the_first_load_writes_the_model_and_later_loads_read_it(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = LocalEmbedder().embed(TEXTS)
    model, record = _cached(cache)
    assert record["products"] == 36 and model.stat().st_size > 10_000_000

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached model was rewritten again")

    monkeypatch.setattr(subprocess, "run", no_child)
    again = LocalEmbedder()
    assert again._loaded().per_text
    assert np.array_equal(again.embed(TEXTS), first)


def test_a_damaged_cached_model_is_written_again(cache: Path) -> None:
    first = LocalEmbedder().embed(TEXTS)
    model, record = _cached(cache)
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    assert np.array_equal(LocalEmbedder().embed(TEXTS), first)
    assert _cached(cache)[1] == record  # the same sha256 as the first write's


def test_without_a_writable_cache_the_model_is_rewritten_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ENGRAM_MODEL_CACHE", str(blocker / "models"))
    embedder = LocalEmbedder()
    vectors = embedder.embed(TEXTS)
    assert embedder._loaded().per_text
    assert "rewriting it in this process" in caplog.text
    monkeypatch.setenv("ENGRAM_MODEL_CACHE", str(tmp_path / "models"))
    assert np.array_equal(LocalEmbedder().embed(TEXTS), vectors)
    assert im.cache_dir() == tmp_path / "models"


def test_without_a_home_directory_the_model_is_rewritten_in_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("ENGRAM_MODEL_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    def homeless() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(homeless))
    embedder = LocalEmbedder()
    assert embedder.embed(TEXTS).shape == (len(TEXTS), 384)
    assert embedder._loaded().per_text
    assert "set ENGRAM_MODEL_CACHE" in caplog.text


def test_a_batch_after_the_cached_model_went_away_shares_the_first_session(
    cache: Path,
) -> None:
    """The one-thread session for texts side by side is made from the cached file on the
    first batch; if the file is gone by then, the batch runs on the first session instead
    of failing, with the same vectors."""
    embedder = LocalEmbedder(threads=2)
    alone = np.stack([embedder.embed([t])[0] for t in TEXTS])
    model, _ = _cached(cache)
    model.unlink()
    assert np.array_equal(embedder.embed(TEXTS), alone)
    assert embedder._side_by_side is embedder._loaded()
