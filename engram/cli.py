"""`engram`: the command line. Each command is a thin shell over one library call.

Memory commands use the local store ($ENGRAM_HOME, or --home) by default, or an Engram
server with --host/--api-key (ENGRAM_HOST/ENGRAM_API_KEY). Tables for people, --json for
scripts. Errors print one line and exit 1 (ENGRAM_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="engram",
    help="Engram: self-hosted long-term memory for LLM apps (Mem0-compatible).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="API keys of the REST server.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

# ---------------------------------------------------------------------------- options

Home = Annotated[
    Path | None,
    # no envvar here: left unset, the library applies ENGRAM_DATABASE, then ENGRAM_HOME
    typer.Option("--home", help="Local data directory [default: $ENGRAM_HOME or ~/.engram]."),
]
Host = Annotated[
    str | None,
    typer.Option("--host", envvar="ENGRAM_HOST", help="Engram server URL; local store if unset."),
]
ApiKey = Annotated[
    str | None, typer.Option("--api-key", envvar="ENGRAM_API_KEY", help="Server API key.")
]
Project = Annotated[str, typer.Option("--project", help="Project of the local store.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
User = Annotated[str | None, typer.Option("--user", help="user_id scope.")]
Agent = Annotated[str | None, typer.Option("--agent", help="agent_id scope.")]
Run = Annotated[str | None, typer.Option("--run", help="run_id scope.")]
AppId = Annotated[str | None, typer.Option("--app", help="app_id scope.")]
Filters = Annotated[
    str | None, typer.Option("--filters", help='Filter JSON, e.g. \'{"user_id": "max"}\'.')
]


class CliError(Exception):
    """A usage problem found by the CLI itself; printed like any library error."""


def handled(fn: F) -> F:
    """One line on stderr and exit 1 for any failure, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("ENGRAM_DEBUG"):
                raise
            err.print(f"error: {_message(exc)}", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _message(exc: Exception) -> str:
    from engram.errors import EngramError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, EngramError | CliError) or type(exc).__module__ == "engram.client":
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _json_arg(raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(f"--{name} is not valid JSON: {exc.msg} (column {exc.colno})") from None


def _scope(user: str | None, agent: str | None, run: str | None, app_id: str | None) -> dict:
    ids = {"user_id": user, "agent_id": agent, "run_id": run, "app_id": app_id}
    return {k: v for k, v in ids.items() if v is not None}


def database_for(home: Path | None) -> str | None:
    """--home wins over ENGRAM_DATABASE; None leaves the library's own default."""
    return str(Path(home) / "engram.db") if home else None


@contextmanager
def backend(
    home: Path | None, host: str | None, api_key: str | None, project: str = "default"
) -> Iterator[Any]:
    """The local `Memory` or, with a host, a `MemoryClient`: same method names."""
    if host:
        from engram.client import MemoryClient

        client = MemoryClient(api_key=api_key, host=host)
        try:
            yield client
        finally:
            client.close()
        return
    from engram.memory import Memory

    database = database_for(home)
    memory = Memory({"database": database} if database else None)
    try:
        yield memory.for_project(project)
    finally:
        memory.close()


def local_memory(home: Path | None, host: str | None, project: str) -> Any:
    if host:
        raise CliError("this command works on a local store; drop --host/ENGRAM_HOST")
    return backend(home, None, None, project)


# ---------------------------------------------------------------------------- output


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def memory_table(rows: list[dict[str, Any]], title: str | None = None) -> Table | str:
    if not rows:
        return "no memories found"
    scored = any(r.get("score") is not None for r in rows)
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("memory", ratio=3, min_width=28, overflow="fold")
    if scored:
        table.add_column("score", no_wrap=True)
    for name in ("scope", "categories", "metadata"):
        table.add_column(name, ratio=1, min_width=10, overflow="fold")
    for r in rows:
        scope = " ".join(f"{k[:-3]}={r[k]}" for k in ("user_id", "agent_id", "run_id", "app_id")
                         if r.get(k))  # fmt: skip
        score = [f"{r['score']:.3f}" if r.get("score") is not None else ""] if scored else []
        table.add_row(r.get("id", ""), r.get("memory", ""), *score, scope,
                      ", ".join(r.get("categories") or []),
                      json.dumps(r["metadata"]) if r.get("metadata") else "")  # fmt: skip
    return table


def events_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAVY)
    table.add_column("event", no_wrap=True)
    table.add_column("id", no_wrap=True)
    for name in ("memory", "previous"):
        table.add_column(name, ratio=1, overflow="fold")
    for r in rows:
        table.add_row(r.get("event", ""), r.get("id", ""), r.get("memory", ""),
                      r.get("previous_memory") or "")  # fmt: skip
    return table


def show(data: Any, as_json: bool, render: Callable[[Any], Any]) -> None:
    if as_json:
        emit_json(data)
    else:
        out.print(render(data))


def _results(data: Any) -> list[dict[str, Any]]:
    return list(data.get("results") or []) if isinstance(data, dict) else list(data or [])


# ---------------------------------------------------------------------------- memory commands


@app.command()
@handled
def add(
    text: Annotated[str, typer.Argument(help="What the user said (or the fact, with --no-infer).")],
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    app_id: AppId = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="Metadata JSON.")] = None,
    infer: Annotated[bool, typer.Option("--infer/--no-infer", help="Extract facts.")] = True,
    expires: Annotated[str | None, typer.Option("--expires", help="Expiry date.")] = None,
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """Add a memory: extract facts from TEXT and reconcile them with what is stored."""
    kwargs: dict[str, Any] = {"metadata": _json_arg(metadata, "metadata"), "infer": infer}
    if expires:
        kwargs["expiration_date"] = expires
    with backend(home, host, api_key, project) as memory:
        result = memory.add(text, **_scope(user, agent, run, app_id), **kwargs)
    if as_json:
        emit_json(result)
    elif not _results(result):
        out.print("nothing stored: no durable fact in the text")
    else:
        out.print(events_table(_results(result)))


@app.command()
@handled
def search(
    query: Annotated[str, typer.Argument(help="Natural-language query.")],
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    app_id: AppId = None,
    filters: Filters = None,
    limit: Annotated[int, typer.Option("--limit", help="Most results to return.")] = 10,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Minimum similarity score.")
    ] = None,
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """Search memories by meaning, within a scope and optional filters."""
    kwargs: dict[str, Any] = {"filters": _json_arg(filters, "filters"), "limit": limit}
    if threshold is not None:
        kwargs["threshold"] = threshold
    with backend(home, host, api_key, project) as memory:
        result = memory.search(query, **_scope(user, agent, run, app_id), **kwargs)
    show(result, as_json, lambda r: memory_table(_results(r)))


@app.command("list")
@handled
def list_(
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    app_id: AppId = None,
    filters: Filters = None,
    page: Annotated[int, typer.Option("--page", help="Page number, from 1.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", help="Memories per page.")] = 100,
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """List memories in a scope, newest first."""
    with backend(home, host, api_key, project) as memory:
        result = memory.get_all(
            **_scope(user, agent, run, app_id),
            filters=_json_arg(filters, "filters"),
            page=page,
            page_size=page_size,
        )
    count = result.get("count") if isinstance(result, dict) else None
    title = f"{count} memories" if count is not None else None
    show(result, as_json, lambda r: memory_table(_results(r), title))


@app.command()
@handled
def get(
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="Memory id.")],
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """Show one memory."""
    with backend(home, host, api_key, project) as memory:
        result = memory.get(memory_id)
    show(result, as_json, lambda r: memory_table([r]))


@app.command()
@handled
def update(
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="Memory id.")],
    text: Annotated[str | None, typer.Option("--text", help="New text.")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="New metadata JSON.")] = None,
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """Change a memory's text and/or metadata (recorded in its history)."""
    if text is None and metadata is None:
        raise CliError("update needs --text or --metadata")
    with backend(home, host, api_key, project) as memory:
        result = memory.update(memory_id, text=text, metadata=_json_arg(metadata, "metadata"))
    show(result, as_json, lambda r: f"updated {memory_id}")


@app.command()
@handled
def delete(
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="Memory id.")],
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """Delete one memory (its history is kept)."""
    with backend(home, host, api_key, project) as memory:
        result = memory.delete(memory_id)
    show(result, as_json, lambda r: f"deleted {memory_id}")


@app.command("delete-all")
@handled
def delete_all(
    user: User = None,
    agent: Agent = None,
    run: Run = None,
    app_id: AppId = None,
    filters: Filters = None,
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """Delete every memory in a scope (a scope is required)."""
    with backend(home, host, api_key, project) as memory:
        result = memory.delete_all(**_scope(user, agent, run, app_id),
                                   filters=_json_arg(filters, "filters"))  # fmt: skip
    deleted = result.get("deleted") if isinstance(result, dict) else None
    show(result, as_json, lambda r: f"deleted {deleted if deleted is not None else 'all'} memories")


@app.command()
@handled
def history(
    memory_id: Annotated[str, typer.Argument(metavar="ID", help="Memory id.")],
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """Show every change to a memory: ADD, UPDATE, DELETE, with old and new text."""
    with backend(home, host, api_key, project) as memory:
        result = memory.history(memory_id)

    def render(rows: list[dict[str, Any]]) -> Table:
        table = Table(box=box.SIMPLE_HEAVY)
        for name in ("when", "event", "old", "new", "actor"):
            table.add_column(name, overflow="fold")
        for h in rows:
            table.add_row((h.get("created_at") or "")[:19], h.get("event", ""),
                          h.get("old_memory") or "", h.get("new_memory") or "",
                          h.get("actor") or "")  # fmt: skip
        return table

    show(result, as_json, render)


@app.command()
@handled
def stats(
    as_json: Json = False,
    home: Home = None,
    host: Host = None,
    api_key: ApiKey = None,
    project: Project = "default",
) -> None:
    """Memories per user, agent, run and app."""
    with backend(home, host, api_key, project) as memory:
        entities = _results(memory.entities())  # a list locally, {"results": [...]} remotely
        data: dict[str, Any] = {"entities": entities}
        if hasattr(memory, "store"):  # local: where the data lives
            data["database"] = str(memory.store.path) if hasattr(memory.store, "path") else None

    def render(d: dict[str, Any]) -> Table:
        table = Table(title=f"database: {d.get('database') or host}", box=box.SIMPLE_HEAVY,
                      title_justify="left")  # fmt: skip
        for name in ("type", "id", "memories", "last updated"):
            table.add_column(name)
        for e in d["entities"]:
            table.add_row(
                e.get("type", ""),
                str(e.get("id") or e.get("name")),
                str(e.get("total_memories", "")),
                (e.get("updated_at") or "")[:19],
            )
        return table

    show(data, as_json, render)


# ---------------------------------------------------------------------------- export / import


@app.command("export")
@handled
def export_(
    file: Annotated[Path, typer.Argument(help="JSON Lines file to write ('-' for stdout).")],
    embeddings: Annotated[
        bool, typer.Option("--embeddings/--no-embeddings", help="Include the vectors.")
    ] = True,
    home: Home = None,
    host: Host = None,
    project: Project = "default",
) -> None:
    """Export every memory with its history (and embeddings) as JSON Lines."""
    from engram.transfer import export_memories

    with local_memory(home, host, project) as memory:
        n = export_memories(memory, file, embeddings=embeddings, progress=str(file) != "-")
    err.print(f"exported {n} memories to {file}")


@app.command("import")
@handled
def import_(
    file: Annotated[Path, typer.Argument(help="JSON Lines file written by `engram export`.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace memories whose id already exists.")
    ] = False,
    home: Home = None,
    host: Host = None,
    project: Project = "default",
) -> None:
    """Import an export; re-running it skips what is already there."""
    from engram.transfer import import_memories

    with local_memory(home, host, project) as memory:
        report = import_memories(memory, file, overwrite=overwrite, progress=True)
    err.print(
        f"imported {report.imported}, skipped {report.skipped} existing, "
        f"recomputed {report.reembedded} embeddings"
    )


# ---------------------------------------------------------------------------- servers, demo


@app.command()
@handled
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.")] = 1,
    database: Annotated[str | None, typer.Option("--database", help="Database path.")] = None,
    home: Home = None,
) -> None:
    """Run the REST server (Mem0's hosted API) in the foreground."""
    from engram.server import serve as run_server

    if home:  # workers are separate processes: they read their home from the environment
        os.environ["ENGRAM_HOME"] = str(home)
    run_server(host=host, port=port, workers=workers, database=database or database_for(home))


@app.command()
@handled
def mcp(home: Home = None) -> None:
    """Run an MCP server over stdio (for Claude Desktop, Cursor, ...)."""
    from engram.mcp_server import run

    if home:
        os.environ["ENGRAM_HOME"] = str(home)
    run()


@app.command()
@handled
def demo(
    home: Annotated[
        Path | None, typer.Option("--home", help="Keep the demo store here (default: temp dir).")
    ] = None,
    plain: Annotated[bool, typer.Option("--plain", help="No colours (CI logs).")] = False,
) -> None:
    """Ray, the running coach who remembers Max: the tutorial, run offline in seconds."""
    from engram.demo import run_demo

    run_demo(home, plain=plain)


# ---------------------------------------------------------------------------- keys


def _auth_path(home: Path | None) -> Path | None:
    from engram.server.state import default_auth_path

    return default_auth_path(Path(home) / "engram.db") if home else None


@keys_app.command("create")
@handled
def keys_create(
    project: Annotated[str, typer.Option("--project", help="Project the key opens.")] = "default",
    name: Annotated[str | None, typer.Option("--name", help="A label for the key.")] = None,
    as_json: Json = False,
    home: Home = None,
) -> None:
    """Create an API key; it is shown once, only its hash is stored."""
    from engram.server.auth import create_key

    key = create_key(project, name=name, path=_auth_path(home))
    if as_json:
        emit_json({"key": key, "project": project, "name": name})
    else:
        out.print(key, markup=False)
        err.print("store it now: the key cannot be shown again")


@keys_app.command("list")
@handled
def keys_list(
    revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: Json = False,
    home: Home = None,
) -> None:
    """List API keys (prefixes only)."""
    from dataclasses import asdict

    from engram.server.auth import list_keys

    rows = [asdict(k) for k in list_keys(include_revoked=revoked, path=_auth_path(home))]

    def render(keys: list[dict[str, Any]]) -> Table:
        table = Table(box=box.SIMPLE_HEAVY)
        for name in ("id", "prefix", "project", "name", "created", "revoked"):
            table.add_column(name)
        for k in keys:
            table.add_row(str(k["id"]), k["prefix"], k["project_id"], k["name"] or "",
                          k["created_at"][:19], (k["revoked_at"] or "")[:19])  # fmt: skip
        return table

    show(rows, as_json, render)


@keys_app.command("revoke")
@handled
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="Key id, prefix or key.")],
    home: Home = None,
) -> None:
    """Revoke an API key by id, shown prefix or the key itself."""
    from engram.server.auth import revoke_key

    if not revoke_key(key_id, path=_auth_path(home)):
        raise CliError(f"no active key matches {key_id!r}")
    out.print(f"revoked {key_id}")


if __name__ == "__main__":
    app()
