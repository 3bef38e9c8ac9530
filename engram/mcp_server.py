"""`engram mcp`: Engram as an MCP server over stdio, for Claude Desktop, Cursor and friends.

Tools: add_memory, search_memories, list_memories, update_memory, delete_memory. Scope ids
are tool arguments; when a call names none, ENGRAM_DEFAULT_USER_ID is used. Backed by the
local store ($ENGRAM_HOME), or by an Engram server when ENGRAM_HOST is set.

Claude Desktop config:  {"mcpServers": {"engram": {"command": "engram", "args": ["mcp"]}}}
"""

from __future__ import annotations

import os
import threading
from typing import Any

from engram import schemas as s

_backend: Any = None
_lock = threading.Lock()

INSTRUCTIONS = (
    "Long-term memory about the user. Search it before answering questions that may depend "
    "on what the user said before; add what they say that is worth remembering."
)


def backend() -> Any:
    """Opened on first use, so the server answers `initialize` before the models load."""
    global _backend
    with _lock:
        if _backend is None:
            if os.environ.get("ENGRAM_HOST"):
                from engram.client import MemoryClient

                _backend = MemoryClient()  # ENGRAM_HOST / ENGRAM_API_KEY
            else:
                from engram.memory import Memory

                _backend = Memory()
        return _backend


def scope(
    user_id: str | None, agent_id: str | None = None, run_id: str | None = None
) -> dict[str, str]:
    ids = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    ids = {k: v for k, v in ids.items() if v}
    if not ids and os.environ.get("ENGRAM_DEFAULT_USER_ID"):
        ids["user_id"] = os.environ["ENGRAM_DEFAULT_USER_ID"]
    return ids  # empty: the library raises its "needs a scope" error, which the client sees


def add_memory(
    text: str,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    infer: bool = True,
) -> s.AddResult:
    """Remember what the user said: facts are extracted and reconciled with stored ones.

    Returns the events (ADD, UPDATE, DELETE, NONE) for each fact.
    """
    return s.AddResult.model_validate(backend().add(
        text, **scope(user_id, agent_id, run_id), metadata=metadata, infer=infer))  # fmt: skip


def search_memories(
    query: str,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    filters: dict[str, Any] | None = None,
    limit: int = 5,
) -> s.SearchResult:
    """Find the stored memories most relevant to `query`, best first."""
    return s.SearchResult.model_validate(backend().search(
        query, **scope(user_id, agent_id, run_id), filters=filters, limit=limit))  # fmt: skip


def list_memories(
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    filters: dict[str, Any] | None = None,
    page: int = 1,
    page_size: int = 50,
) -> s.Page:
    """List stored memories in a scope, newest first."""
    return s.Page.model_validate(backend().get_all(
        **scope(user_id, agent_id, run_id), filters=filters, page=page,
        page_size=page_size))  # fmt: skip


def update_memory(
    memory_id: str, text: str | None = None, metadata: dict[str, Any] | None = None
) -> s.Updated:
    """Change a memory's text and/or metadata; the change is kept in its history."""
    return s.Updated.model_validate(backend().update(memory_id, text=text, metadata=metadata))


def delete_memory(memory_id: str) -> s.Confirmation:
    """Forget one memory by id."""
    return s.Confirmation.model_validate(backend().delete(memory_id))


TOOLS = (add_memory, search_memories, list_memories, update_memory, delete_memory)


def build_server() -> Any:
    try:  # mcp >= 2 renamed FastMCP to MCPServer
        from mcp.server.mcpserver import MCPServer as Server
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]
    server = Server("engram", instructions=INSTRUCTIONS)
    for tool in TOOLS:
        server.tool()(tool)
    return server


def run() -> None:
    """Serve over stdio until the client closes stdin."""
    build_server().run("stdio")
