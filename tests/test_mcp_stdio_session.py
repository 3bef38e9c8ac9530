"""`engram mcp` as a real subprocess, driven by the MCP SDK's own stdio client."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

EXPECTED_TOOLS = {"add_memory", "search_memories", "list_memories", "update_memory",
                  "delete_memory"}  # fmt: skip


def _payload(result) -> dict:
    assert not result.is_error if hasattr(result, "is_error") else not result.isError
    structured = getattr(result, "structured_content", None) or getattr(
        result, "structuredContent", None
    )
    if structured:
        return structured.get("result", structured)
    return json.loads(result.content[0].text)


async def _session(home: Path) -> tuple[set[str], dict, dict, dict]:
    env = {**os.environ, "ENGRAM_HOME": str(home), "ENGRAM_DEFAULT_USER_ID": "max"}
    env.pop("ENGRAM_HOST", None)
    env.pop("ENGRAM_LLM_MODEL", None)
    params = StdioServerParameters(command=sys.executable, args=["-m", "engram.cli", "mcp"],
                                   env=env)  # fmt: skip
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed_tools = (await session.list_tools()).tools
        tools = {t.name for t in listed_tools}
        # each tool declares its result as the contract's model (engram.schemas)
        schemas = {t.name: getattr(t, "output_schema", None) or getattr(t, "outputSchema", None)
                   for t in listed_tools}  # fmt: skip
        assert {"results", "count"} <= set(schemas["list_memories"]["properties"]), schemas
        added = _payload(
            await session.call_tool(
                "add_memory", {"text": "My right knee flares up on downhills", "user_id": "max"}
            )
        )
        found = _payload(await session.call_tool("search_memories", {"query": "knee injury"}))
        listed = _payload(await session.call_tool("list_memories", {"user_id": "max"}))
    return tools, added, found, listed


def test_mcp_stdio_add_then_search(tmp_path: Path) -> None:
    tools, added, found, listed = anyio.run(_session, tmp_path)
    assert tools >= EXPECTED_TOOLS
    assert [r["event"] for r in added["results"]] == ["ADD"]
    # no user_id in the search call: ENGRAM_DEFAULT_USER_ID supplied the scope
    assert found["results"][0]["memory"] == "Max's right knee flares up on downhills"
    assert listed["count"] == 1
    assert (tmp_path / "engram.db").exists()  # the session used its own home, not ~/.engram
