"""Memory exports (`POST /v1/exports/`, `POST /v1/exports/get/`): a project's memories,
optionally filtered, in `engram export`'s line format (engram.transfer), kept in the server
database so an export reads back later, on any server, exactly as it was made."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from engram import schemas as s
from engram.errors import NotFoundError
from engram.models import iso, utcnow
from engram.server.auth import Principal
from engram.server.state import StateSchema, open_state
from engram.stores.migrations import Migration
from engram.transfer import FORMAT_VERSION, export_chunks

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS exports (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, org_id TEXT NOT NULL,
    project_id TEXT NOT NULL, request_key TEXT NOT NULL, fields TEXT, count INTEGER NOT NULL,
    memories TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exports_request ON exports (org_id, project_id, request_key, seq);
"""
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS {exports} (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text COLLATE "C" UNIQUE NOT NULL,
    org_id text COLLATE "C" NOT NULL, project_id text COLLATE "C" NOT NULL,
    request_key text COLLATE "C" NOT NULL, fields text, count integer NOT NULL,
    memories text NOT NULL, created_at text NOT NULL
);
CREATE INDEX IF NOT EXISTS {exports}_request ON {exports} (org_id, project_id, request_key, seq);
"""
_COLS = "id, request_key, fields, count, memories, created_at"

SCHEMA = StateSchema(
    "exports", sqlite=[Migration(1, _SQLITE_SCHEMA)], postgres=[Migration(1, _POSTGRES_SCHEMA)]
)


def _request_key(req: s.Scoped) -> str:
    """What an export was asked for (scope ids and filters), to find it again by them."""
    return json.dumps({"scope": req.scope(), "filters": req.filters}, sort_keys=True)


class ExportStore:
    def __init__(self, location: Path | str) -> None:
        self._db = open_state(location, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def create(self, who: Principal, memory: Any, req: s.ExportRequest) -> dict[str, Any]:
        fields = req.fields()
        lines = [line for chunk in export_chunks(memory, req.where) for line in chunk]
        if fields:
            lines = [{k: line.get(k) for k in fields} for line in lines]
        export_id = str(uuid.uuid4())
        self._db.execute(
            "INSERT INTO {exports} (id, org_id, project_id, request_key, fields, count,"
            " memories, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (export_id, who.org_id, who.project_id, _request_key(req),
             json.dumps(fields) if fields else None, len(lines),
             json.dumps(lines, ensure_ascii=False), iso(utcnow())),
        )  # fmt: skip
        return {"message": f"Memory export ready: {len(lines)} memories.", "id": export_id,
                "status": "COMPLETED"}  # fmt: skip

    def get(self, who: Principal, req: s.ExportGetRequest) -> dict[str, Any]:
        if req.memory_export_id:
            where, param = "id = ?", req.memory_export_id
        else:
            where, param = "request_key = ?", _request_key(req)
        rows = self._db.execute(
            f"SELECT {_COLS} FROM {{exports}} WHERE org_id = ? AND project_id = ? AND {where}"
            " ORDER BY seq DESC LIMIT 1",
            (who.org_id, who.project_id, param),
        )
        if not rows:
            what = req.memory_export_id or "these filters"
            raise NotFoundError(f"no memory export for {what}", field="memory_export_id")
        export_id, key, fields, count, memories, created_at = rows[0]
        return {"id": export_id, "status": "COMPLETED", "format": "engram-export",
                "version": FORMAT_VERSION, "count": count, "created_at": created_at,
                "filters": json.loads(key), "fields": json.loads(fields) if fields else None,
                "memories": json.loads(memories)}  # fmt: skip
