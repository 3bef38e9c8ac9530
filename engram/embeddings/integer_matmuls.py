"""Run a weight-only int8 ONNX model's matrix products in integer arithmetic.

The default model stores each weight matrix as int8 with one fp32 scale per
column, expanded at load (``MatMul(x, Cast(W_int8) * scale)``). onnxruntime
folds that expansion into fp32 constants, so every query reads ~42 MB of fp32
weights: for a 14-token query the products are memory-bound (2.9 of 3.1 ms).
Rewritten here as ``DynamicQuantizeLinear(x)`` -> ``MatMulInteger(x_u8, W_int8)``
-> ``* (x_scale * scale)``, which onnxruntime fuses into one integer kernel,
the same int8 weights are read as they are, a quarter of the bytes. The
feed-forward output products, whose GELU inputs need finer steps, quantise each
token on its own (`_per_token_product`).

The weights are bit for bit the model's; what changes is that each product's
input is quantised to uint8 with one scale per call (or per token), so a text's
vector would depend on what it is batched with. The embedder therefore runs these models one
text per call (see ``LocalEmbedder``). The lookups in the int8 embedding tables
are rewritten too, to expand only the rows looked up (`_gather_before_expanding`:
the same floats, 35 MB less resident). Each layer's attention and GELU then run as
onnxruntime's own fused kernels (engram.embeddings.fused_kernels). Measured against the
fp32 path in docs/embeddings.md.

The rewrite needs the ``onnx`` package, whose import alone adds ~11 MB and ~0.6 s
to a process: `cached_integer_model` runs it once per machine in a child process and
keeps the result in the user's cache directory (``$ENGRAM_MODEL_CACHE``, else
``$XDG_CACHE_HOME/engram`` or ``~/.cache/engram``), checked by its sha256 on every load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from engram.embeddings import fused_kernels
from engram.embeddings.base import EmbeddingError
from engram.embeddings.graph_patterns import graph_maps, is_gelu

# Part of the cached file's name: bump it when the rewrite changes what it writes.
REWRITE_VERSION = 4
#: How far below 0 an erf GELU's output reaches (its minimum is -0.16997, at x = -0.7518).
GELU_FLOOR = 0.17
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    explicit = os.environ.get("ENGRAM_MODEL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "engram"


def cached_integer_model(path: Path, source_sha256: str) -> tuple[Path | bytes, int]:
    """The rewritten model of `path` (whose sha256 the caller checked) and its count of
    integer products: a file in `cache_dir()`, written by a child process the first time;
    where no file can be kept (a read-only home), the bytes, rewritten in this process."""
    try:
        folder = cache_dir()
    except RuntimeError as exc:  # no home directory to keep it under (some containers)
        log.warning("no cache directory for the rewritten embedding model (%s): rewriting "
                    "it in this process; set ENGRAM_MODEL_CACHE to keep it", exc)  # fmt: skip
        return integer_matmul_model(path)
    target = folder / f"{path.stem}-{source_sha256[:16]}-integer-v{REWRITE_VERSION}.onnx"
    facts = target.with_suffix(".json")  # the file's sha256 and its count of products
    known = _checked(target, facts)
    if known is not None:
        return target, known
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(  # our own module, on the file the caller verified
            [sys.executable, "-m", __name__, str(path), str(target)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        known = _checked(target, facts)
        if known is not None:
            return target, known
        reason = done.stderr.strip()[-300:]
    except (OSError, subprocess.SubprocessError) as exc:
        reason = str(exc)
    log.warning("could not cache the rewritten embedding model in %s (%s): rewriting it in "
                "this process", target.parent, reason)  # fmt: skip
    return integer_matmul_model(path)


def _checked(target: Path, facts: Path) -> int | None:
    """The count of integer products of a cached file whose sha256 matches its record."""
    try:
        record = json.loads(facts.read_text())
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("sha256") != digest:
        return None
    products = record.get("products")
    return products if isinstance(products, int) else None


def write_cached(path: Path, target: Path) -> None:
    """Rewrite `path` into `target` and record the result beside it, each file written
    whole before it is renamed into place (processes may race to write the same one)."""
    data, count = integer_matmul_model(path)
    record = {"sha256": hashlib.sha256(data).hexdigest(), "products": count}
    for destination, content in ((target, data), (target.with_suffix(".json"),
                                                  json.dumps(record).encode())):  # fmt: skip
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{destination.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, destination)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def integer_matmul_model(path: Path) -> tuple[bytes, int]:
    """The serialized model with its int8-weight products rewritten, and how many were.

    A model without the int8-weight pattern comes back unchanged (count 0).
    """
    try:
        import onnx  # only here: importing it costs ~0.6 s and most processes never need it
    except ImportError as exc:
        raise EmbeddingError(
            "integer products need the 'onnx' package (pip install onnx), "
            "or set ENGRAM_EMBEDDING_PRODUCTS=fp32"
        ) from exc
    try:
        model = onnx.load(str(path))
        count = _rewrite(model.graph, onnx)
        if count:
            _gather_before_expanding(model.graph, onnx)
            return _with_fused_kernels(model, onnx), count
        return model.SerializeToString(), count
    except Exception as exc:  # a malformed file: say which, not a protobuf traceback
        raise EmbeddingError(f"cannot rewrite embedding model {path}: {exc}") from exc


def _with_fused_kernels(model: Any, onnx: Any) -> bytes:
    """The model with its attention blocks and GELUs fused (engram.embeddings.fused_kernels)
    where the fused graph gives the same hidden states, else as it was."""
    unfused = model.SerializeToString()
    if not fused_kernels.fuse(model, onnx):
        return unfused
    fused = model.SerializeToString()
    if fused_kernels.agrees(unfused, fused):
        return fused
    log.warning("the fused attention kernels disagree with the embedding model: kept unfused")
    return unfused


def _rewrite(graph: Any, onnx: Any) -> int:
    constants, producer, uses = graph_maps(graph)

    nodes: list[Any] = []
    quantized: dict[str, tuple[str, str, str]] = {}  # one quantisation per shared input (Q, K, V)
    dropped: set[int] = set()  # id() of the nodes to leave out
    for node in graph.node:
        weight = _int8_weight(node, producer, constants, onnx)
        if weight is None:
            nodes.append(node)
            continue
        cast, scale_mul = weight
        rows, columns = constants[cast.input[0]].dims[-2:]
        if rows <= columns:
            nodes += _per_call_product(node, cast, scale_mul, quantized, onnx)
        elif is_gelu(node.input[0], producer, constants):
            nodes += _per_token_product(node, cast, scale_mul, constants, graph, onnx)
        else:  # a wide product of something else: its range is unknown, kept in fp32
            nodes.append(node)
            continue
        # the fp32 expansion goes when this product was its only reader
        for expansion in (scale_mul, cast):
            if uses[expansion.output[0]] == 1:
                dropped.add(id(expansion))
    rewritten = sum(1 for n in nodes if n.op_type == "MatMulInteger")
    kept = [n for n in nodes if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(kept)
    return rewritten


def _per_call_product(
    node: Any, cast: Any, scale_mul: Any, quantized: dict[str, tuple[str, str, str]], onnx: Any
) -> list[Any]:
    """``MatMul(x, Cast(W_int8) * scale)`` as ``DynamicQuantizeLinear(x)`` (one uint8 scale
    for the call) -> ``MatMulInteger`` -> ``* (x_scale * scale)``: one fused kernel."""
    make, x, out = onnx.helper.make_node, node.input[0], node.output[0]
    nodes = []
    if x not in quantized:
        quantized[x] = (f"{x}/u8", f"{x}/u8_scale", f"{x}/u8_zero")
        nodes.append(make("DynamicQuantizeLinear", [x], list(quantized[x])))
    x_u8, x_scale, x_zero = quantized[x]
    return [
        *nodes,
        make("MatMulInteger", [x_u8, cast.input[0], x_zero], [f"{out}/i32"]),
        make("Cast", [f"{out}/i32"], [f"{out}/f32"], to=onnx.TensorProto.FLOAT),
        make("Mul", [x_scale, scale_mul.input[1]], [f"{out}/scale"]),
        make("Mul", [f"{out}/f32", f"{out}/scale"], [out]),
    ]


def _per_token_product(
    node: Any, cast: Any, scale_mul: Any, constants: dict[str, Any], graph: Any, onnx: Any
) -> list[Any]:
    """A feed-forward block's output product, ``MatMul(gelu, Cast(W_int8) * scale)``, in
    integers with one uint8 scale per token.

    One scale per call was too coarse for the GELU's wide activations (vectors at cosine
    0.994 of the fp32 path's instead of 0.997), so these products had stayed in fp32: 14 MB
    of fp32 weights read per query, ~1.6 of a 12-token query's ~4.5 ms. GELU never goes
    below -GELU_FLOOR, so ``gelu + GELU_FLOOR`` is at least 0 and fills uint8's 256 levels
    from 0 to its token's own largest value; the shift comes back off as a constant row,
    ``GELU_FLOOR * column sums of W``. The kernel is onnxruntime's native uint8 x int8
    product; the vectors are as close to the fp32 path's as before (docs/embeddings.md).
    The two scales are applied one after the other: as one ``Mul`` of their product,
    onnxruntime fuses them into a kernel that reads a per-token scale wrongly."""
    from onnx import numpy_helper

    make, x, out = onnx.helper.make_node, node.input[0], node.output[0]
    weight = numpy_helper.to_array(constants[cast.input[0]]).astype(np.float64)
    scale = numpy_helper.to_array(constants[scale_mul.input[1]]).astype(np.float64)
    shift_back = GELU_FLOOR * (weight * scale).sum(axis=0, keepdims=True)
    graph.initializer.extend([
        numpy_helper.from_array(np.array(GELU_FLOOR, np.float32), f"{out}/floor"),
        numpy_helper.from_array(np.array(1 / 255, np.float32), f"{out}/per_level"),
        numpy_helper.from_array(np.array(np.finfo(np.float32).tiny, np.float32), f"{out}/tiny"),
        numpy_helper.from_array(shift_back.astype(np.float32), f"{out}/shift_back"),
    ])  # fmt: skip
    return [
        make("Add", [x, f"{out}/floor"], [f"{out}/lifted"]),
        make("ReduceMax", [f"{out}/lifted"], [f"{out}/top"], axes=[-1], keepdims=1),
        make("Mul", [f"{out}/top", f"{out}/per_level"], [f"{out}/step0"]),
        make("Max", [f"{out}/step0", f"{out}/tiny"], [f"{out}/step"]),  # an all-zero token
        make("Div", [f"{out}/lifted", f"{out}/step"], [f"{out}/levels"]),
        make("Round", [f"{out}/levels"], [f"{out}/rounded"]),
        make("Cast", [f"{out}/rounded"], [f"{out}/u8"], to=onnx.TensorProto.UINT8),
        make("MatMulInteger", [f"{out}/u8", cast.input[0]], [f"{out}/i32"]),
        make("Cast", [f"{out}/i32"], [f"{out}/f32"], to=onnx.TensorProto.FLOAT),
        make("Mul", [f"{out}/f32", scale_mul.input[1]], [f"{out}/columns"]),
        make("Mul", [f"{out}/columns", f"{out}/step"], [f"{out}/lifted_out"]),
        make("Sub", [f"{out}/lifted_out", f"{out}/shift_back"], [out]),
    ]


def _gather_before_expanding(graph: Any, onnx: Any) -> None:
    """Rewrite each lookup in an int8 table expanded at load, ``Gather(Cast(W_int8) * scale,
    ids)`` with one scale per table row, as ``Cast(Gather(W_int8, ids)) * Gather(scale,
    ids)``: the same floats, computed for the rows looked up only. onnxruntime folds the
    expansion into an fp32 table otherwise: MiniLM's word embeddings alone take 47 MB
    resident instead of 12."""
    constants, producer, readers = graph_maps(graph)
    nodes: list[Any] = []
    dropped: set[int] = set()  # id() of the expansions to leave out
    make = onnx.helper.make_node
    for node in graph.node:
        table = _int8_table(node, producer, constants, readers, onnx)
        if table is None:
            nodes.append(node)
            continue
        (cast, scale_mul), ids, out = table, node.input[1], node.output[0]
        nodes += [
            make("Gather", [cast.input[0], ids], [f"{out}/i8"], axis=0),
            make("Cast", [f"{out}/i8"], [f"{out}/f32"], to=onnx.TensorProto.FLOAT),
            make("Gather", [scale_mul.input[1], ids], [f"{out}/scale"], axis=0),
            make("Mul", [f"{out}/f32", f"{out}/scale"], [out]),
        ]
        dropped.add(id(scale_mul))
        if readers[cast.output[0]] == 1:
            dropped.add(id(cast))
    del graph.node[:]
    graph.node.extend(n for n in nodes if id(n) not in dropped)


def _int8_table(
    node: Any, producer: dict[str, Any], constants: dict[str, Any], readers: dict[str, int],
    onnx: Any,
) -> tuple[Any, Any] | None:  # fmt: skip
    """(Cast, Mul) when ``node`` is ``Gather(Cast(W_int8) * scale, ids)`` on axis 0, the
    scale one per row, and the expansion read by this lookup alone."""
    if node.op_type != "Gather" or any(a.name == "axis" and a.i != 0 for a in node.attribute):
        return None
    scale_mul = producer.get(node.input[0])
    if (scale_mul is None or scale_mul.op_type != "Mul" or readers[node.input[0]] != 1
            or scale_mul.input[1] not in constants):  # fmt: skip
        return None
    cast = producer.get(scale_mul.input[0])
    if cast is None or cast.op_type != "Cast" or cast.input[0] not in constants:
        return None
    weight, scale = constants[cast.input[0]], constants[scale_mul.input[1]]
    if weight.data_type != onnx.TensorProto.INT8 or list(scale.dims) != [weight.dims[0], 1]:
        return None
    return cast, scale_mul


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
    return cast, scale_mul


if __name__ == "__main__":  # the child process of `cached_integer_model`
    write_cached(Path(sys.argv[1]), Path(sys.argv[2]))
