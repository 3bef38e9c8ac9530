"""Export a project's memories to JSON Lines, and import them into another store.

One line per memory: its id, text, scope ids, metadata, categories, dates, state,
replaced_by, its sources (the messages it came from), its full history, and (optionally)
its embedding with the embedding model id.
Superseded and expired memories are exported too, so an import is an exact copy.

Import is idempotent: memories are written by id, each with its history in one
transaction, so re-running an interrupted import skips (or, with overwrite, replaces)
what is already there and never duplicates. Embeddings are reused when the exporting
model is the importing store's model, and recomputed otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engram.filters import Node
from engram.models import Event, HistoryEntry, MemoryRecord, State
from engram.stores.base import Query, WriteBatch

FORMAT_VERSION = 1
CHUNK = 200
_RECORD_FIELDS = ("user_id", "agent_id", "run_id", "app_id", "metadata", "categories",
                  "created_at", "updated_at", "expiration_date", "replaced_by", "hash",
                  "sources", "immutable")  # fmt: skip
_HISTORY_FIELDS = ("id", "event", "old_memory", "new_memory", "created_at", "actor",
                   "user_id", "agent_id", "run_id", "snapshot")  # fmt: skip


@dataclass
class ImportReport:
    imported: int = 0
    skipped: int = 0  # already present (by id) and not overwritten
    reembedded: int = 0  # vectors recomputed: none exported, or another model made them


# ---------------------------------------------------------------------------- export


def export_memories(
    memory: Any, file: str | Path, *, embeddings: bool = True, progress: bool = False
) -> int:
    """Write every memory of `memory`'s project to `file` ('-' for stdout); returns the count."""
    total = memory.store.count(Query(memory.project_id, None, "", include_inactive=True))
    written = 0
    with _open_out(file) as f, _progress(progress, total, "exporting") as advance:
        for chunk in export_chunks(memory, embeddings=embeddings):
            for line in chunk:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
            written += len(chunk)
            advance(len(chunk))
    return written


def export_chunks(
    memory: Any, where: Node | None = None, *, embeddings: bool = False
) -> Iterator[list[dict[str, Any]]]:
    """The export lines of `memory`'s project (those matching `where`), a chunk at a time;
    the server's `/v1/exports/` returns the same lines."""
    store, project = memory.store, memory.project_id
    model_id = memory.embedder.model_id if embeddings else None
    for chunk in _chunks(store, project, where):
        vectors = _vectors(store, project, chunk) if embeddings else {}
        yield [to_line(store, record, vectors.get(record.id), model_id) for record in chunk]


def _chunks(store: Any, project: str, where: Node | None) -> Iterator[list[MemoryRecord]]:
    offset = 0
    while True:
        q = Query(project, where, "", limit=CHUNK, offset=offset, include_inactive=True)
        rows = [r for r, _ in store.query(q)]
        if not rows:
            return
        yield rows
        offset += len(rows)


def _vectors(store: Any, project: str, records: list[MemoryRecord]) -> dict[str, np.ndarray]:
    return store.vectors(project, [r.id for r in records])


def to_line(
    store: Any, record: MemoryRecord, vector: np.ndarray | None, model_id: str | None
) -> dict[str, Any]:
    line: dict[str, Any] = {"engram_export": FORMAT_VERSION, "id": record.id,
                            "memory": record.memory, "state": str(record.state)}  # fmt: skip
    line.update({name: getattr(record, name) for name in _RECORD_FIELDS})
    line["history"] = [
        {name: str(getattr(h, name)) if name == "event" else getattr(h, name)
         for name in _HISTORY_FIELDS}
        for h in store.history(record.project, record.id)
    ]  # fmt: skip
    if vector is not None and model_id:
        line["embedding_model"] = model_id
        line["embedding"] = [float(x) for x in vector]
    return line


# ---------------------------------------------------------------------------- import


def import_memories(
    memory: Any, file: str | Path, *, overwrite: bool = False, progress: bool = False
) -> ImportReport:
    """Load an export into `memory`'s project; safe to re-run after an interruption."""
    report = ImportReport()
    total = _count_lines(file)
    with _open_in(file) as f, _progress(progress, total, "importing") as advance:
        batch: list[dict[str, Any]] = []
        for line in _read_lines(f):
            batch.append(line)
            if len(batch) >= CHUNK:
                _import_chunk(memory, batch, overwrite, report)
                advance(len(batch))
                batch = []
        if batch:
            _import_chunk(memory, batch, overwrite, report)
            advance(len(batch))
    return report


def _read_lines(f: TextIO) -> Iterator[dict[str, Any]]:
    for number, raw in enumerate(f, start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number} is not JSON: {exc.msg}") from None
        if not isinstance(line, dict) or "id" not in line or "memory" not in line:
            raise ValueError(f"line {number} is not an Engram export line (needs id and memory)")
        yield line


def _import_chunk(
    memory: Any, lines: list[dict[str, Any]], overwrite: bool, report: ImportReport
) -> None:
    store, project = memory.store, memory.project_id
    existing = {r.id for r in store.get(project, [line["id"] for line in lines])}
    todo = [ln for ln in lines if overwrite or ln["id"] not in existing]
    report.skipped += len(lines) - len(todo)
    if not todo:
        return
    vectors = _import_vectors(memory, todo, report)
    batch = WriteBatch()
    for line, vector in zip(todo, vectors):
        # history may already be there: a re-run, or a memory deleted here but kept in history
        known = {h.id for h in store.history(project, line["id"])}
        batch.upserts.append((from_line(line, project), vector))
        batch.history.extend(h for h in _history(line, project) if h.id not in known)
    store.write(batch)  # one transaction: a memory never lands without its history
    report.imported += len(todo)


def _import_vectors(
    memory: Any, lines: list[dict[str, Any]], report: ImportReport
) -> list[np.ndarray]:
    embedder = memory.embedder
    usable = [ln.get("embedding_model") == embedder.model_id
              and len(ln.get("embedding") or ()) == embedder.dims for ln in lines]  # fmt: skip
    missing = [ln["memory"] for ln, ok in zip(lines, usable) if not ok]
    fresh = iter(embedder.embed(missing) if missing else [])
    report.reembedded += len(missing)
    return [np.asarray(ln["embedding"], dtype=np.float32) if ok else next(fresh)
            for ln, ok in zip(lines, usable)]  # fmt: skip


def from_line(line: dict[str, Any], project: str) -> MemoryRecord:
    fields = {name: line.get(name) for name in _RECORD_FIELDS}
    fields["metadata"] = fields["metadata"] or {}
    fields["categories"] = fields["categories"] or []
    fields["created_at"] = fields["created_at"] or ""
    fields["updated_at"] = fields["updated_at"] or ""
    fields["hash"] = fields["hash"] or ""
    fields["sources"] = fields["sources"] or []  # exports before provenance have none
    fields["immutable"] = bool(fields["immutable"])
    return MemoryRecord(id=line["id"], memory=line["memory"], project=project,
                        state=State(line.get("state") or State.ACTIVE), **fields)  # fmt: skip


def _history(line: dict[str, Any], project: str) -> list[HistoryEntry]:
    return [_history_entry(h, line["id"], project) for h in line.get("history") or []]


def _history_entry(h: dict[str, Any], memory_id: str, project: str) -> HistoryEntry:
    return HistoryEntry(
        h["id"], memory_id, Event(h["event"]), h.get("old_memory"), h.get("new_memory"),
        h["created_at"], h.get("actor"), project, h.get("user_id"), h.get("agent_id"),
        h.get("run_id"), h.get("snapshot"),
    )  # fmt: skip


# ---------------------------------------------------------------------------- helpers


@contextmanager
def _open_out(file: str | Path) -> Iterator[TextIO]:
    if str(file) == "-":
        yield sys.stdout
        return
    # write next to the target and rename, so a crash never leaves half an export behind
    path = Path(file)
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # memories: owner-only
    with open(fd, "w", encoding="utf-8") as f:
        yield f
    tmp.replace(path)


@contextmanager
def _open_in(file: str | Path) -> Iterator[TextIO]:
    if str(file) == "-":
        yield sys.stdin
        return
    with open(file, encoding="utf-8") as f:
        yield f


def _count_lines(file: str | Path) -> int | None:
    if str(file) == "-":
        return None
    with open(file, "rb") as f:
        return sum(1 for raw in f if raw.strip())


@contextmanager
def _progress(enabled: bool, total: int | None, label: str) -> Iterator[Any]:
    """A rich progress bar on stderr for long runs; a no-op otherwise."""
    if not enabled or not total or total < CHUNK:
        yield lambda n: None
        return
    columns: Iterable[Any] = (TextColumn(label), BarColumn(), MofNCompleteColumn(),
                              TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
