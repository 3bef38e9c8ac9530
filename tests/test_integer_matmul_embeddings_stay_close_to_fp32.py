"""The local embedder's integer products (the default): the int8 weights are used as stored,
and the vectors stay close to the fp32 path's (engram/embeddings/integer_matmuls.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from engram.embeddings import LocalEmbedder
from engram.embeddings.integer_matmuls import integer_matmul_model
from engram.embeddings.onnx_minilm import default_model_path

FACTS = [
    "I am training for the Berlin marathon in September",
    "My right knee hurts on long downhill runs",
    "She prefers oat milk in her coffee",
    "Caroline went to an LGBTQ support group last Tuesday",
    "The quarterly report is due on Friday",
    "We adopted a rescue dog named Pepper in 2022",
    "He is allergic to peanuts and carries an EpiPen",
    "What should I focus on in today's workout?",
    "Melanie painted a sunrise over the lake after her camping trip with the kids",
    "东京的天气很好",
]


@pytest.fixture(scope="module")
def both() -> tuple[np.ndarray, np.ndarray]:
    return LocalEmbedder().embed(FACTS), LocalEmbedder(integer_matmuls=False).embed(FACTS)


def test_the_int8_weight_products_are_rewritten() -> None:
    data, count = integer_matmul_model(default_model_path())
    ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
    # 6 layers x (query, key, value, attention output, feed-forward input and output);
    # query, key and value run inside each layer's fused attention kernel
    assert count == 36 and ops.count("MatMulInteger") == 6 * 3 and ops.count("QAttention") == 6
    # one per call for query, key and value (shared) and the attention output and
    # feed-forward input; the feed-forward output quantises each token on its own
    assert ops.count("DynamicQuantizeLinear") == 6 * 3
    assert ops.count("ReduceMax") == 6
    assert "MatMul" not in ops  # the attention's own (scores, and their values) are fused


def wide_product_model(activation: str) -> onnx.ModelProto:
    """x [1, T, 8] -> `activation` -> MatMul with an int8 [8, 4] weight expanded at load
    (one scale per column), as the feed-forward output product of the default model."""
    rng = np.random.default_rng(3)
    h = onnx.helper
    weight = onnx.numpy_helper.from_array(rng.integers(-127, 128, (8, 4)).astype(np.int8), "w8")
    scale = onnx.numpy_helper.from_array(rng.uniform(0.001, 0.01, (1, 4)).astype(np.float32), "ws")
    consts = [onnx.numpy_helper.from_array(np.array(v, np.float32), n)
              for n, v in (("half", 0.5), ("one", 1.0), ("root2", np.sqrt(2.0)))]  # fmt: skip
    if activation in ("gelu", "scaled gelu"):  # x * 0.5 * (1 + erf(x / sqrt 2)), or * sqrt 2
        nodes = [h.make_node("Div", ["x", "root2"], ["xs"]), h.make_node("Erf", ["xs"], ["e"]),
                 h.make_node("Add", ["e", "one"], ["e1"]),
                 h.make_node("Mul", ["x", "half" if activation == "gelu" else "root2"], ["xh"]),
                 h.make_node("Mul", ["xh", "e1"], ["a"])]  # fmt: skip
    else:
        nodes = [h.make_node("Mul", ["x", "half"], ["a"])]
    nodes += [h.make_node("Cast", ["w8"], ["wf"], to=onnx.TensorProto.FLOAT),
              h.make_node("Mul", ["wf", "ws"], ["w"]),
              h.make_node("MatMul", ["a", "w"], ["y"])]  # fmt: skip
    graph = h.make_graph(
        nodes, "wide", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, None, 8])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, None, 4])],
        initializer=[weight, scale, *consts],
    )  # fmt: skip
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


def run(model: bytes | str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x.astype(np.float32)})[0]


def test_a_gelu_fed_wide_product_quantises_each_token_alone(tmp_path: Path) -> None:
    path = tmp_path / "gelu.onnx"
    onnx.save(wide_product_model("gelu"), str(path))
    data, count = integer_matmul_model(path)
    assert count == 1
    x = np.random.default_rng(5).normal(0, 2, (1, 3, 8))
    x[0, 2] *= 40  # one token far larger than the others: per call, it would set the scale
    exact, integer = run(str(path), x), run(data, x)
    error = np.abs(integer - exact).max(axis=-1) / np.abs(exact).max(axis=-1)
    assert error.max() < 0.005, error  # one scale for the call: 0.023
    alone = run(data, x[:, :1])  # the first token without the large one beside it
    assert np.allclose(alone[0, 0], integer[0, 0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("activation", ["half", "scaled gelu"])
def test_a_wide_product_of_anything_but_gelu_stays_fp32(activation: str, tmp_path: Path) -> None:
    path = tmp_path / "other.onnx"
    onnx.save(wide_product_model(activation), str(path))
    data, count = integer_matmul_model(path)
    assert count == 0  # its inputs may go below GELU's floor: no uint8 range is known
    assert "MatMul" in [n.op_type for n in onnx.load_from_string(data).graph.node]


def test_table_lookups_expand_only_the_rows_looked_up() -> None:
    """Word and position embeddings are looked up in the int8 tables, then expanded: no fp32
    table is left to fold, and the hidden states are bit for bit those of the model with
    its products rewritten alone."""
    import onnxruntime as ort

    from engram.embeddings.graph_patterns import graph_maps
    from engram.embeddings.integer_matmuls import _gather_before_expanding, _rewrite

    data, _ = integer_matmul_model(default_model_path())
    constants, producer, _ = graph_maps(onnx.load_from_string(data).graph)
    lookups = [n for n in onnx.load_from_string(data).graph.node if n.op_type == "Gather"]
    tables = [n.input[0] for n in lookups if n.input[0] in constants]
    assert sum(constants[t].data_type == onnx.TensorProto.INT8 for t in tables) == 2
    assert not any(producer.get(n.input[0]) is not None and
                   producer[n.input[0]].op_type == "Mul" for n in lookups)  # fmt: skip
    products_only = onnx.load(str(default_model_path()))
    _rewrite(products_only.graph, onnx)
    gathered = onnx.load(str(default_model_path()))  # and the lookups, before any fusion
    _rewrite(gathered.graph, onnx)
    _gather_before_expanding(gathered.graph, onnx)
    ids = np.array([[101, 2026, 2157, 6181, 13403, 2006, 2146, 4091, 102]])
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids),
             "token_type_ids": np.zeros_like(ids)}  # fmt: skip
    hidden = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
              .run(None, feeds)[0] for m in (gathered, products_only)]  # fmt: skip
    assert np.array_equal(*hidden)


def test_vectors_stay_close_to_the_fp32_path(both: tuple[np.ndarray, np.ndarray]) -> None:
    integer, fp32 = both
    cosine = (integer * fp32).sum(axis=1)
    assert cosine.min() > 0.99 and cosine.mean() > 0.995
    assert np.allclose(np.linalg.norm(integer, axis=1), 1.0, atol=1e-5)


QUESTIONS = {
    "Which race am I preparing for?": 0,
    "Why does my knee ache?": 1,
    "How does she take her coffee?": 2,
    "What is our dog called?": 5,
    "Does he have any food allergies?": 6,
    "What did Melanie paint?": 8,
}


def test_questions_find_the_same_fact_on_both_paths() -> None:
    for embedder in (LocalEmbedder(), LocalEmbedder(integer_matmuls=False)):
        facts, questions = embedder.embed(FACTS), embedder.embed(list(QUESTIONS))
        assert list((questions @ facts.T).argmax(axis=1)) == list(QUESTIONS.values())


def test_a_model_without_int8_products_runs_unchanged(tmp_path: Path) -> None:
    weight = onnx.numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["x", "w"], ["y"])],
        "fp32",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
        initializer=[weight],
    )
    path = tmp_path / "fp32.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    data, count = integer_matmul_model(path)
    assert count == 0
    assert [n.op_type for n in onnx.load_from_string(data).graph.node] == ["MatMul"]
