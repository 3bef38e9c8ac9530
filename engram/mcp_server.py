"""`engram mcp`: Engram as an MCP server over stdio, for Claude Desktop, Cursor and friends.

Tools: add_memory, search_memories, list_memories, update_memory, delete_memory. Scope ids
are tool arguments; when a call names none, ENGRAM_DEFAULT_USER_ID is used. Backed by the
local store ($ENGRAM_HOME), or by an Engram server when ENGRAM_HOST is set.

Claude Desktop config:  {"mcpServers": {"engram": {"command": "engram", "args": ["mcp"]}}}
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

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


SCOPE_IDS = ("user_id", "agent_id", "run_id")


def scope(
    user_id: str | None, agent_id: str | None = None, run_id: str | None = None
) -> dict[str, str]:
    ids = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id}
    ids = {k: v for k, v in ids.items() if v}
    if not ids and os.environ.get("ENGRAM_DEFAULT_USER_ID"):
        ids["user_id"] = os.environ["ENGRAM_DEFAULT_USER_ID"]
    return ids  # empty: the library raises its "needs a scope" error, which the client sees


def tool(result: type[BaseModel], *, scoped: bool = False) -> Callable[..., Callable[..., Any]]:
    """An MCP tool from `call(memory, **arguments)`: the tool takes `call`'s parameters (a
    scoped tool also user_id, agent_id and run_id, resolved by `scope`) and answers the
    contract's `result` model, which its schema declares."""

    def build(call: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(call, eval_str=True).parameters.values()
               if p.kind is not p.VAR_KEYWORD][1:]  # fmt: skip
        ids = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None,
                                 annotation=str | None)
               for n in (SCOPE_IDS if scoped else ())]  # fmt: skip

        def run(**arguments: Any) -> BaseModel:
            given = scope(*(arguments.pop(n, None) for n in SCOPE_IDS)) if scoped else {}
            return result.model_validate(call(backend(), **arguments, **given))

        run.__name__ = run.__qualname__ = call.__name__
        run.__doc__ = call.__doc__
        run.__signature__ = inspect.Signature([*own, *ids], return_annotation=result)  # type: ignore[attr-defined]
        return run

    return build


@tool(s.AddResult, scoped=True)
def add_memory(
    memory: Any, text: str, metadata: dict[str, Any] | None = None, infer: bool = True,
    **scope: str,
) -> Any:  # fmt: skip
    """Remember what the user said: facts are extracted and reconciled with stored ones.

    Returns the events (ADD, UPDATE, DELETE, NONE) for each fact.
    """
    return memory.add(text, metadata=metadata, infer=infer, **scope)


@tool(s.SearchResult, scoped=True)
def search_memories(
    memory: Any, query: str, filters: dict[str, Any] | None = None, limit: int = 5, **scope: str
) -> Any:
    """Find the stored memories most relevant to `query`, best first."""
    return memory.search(query, filters=filters, limit=limit, **scope)


@tool(s.Page, scoped=True)
def list_memories(
    memory: Any, filters: dict[str, Any] | None = None, page: int = 1, page_size: int = 50,
    **scope: str,
) -> Any:  # fmt: skip
    """List stored memories in a scope, newest first."""
    return memory.get_all(filters=filters, page=page, page_size=page_size, **scope)


@tool(s.Updated)
def update_memory(
    memory: Any, memory_id: str, text: str | None = None, metadata: dict[str, Any] | None = None
) -> Any:
    """Change a memory's text and/or metadata; the change is kept in its history."""
    return memory.update(memory_id, text=text, metadata=metadata)


@tool(s.Confirmation)
def delete_memory(memory: Any, memory_id: str) -> Any:
    """Forget one memory by id."""
    return memory.delete(memory_id)


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
