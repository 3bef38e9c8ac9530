"""Recognising patterns in an ONNX graph: the helpers the embedding model's rewrites share
(engram.embeddings.integer_matmuls, engram.embeddings.fused_kernels)."""

from __future__ import annotations

from typing import Any


def graph_maps(graph: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """The graph's constants by name, each value's producing node, each value's reader count."""
    constants = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    return constants, producer, readers


def is_gelu(name: str, producer: dict[str, Any], constants: dict[str, Any]) -> bool:
    """Whether `name` is an erf GELU's output, ``x * 0.5 * (1 + erf(x / sqrt 2))`` with
    its two products nested either way (whose values are never below -0.17)."""
    node = producer.get(name)
    if node is None or node.op_type != "Mul":
        return False
    factors: list[str] = []
    for value in node.input:  # (x * 0.5) * f or x * (0.5 * f): the inner product opened
        inner = producer.get(value)
        halved = inner is not None and inner.op_type == "Mul" and any(
            scalar(v, constants) == 0.5 for v in inner.input)  # fmt: skip
        factors += list(inner.input) if halved else [value]
    others = [v for v in factors if scalar(v, constants) != 0.5]
    if len(factors) != 3 or len(others) != 2:
        return False
    return any(one_plus_erf(f, x, producer, constants) for x, f in (others, others[::-1]))


def one_plus_erf(name: str, x: str, producer: dict[str, Any], constants: dict[str, Any]) -> bool:
    """Whether `name` is ``1 + erf(x / sqrt 2)`` (or ``erf(x * (1 / sqrt 2)) + 1``)."""
    add = producer.get(name)
    if add is None or add.op_type != "Add" or len(add.input) != 2:
        return False
    one = [v for v in add.input if scalar(v, constants) == 1.0]
    erf = [producer.get(v) for v in add.input if v not in one]
    if len(one) != 1 or len(erf) != 1 or erf[0] is None or erf[0].op_type != "Erf":
        return False
    scaled = producer.get(erf[0].input[0])
    if scaled is None or scaled.op_type not in ("Div", "Mul") or scaled.input[0] != x:
        return False
    root = scalar(scaled.input[1], constants)
    wanted = 2**0.5 if scaled.op_type == "Div" else 2**-0.5
    return root is not None and abs(root - wanted) < 1e-3


def scalar(name: str, constants: dict[str, Any]) -> float | None:
    """The value of a one-element constant, else None."""
    tensor = constants.get(name)
    if tensor is None:
        return None
    from onnx import numpy_helper

    value = numpy_helper.to_array(tensor)
    return float(value.reshape(-1)[0]) if value.size == 1 else None


def readers(graph: Any) -> dict[str, list[Any]]:
    """Each value's reading nodes, in graph order."""
    found: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def only_reader(name: str, op: str, readers: dict[str, list[Any]]) -> Any | None:
    """The node reading `name` if it is the only one and an `op`, else None."""
    users = readers.get(name, [])
    return users[0] if len(users) == 1 and users[0].op_type == op else None
