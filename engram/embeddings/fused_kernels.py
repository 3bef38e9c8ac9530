"""Fuse the rewritten model's attention blocks and GELUs into onnxruntime's own kernels.

MiniLM as exported spends a short query's time as much in small nodes as in its products:
each layer's attention is ~25 of them (the query, key and value reshaped and transposed
into heads, the key transposed again through a chain of Shape/Slice/Concat, the scores
scaled, masked, soft-maxed and NaN-guarded), and each GELU five more. onnxruntime fuses
neither from this export. After the integer rewrite (engram.embeddings.integer_matmuls)
the three products of a layer's attention share one uint8 quantisation of their input,
which is exactly the input of onnxruntime's ``QAttention`` kernel: one node computes the
three products (their int8 weights side by side, one scale per column as before), the
heads, the scaled masked softmax and its values. The GELU becomes ``Gelu``, the same
formula in one kernel. A 14-token query runs 129 nodes instead of 333 (after onnxruntime's
own passes), in ~1/3 less time on two threads (docs/embeddings.md).

A fused model is kept only if its hidden states match the unfused one's on a sample
input (`agrees`): a graph that matched the patterns but meant something else is left as
it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.embeddings.graph_patterns import graph_maps, is_gelu, only_reader, readers

CONTRIB = "com.microsoft"
MASK_I32 = "attention_mask/int32"
#: Worst cosine between a fused and an unfused token's hidden state that still counts as the
#: same model (they differ by float rounding only; a mis-fused block gives ~0.5).
AGREEMENT = 0.995


@dataclass(frozen=True)
class _Projection:
    """One of the attention's three products: int8 weight, per-column scale, bias."""

    weight: str
    scale: str
    bias: str
    heads_out: str  # the output of its Transpose into (batch, heads, tokens, head size)


@dataclass(frozen=True)
class _Attention:
    quantize: Any  # the DynamicQuantizeLinear the three products share
    query: _Projection
    key: _Projection
    value: _Projection
    last: Any  # the Reshape whose output is the block's (batch, tokens, hidden)
    heads: int


def fuse(model: Any, onnx: Any) -> int:
    """Fuse `model`'s attention blocks and GELUs in place; the count of blocks fused."""
    graph = model.graph
    if "attention_mask" not in {i.name for i in graph.input}:
        return 0
    constants, producer, _ = graph_maps(graph)  # of the graph as it is: read once
    users = readers(graph)
    blocks = _attention_blocks(graph, constants, producer, users)
    if not blocks:
        return 0
    from onnx import numpy_helper

    make = onnx.helper.make_node
    # keyed by the replaced node's output: protobuf's node objects come and go, and so do ids
    replaced: dict[str, Any] = {}
    for block in blocks:
        out = block.last.output[0]
        parts = (block.query, block.key, block.value)
        weight = np.concatenate([_array(constants[p.weight]) for p in parts], axis=1)
        scale = np.concatenate([_array(constants[p.scale]).reshape(-1) for p in parts])
        bias = np.concatenate([_array(constants[p.bias]).reshape(-1) for p in parts])
        graph.initializer.extend([
            numpy_helper.from_array(weight, f"{out}/qkv_weight"),
            numpy_helper.from_array(scale.astype(np.float32), f"{out}/qkv_scale"),
            numpy_helper.from_array(bias.astype(np.float32), f"{out}/qkv_bias"),
        ])  # fmt: skip
        x_u8, x_scale, x_zero = block.quantize.output
        replaced[out] = make(
            "QAttention",
            [x_u8, f"{out}/qkv_weight", f"{out}/qkv_bias", x_scale, f"{out}/qkv_scale",
             MASK_I32, x_zero],
            [out], domain=CONTRIB, num_heads=block.heads,
        )  # fmt: skip
    replaced.update(_gelus(graph, onnx, constants, producer, users))
    nodes = [make("Cast", ["attention_mask"], [MASK_I32], to=onnx.TensorProto.INT32)]
    nodes += [replaced.get(n.output[0], n) for n in graph.node]
    kept = _needed(nodes, {o.name for o in graph.output})  # before the old list goes
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for n in graph.node for name in n.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:
        graph.initializer.remove(tensor)
    if CONTRIB not in {o.domain for o in model.opset_import}:
        model.opset_import.append(onnx.helper.make_opsetid(CONTRIB, 1))
    return len(blocks)


def _array(tensor: Any) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(tensor)


def _attention_blocks(
    graph: Any, constants: dict[str, Any], producer: dict[str, Any],
    users: dict[str, list[Any]],
) -> list[_Attention]:  # fmt: skip
    blocks = []
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            block = _attention(node, constants, producer, users)
            if block is not None:
                blocks.append(block)
    return blocks


def _attention(
    quantize: Any, constants: dict[str, Any], producer: dict[str, Any],
    users: dict[str, list[Any]],
) -> _Attention | None:  # fmt: skip
    """The attention block whose query, key and value products read `quantize`, or None
    where the graph around it is not the exported self-attention."""
    products = users.get(quantize.output[0], [])
    if len(products) != 3 or any(p.op_type != "MatMulInteger" for p in products):
        return None
    projections = [_projection(p, quantize, constants, producer, users) for p in products]
    if any(p is None for p in projections):
        return None
    by_use: dict[str, _Projection] = {}
    for p in projections:
        assert p is not None
        by_use[_use(p.heads_out, users)] = p
    if set(by_use) != {"query", "key", "value"}:
        return None
    last = _heads_merged(by_use["value"].heads_out, users)
    head_size = _head_size(by_use["query"].heads_out, users, constants)
    hidden = constants[by_use["query"].weight].dims[-1]
    if last is None or head_size is None or hidden % head_size:
        return None
    return _Attention(quantize, by_use["query"], by_use["key"], by_use["value"], last,
                      hidden // head_size)  # fmt: skip


def _projection(
    product: Any, quantize: Any, constants: dict[str, Any], producer: dict[str, Any],
    users: dict[str, list[Any]],
) -> _Projection | None:  # fmt: skip
    """``MatMulInteger -> Cast -> * (x_scale * column scale) -> + bias -> Reshape ->
    Transpose(0, 2, 1, 3)``, as `integer_matmuls._per_call_product` writes it."""
    if product.input[1] not in constants or list(product.input[2:]) != [quantize.output[2]]:
        return None
    cast = only_reader(product.output[0], "Cast", users)
    scaled = cast and only_reader(cast.output[0], "Mul", users)
    scale = scaled and producer.get(scaled.input[1])
    if (scale is None or scale.op_type != "Mul" or list(scale.input[:1]) != [quantize.output[1]]
            or scale.input[1] not in constants):  # fmt: skip
        return None
    biased = only_reader(scaled.output[0], "Add", users)
    bias = [v for v in biased.input if v in constants] if biased else []
    split = biased and only_reader(biased.output[0], "Reshape", users)
    moved = split and only_reader(split.output[0], "Transpose", users)
    if len(bias) != 1 or moved is None or _perm(moved) != [0, 2, 1, 3]:
        return None
    return _Projection(product.input[1], scale.input[1], bias[0], moved.output[0])


def _use(heads: str, users: dict[str, list[Any]]) -> str:
    """What a projection's heads feed: the values' product (value), a scaling on the way
    to the scores (query), or the reshaping of the key's transpose (key)."""
    found = users.get(heads, [])
    ops = sorted(u.op_type for u in found)
    if any(u.op_type == "MatMul" and u.input[1] == heads for u in found) and len(found) == 1:
        return "value"
    if ops == ["Mul"]:
        return "query"
    return "key" if "Reshape" in ops else "other"


def _heads_merged(value_heads: str, users: dict[str, list[Any]]) -> Any | None:
    """The Reshape after ``MatMul(softmax(scores), values) -> Transpose(0, 2, 1, 3)``."""
    (product,) = users[value_heads]
    moved = only_reader(product.output[0], "Transpose", users)
    merged = moved and only_reader(moved.output[0], "Reshape", users)
    if merged is None or _perm(moved) != [0, 2, 1, 3]:
        return None
    return merged


def _head_size(query_heads: str, users: dict[str, list[Any]],
               constants: dict[str, Any]) -> int | None:  # fmt: skip
    """The head size from the query's scaling, which is head_size ** -0.25 (the key gets
    the same, their product the usual 1 / sqrt(head_size))."""
    (scaling,) = users[query_heads]
    factor = [v for v in scaling.input if v in constants]
    if len(factor) != 1:
        return None
    value = _array(constants[factor[0]]).reshape(-1)
    if value.size != 1 or not 0 < value[0] < 1:
        return None
    size = round(float(value[0]) ** -4)
    return size if abs(size**-0.25 - value[0]) < 1e-5 else None


def _gelus(
    graph: Any, onnx: Any, constants: dict[str, Any], producer: dict[str, Any],
    users: dict[str, list[Any]],
) -> dict[str, Any]:  # fmt: skip
    """``x * (0.5 * (1 + erf(x / sqrt 2)))`` as ``Gelu(x)``: the output replaced -> Gelu."""
    fused = {}
    for erf in (n for n in graph.node if n.op_type == "Erf"):
        scaled = producer.get(erf.input[0])
        plus_one = only_reader(erf.output[0], "Add", users)
        halved = plus_one and only_reader(plus_one.output[0], "Mul", users)
        product = halved and only_reader(halved.output[0], "Mul", users)
        if scaled is None or product is None or not is_gelu(product.output[0], producer,
                                                             constants):  # fmt: skip
            continue
        x = scaled.input[0]
        fused[product.output[0]] = onnx.helper.make_node("Gelu", [x], [product.output[0]],
                                                   domain=CONTRIB)  # fmt: skip
    return fused


def _perm(node: Any) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == "perm"), [])


def _needed(nodes: list[Any], outputs: set[str]) -> list[Any]:
    """`nodes` (in order) less those nothing reads: what the fused kernels made dead."""
    wanted, kept = set(outputs), []
    for node in reversed(nodes):
        if any(o in wanted for o in node.output):
            kept.append(node)
            wanted.update(node.input)
    return kept[::-1]


def agrees(before: bytes, after: bytes) -> bool:
    """Whether two BERT-style models give the same hidden states (cosine per token) on a
    sample input, with one padded position masked out."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(m, providers=["CPUExecutionProvider"])
                for m in (before, after)]  # fmt: skip
    names = {i.name for i in sessions[0].get_inputs()}
    ids = np.array([[101, 2026, 2157, 6181, 13403, 2006, 2146, 4091, 102, 0]], np.int64)
    feeds = {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64),
             "token_type_ids": np.zeros_like(ids)}  # fmt: skip
    feeds = {k: v for k, v in feeds.items() if k in names}
    try:
        a, b = (s.run(None, feeds)[0][0, :-1] for s in sessions)
    except Exception:  # the fused graph does not run here: keep the unfused one
        return False
    cosine = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return bool(cosine.min() >= AGREEMENT)
