"""The rewritten embedding model runs each layer's attention and GELU as one onnxruntime
kernel (engram/embeddings/fused_kernels.py): the same hidden states as the graph as
exported, padding masked the same way, and a fusion that disagrees is not kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engram.embeddings import fused_kernels, integer_matmuls
from engram.embeddings.integer_matmuls import _gather_before_expanding, _rewrite
from engram.embeddings.onnx_minilm import default_model_path

IDS = np.array([[101, 2026, 2157, 6181, 13403, 2006, 2146, 4091, 102]])


@pytest.fixture(scope="module")
def models() -> tuple[bytes, bytes]:
    """(unfused, fused): the integer rewrite before and after the fusion."""
    model = onnx.load(str(default_model_path()))
    _rewrite(model.graph, onnx)
    _gather_before_expanding(model.graph, onnx)
    unfused = model.SerializeToString()
    assert fused_kernels.fuse(model, onnx) == 6  # one attention block per layer
    return unfused, model.SerializeToString()


def hidden(model: bytes, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return session.run(None, feeds)[0][0]


def worst_cosine(a: np.ndarray, b: np.ndarray) -> float:
    per_token = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return float(per_token.min())


def test_each_layer_runs_its_attention_and_gelu_as_one_kernel(models: tuple[bytes, bytes]) -> None:
    unfused, fused = (onnx.load_from_string(m).graph.node for m in models)
    ops = [n.op_type for n in fused]
    assert ops.count("QAttention") == 6 and ops.count("Gelu") == 6
    assert "Softmax" not in ops and "Erf" not in ops and "Transpose" not in ops
    assert len(ops) < 0.5 * len(unfused)


def test_the_fused_kernels_give_the_same_hidden_states(models: tuple[bytes, bytes]) -> None:
    unfused, fused = models
    ones = np.ones_like(IDS)
    assert worst_cosine(hidden(unfused, IDS, ones), hidden(fused, IDS, ones)) > 0.9999


def test_padding_is_masked_as_in_the_exported_graph(models: tuple[bytes, bytes]) -> None:
    unfused, fused = models
    padded = np.concatenate([IDS, np.zeros((1, 3), np.int64)], axis=1)
    mask = (padded > 0).astype(np.int64)
    kept = IDS.shape[1]
    exported, ours = hidden(unfused, padded, mask)[:kept], hidden(fused, padded, mask)[:kept]
    assert worst_cosine(exported, ours) > 0.999
    attended = hidden(fused, padded, np.ones_like(padded))[:kept]  # the pads let in
    assert worst_cosine(exported, attended) < 0.98


def test_a_fusion_that_disagrees_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fused_kernels.fuse

    def wrong_heads(model: Any, onnx_module: Any) -> int:
        count = real(model, onnx_module)
        for node in model.graph.node:
            for attribute in node.attribute:
                if node.op_type == "QAttention" and attribute.name == "num_heads":
                    attribute.i = 6  # the model has 12
        return count

    monkeypatch.setattr(fused_kernels, "fuse", wrong_heads)
    data, count = integer_matmuls.integer_matmul_model(default_model_path())
    ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
    assert count == 36 and "QAttention" not in ops and "MatMulInteger" in ops

