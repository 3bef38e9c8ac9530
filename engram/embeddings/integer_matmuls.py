"""Run a weight-only int8 ONNX model's matrix products in integer arithmetic.

The default model stores each weight matrix as int8 with one fp32 scale per
column, expanded at load (``MatMul(x, Cast(W_int8) * scale)``). onnxruntime
folds that expansion into fp32 constants, so every query reads ~42 MB of fp32
weights: for a 14-token query the products are memory-bound (2.9 of 3.1 ms).
Rewritten here as ``DynamicQuantizeLinear(x)`` -> ``MatMulInteger(x_u8, W_int8)``
-> ``* (x_scale * scale)``, which onnxruntime fuses into one integer kernel,
the same int8 weights are read as they are, a quarter of the bytes. The
feed-forward output products stay in fp32 (see `_int8_weight`).

The weights are bit for bit the model's; what changes is that each product's
input is quantised to uint8 with one scale per call, so a text's vector would
depend on what it is batched with. The embedder therefore runs these models one
text per call (see ``LocalEmbedder``, where this is opt-in). Measured against the
fp32 path in docs/embeddings.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engram.embeddings.base import EmbeddingError


def integer_matmul_model(path: Path) -> tuple[bytes, int]:
    """The serialized model with its int8-weight products rewritten, and how many were.

    A model without the int8-weight pattern comes back unchanged (count 0).
    """
    try:
        import onnx  # only here: importing it costs ~0.6 s and most processes never need it
    except ImportError as exc:
        raise EmbeddingError(
            "integer products need the 'onnx' package (pip install 'engram[integer-products]'), "
            "or leave ENGRAM_EMBEDDING_PRODUCTS at fp32"
        ) from exc
    try:
        model = onnx.load(str(path))
        count = _rewrite(model.graph, onnx)
        return model.SerializeToString(), count
    except Exception as exc:  # a malformed file: say which, not a protobuf traceback
        raise EmbeddingError(f"cannot rewrite embedding model {path}: {exc}") from exc


def _rewrite(graph: Any, onnx: Any) -> int:
    constants = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1

    nodes: list[Any] = []
    quantized: dict[str, tuple[str, str, str]] = {}  # one quantisation per shared input (Q, K, V)
    dropped: set[int] = set()  # id() of the nodes to leave out
    for node in graph.node:
        weight = _int8_weight(node, producer, constants, onnx)
        if weight is None:
            nodes.append(node)
            continue
        x, (cast, scale_mul) = node.input[0], weight
        if x not in quantized:
            quantized[x] = (f"{x}/u8", f"{x}/u8_scale", f"{x}/u8_zero")
            nodes.append(onnx.helper.make_node("DynamicQuantizeLinear", [x], list(quantized[x])))
        x_u8, x_scale, x_zero = quantized[x]
        out, make = node.output[0], onnx.helper.make_node
        nodes += [
            make("MatMulInteger", [x_u8, cast.input[0], x_zero], [f"{out}/i32"]),
            make("Cast", [f"{out}/i32"], [f"{out}/f32"], to=onnx.TensorProto.FLOAT),
            make("Mul", [x_scale, scale_mul.input[1]], [f"{out}/scale"]),
            make("Mul", [f"{out}/f32", f"{out}/scale"], [out]),
        ]
        # the fp32 expansion goes when this product was its only reader
        for expansion in (scale_mul, cast):
            if uses[expansion.output[0]] == 1:
                dropped.add(id(expansion))
    rewritten = sum(1 for n in nodes if n.op_type == "MatMulInteger")
    kept = [n for n in nodes if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(kept)
    return rewritten


def _int8_weight(
    node: Any, producer: dict[str, Any], constants: dict[str, Any], onnx: Any
) -> tuple[Any, Any] | None:
    """(Cast, Mul) when ``node`` is ``MatMul(x, Cast(W_int8) * scale)`` with both constant."""
    if node.op_type != "MatMul":
        return None
    scale_mul = producer.get(node.input[1])
    if scale_mul is None or scale_mul.op_type != "Mul" or scale_mul.input[1] not in constants:
        return None
    cast = producer.get(scale_mul.input[0])
    if cast is None or cast.op_type != "Cast" or cast.input[0] not in constants:
        return None
    weight = constants[cast.input[0]]
    if weight.data_type != onnx.TensorProto.INT8:
        return None
    rows, columns = weight.dims[-2:]
    if rows > columns:
        # A feed-forward block's output product reads the GELU's wide activations, whose
        # few large values make one uint8 scale per call coarse: kept in fp32, the vectors
        # stay at cosine 0.997 instead of 0.994 of the fp32 path's (LoCoMo extract recall@10
        # 0.750 instead of 0.745), for ~0.5 ms more per query.
        return None
    return cast, scale_mul
