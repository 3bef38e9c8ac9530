"""`engram`: the command line. Each command is a thin shell over one library call.

Memory commands use the local store ($ENGRAM_HOME, or --home) by default, or an Engram
server with --host/--api-key (ENGRAM_HOST/ENGRAM_API_KEY). Tables for people, --json for
scripts. Errors print one line and exit 1 (ENGRAM_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from engram import __version__
from engram.errors import EngramError
from engram.models import SCOPE_FIELDS

app = typer.Typer(
    name="engram",
    help="Engram: self-hosted long-term memory for LLM apps (Mem0-compatible).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="API keys of the REST server.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
project_app = typer.Typer(help="Project settings, as memory.project.get/update.",
                          no_args_is_help=True)  # fmt: skip
app.add_typer(project_app, name="project")
webhooks_app = typer.Typer(help="Webhooks of a server's project (needs --host).",
                           no_args_is_help=True)  # fmt: skip
app.add_typer(webhooks_app, name="webhooks")



def _print_version(value: bool) -> None:
    if value:
        out.print(f"engram {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Engram: self-hosted long-term memory for LLM apps (Mem0-compatible)."""


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


class CliError(Exception):
    """A usage problem found by the CLI itself; printed like any library error."""


# ---------------------------------------------------------------------------- shared options

# Declared once; `command()` appends them to each command that takes them. Option names are
# the library's argument names (--user-id); the short forms (--user) stay as aliases.
Home = Annotated[
    Path | None,
    # no envvar here: left unset, the library applies ENGRAM_DATABASE, then ENGRAM_HOME
    typer.Option("--home", help="Local data directory \\[default: $ENGRAM_HOME or ~/.engram]."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Filters = Annotated[
    str | None, typer.Option("--filters", help='Filter JSON, e.g. \'{"user_id": "max"}\'.')
]
Metadata = Annotated[str | None, typer.Option("--metadata", help="Metadata JSON.")]
MemoryId = Annotated[str, typer.Argument(metavar="ID", help="Memory id.")]

SCOPE_OPTIONS: dict[str, Any] = {
    "user_id": typer.Option("--user-id", "--user", help="user_id scope."),
    "agent_id": typer.Option("--agent-id", "--agent", help="agent_id scope."),
    "run_id": typer.Option("--run-id", "--run", help="run_id scope."),
    "app_id": typer.Option("--app-id", "--app", help="app_id scope."),
}
# name: (type, default, option)
TARGET_OPTIONS: dict[str, tuple[Any, Any, Any]] = {
    "home": (Path | None, None, Home.__metadata__[0]),
    "host": (str | None, None, typer.Option(
        "--host", envvar="ENGRAM_HOST", help="Engram server URL; local store if unset.")),
    "api_key": (str | None, None, typer.Option(
        "--api-key", envvar="ENGRAM_API_KEY", help="Server API key.")),
    "project": (str, "default", typer.Option("--project", help="Project of the local store.")),
}  # fmt: skip


@dataclass
class Target:
    """Where the memories live: the local store (`--home`, `--project`) or a server."""

    home: Path | None = None
    host: str | None = None
    api_key: str | None = None
    project: str = "default"

    @property
    def where(self) -> str:
        if self.host:
            return self.host
        from engram.config import MemoryConfig

        return database_for(self.home) or str(MemoryConfig().database_path())


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip


def _shared_params(scope: bool, target: bool, as_json: bool) -> list[inspect.Parameter]:
    params = [_keyword(k, Annotated[str | None, o], None) for k, o in SCOPE_OPTIONS.items()]
    params = params if scope else []
    if as_json:
        params.append(_keyword("as_json", Json, False))
    if target:
        params += [_keyword(k, Annotated[t, o], d) for k, (t, d, o) in TARGET_OPTIONS.items()]
    return params


def command(
    name: str | None = None,
    *,
    scope: bool = False,
    target: bool = True,
    as_json: bool = True,
    group: typer.Typer | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Register `fn` as a command with the shared options it asks for appended.

    `fn` receives them gathered: `scope` (the ids given), `target` (a Target) and `as_json`.
    Failures print one line and exit 1 (see `handled`)."""

    def register(fn: F) -> F:
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values()
               if p.name not in ("scope", "target", "as_json")]  # fmt: skip
        params = own + _shared_params(scope, target, as_json)

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            if scope:
                ids = {k: kwargs.pop(k) for k in SCOPE_OPTIONS}
                kwargs["scope"] = {k: v for k, v in ids.items() if v is not None}
            if target:
                kwargs["target"] = Target(**{k: kwargs.pop(k) for k in TARGET_OPTIONS})
            return fn(**kwargs)

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        for cli_name in (name or fn.__name__.rstrip("_").replace("_", "-"), *aliases):
            (group or app).command(cli_name, hidden=cli_name in aliases)(handled(wrapper))
        return fn

    return register


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
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, EngramError | CliError):  # MemoryClient raises the same classes
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _json_arg(raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(f"--{name} is not valid JSON: {exc.msg} (column {exc.colno})") from None


def database_for(home: Path | None) -> str | None:
    """--home wins over ENGRAM_DATABASE; None leaves the library's own default."""
    return str(Path(home) / "engram.db") if home else None


@contextmanager
def backend(target: Target) -> Iterator[Any]:
    """The local `Memory` or, with a host, a `MemoryClient`: same method names and results."""
    if target.host:
        from engram.client import MemoryClient

        client = MemoryClient(api_key=target.api_key, host=target.host)
        try:
            yield client
        finally:
            client.close()
        return
    from engram.memory import Memory

    database = database_for(target.home)
    memory = Memory({"database": database} if database else None)
    try:
        yield memory.for_project(target.project)
    finally:
        memory.close()


def local_memory(target: Target) -> Any:
    if target.host:
        raise CliError("this command works on a local store; drop --host/ENGRAM_HOST")
    return backend(target)


# ---------------------------------------------------------------------------- output


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def show(data: Any, as_json: bool, render: Callable[[Any], Any]) -> None:
    if as_json:
        emit_json(data)
    else:
        out.print(render(data))


def grid(*columns: str, title: str | None = None, **options: dict[str, Any]) -> Table:
    """A table; `options` are rich column settings by column name."""
    made = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    for name in columns:
        made.add_column(name, **{"overflow": "fold", **options.get(name, {})})
    return made


def memory_table(rows: list[dict[str, Any]], title: str | None = None) -> Table | str:
    if not rows:
        return "no memories found"
    scored = any(r.get("score") is not None for r in rows)
    names = ["id", "memory", *(["score"] if scored else []), "scope", "categories", "metadata"]
    wide = {"ratio": 1, "min_width": 10}
    made = grid(*names, title=title, id={"no_wrap": True}, score={"no_wrap": True},
                memory={"ratio": 3, "min_width": 28}, scope=wide, categories=wide,
                metadata=wide)  # fmt: skip
    for r in rows:
        scope = " ".join(f"{k[:-3]}={r[k]}" for k in SCOPE_FIELDS if r.get(k))
        score = [f"{r['score']:.3f}" if r.get("score") is not None else ""] if scored else []
        made.add_row(r.get("id", ""), r.get("memory", ""), *score, scope,
                     ", ".join(r.get("categories") or []),
                     json.dumps(r["metadata"]) if r.get("metadata") else "")  # fmt: skip
    return made


def events_table(rows: list[dict[str, Any]]) -> Table:
    made = grid("event", "id", "memory", "previous", event={"no_wrap": True},
                id={"no_wrap": True}, memory={"ratio": 1}, previous={"ratio": 1})  # fmt: skip
    for r in rows:
        made.add_row(r["event"], r["id"], r["memory"], r.get("previous_memory") or "")
    return made


def entities_table(rows: list[dict[str, Any]], title: str | None = None) -> Table:
    made = grid("type", "id", "memories", "last updated", title=title)
    for e in rows:
        made.add_row(e["type"], e["id"], str(e["total_memories"]), (e.get("updated_at") or "")[:19])
    return made


def settings_table(settings: dict[str, Any]) -> Table:
    made = grid("setting", "value", value={"ratio": 3})
    for key, value in settings.items():
        if key == "custom_categories" and value:
            value = "\n".join(f"{k}: {v}" if v else k for c in value for k, v in c.items())
        made.add_row(key, "" if value is None else str(value))
    return made


# ---------------------------------------------------------------------------- memory commands


@command(scope=True)
def add(
    text: Annotated[str, typer.Argument(help="What the user said (or the fact, with --no-infer).")],
    metadata: Metadata = None,
    infer: Annotated[bool, typer.Option("--infer/--no-infer", help="Extract facts.")] = True,
    expiration_date: Annotated[
        str | None,
        typer.Option("--expiration-date", "--expires", help="Expiry date (ISO date or time)."),
    ] = None,
    *,
    scope: dict[str, str],
    target: Target,
    as_json: bool,
) -> None:
    """Add a memory: extract facts from TEXT and reconcile them with what is stored."""
    with backend(target) as memory:
        result = memory.add(text, **scope, metadata=_json_arg(metadata, "metadata"), infer=infer,
                            expiration_date=expiration_date)  # fmt: skip
    if as_json:
        emit_json(result)
    elif not result["results"]:
        out.print("nothing stored: no durable fact in the text")
    else:
        out.print(events_table(result["results"]))


@command(scope=True)
def search(
    query: Annotated[str, typer.Argument(help="Natural-language query.")],
    filters: Filters = None,
    limit: Annotated[int, typer.Option("--limit", help="Most results to return.")] = 10,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Minimum similarity score.")
    ] = None,
    *,
    scope: dict[str, str],
    target: Target,
    as_json: bool,
) -> None:
    """Search memories by meaning, within a scope and optional filters."""
    with backend(target) as memory:
        result = memory.search(query, **scope, filters=_json_arg(filters, "filters"),
                               limit=limit, threshold=threshold)  # fmt: skip
    show(result, as_json, lambda r: memory_table(r["results"]))


@command("list", scope=True, aliases=("get-all",))
def get_all(
    filters: Filters = None,
    page: Annotated[int, typer.Option("--page", help="Page number, from 1.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", help="Memories per page.")] = 100,
    *,
    scope: dict[str, str],
    target: Target,
    as_json: bool,
) -> None:
    """List memories in a scope, newest first (`get-all` is the same command)."""
    with backend(target) as memory:
        result = memory.get_all(**scope, filters=_json_arg(filters, "filters"), page=page,
                                page_size=page_size)  # fmt: skip
    show(result, as_json, lambda r: memory_table(r["results"], f"{r['count']} memories"))


@command()
def get(memory_id: MemoryId, *, target: Target, as_json: bool) -> None:
    """Show one memory."""
    with backend(target) as memory:
        result = memory.get(memory_id)
    show(result, as_json, lambda r: memory_table([r]))


@command()
def update(
    memory_id: MemoryId,
    text: Annotated[str | None, typer.Option("--text", help="New text.")] = None,
    metadata: Metadata = None,
    *,
    target: Target,
    as_json: bool,
) -> None:
    """Change a memory's text and/or metadata (recorded in its history)."""
    if text is None and metadata is None:
        raise CliError("update needs --text or --metadata")
    with backend(target) as memory:
        result = memory.update(memory_id, text=text, metadata=_json_arg(metadata, "metadata"))
    show(result, as_json, lambda r: f"updated {memory_id}")


@command()
def delete(memory_id: MemoryId, *, target: Target, as_json: bool) -> None:
    """Delete one memory (its history is kept)."""
    with backend(target) as memory:
        result = memory.delete(memory_id)
    show(result, as_json, lambda r: f"deleted {memory_id}")


@command(scope=True)
def delete_all(
    filters: Filters = None, *, scope: dict[str, str], target: Target, as_json: bool
) -> None:
    """Delete every memory in a scope (a scope is required)."""
    with backend(target) as memory:
        result = memory.delete_all(**scope, filters=_json_arg(filters, "filters"))
    show(result, as_json, lambda r: f"deleted {r['deleted']} memories")


@command()
def feedback(
    memory_id: MemoryId,
    value: Annotated[str | None, typer.Argument(
        metavar="FEEDBACK", help="POSITIVE, NEGATIVE or VERY_NEGATIVE (omit to clear).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    *, target: Target, as_json: bool,
) -> None:  # fmt: skip
    """Judge a memory; VERY_NEGATIVE hides it from search."""
    with backend(target) as memory:
        result = memory.feedback(memory_id, value, feedback_reason=reason)
    show(result, as_json, lambda r: f"{memory_id}: {r.get('feedback') or 'feedback cleared'}")


@command()
def history(memory_id: MemoryId, *, target: Target, as_json: bool) -> None:
    """Show every change to a memory: ADD, UPDATE, DELETE, with old and new text."""
    with backend(target) as memory:
        result = memory.history(memory_id)

    def render(rows: list[dict[str, Any]]) -> Table:
        made = grid("when", "event", "old", "new", "actor")
        for h in rows:
            made.add_row((h.get("created_at") or "")[:19], h["event"], h.get("old_memory") or "",
                         h.get("new_memory") or "", h.get("actor") or "")  # fmt: skip
        return made

    show(result, as_json, render)


@command()
def entities(*, target: Target, as_json: bool) -> None:
    """Every user, agent, run and app with memories, and how many each has."""
    with backend(target) as memory:
        result = memory.entities()
    show(result, as_json, lambda r: entities_table(r["results"]))


@command()
def stats(*, target: Target, as_json: bool) -> None:
    """Memories per user, agent, run and app, and where they are stored."""
    with backend(target) as memory:
        data = {"entities": memory.entities()["results"], "database": target.where}
    show(data, as_json, lambda d: entities_table(d["entities"], f"database: {d['database']}"))


# ---------------------------------------------------------------------------- project settings


@command("get", group=project_app)
def project_get(
    fields: Annotated[
        list[str] | None, typer.Option("--fields", help="Only these settings (repeatable).")
    ] = None,
    *,
    target: Target,
    as_json: bool,
) -> None:
    """Show the project's settings: custom instructions, categories, threshold."""
    with backend(target) as memory:
        result = memory.project.get(fields=fields)
    show(result, as_json, settings_table)


@command("update", group=project_app)
def project_update(
    custom_instructions: Annotated[
        str | None,
        typer.Option("--custom-instructions", help="What to extract (and what to leave out)."),
    ] = None,
    custom_categories: Annotated[
        str | None,
        typer.Option("--custom-categories", help='Categories JSON: [{"name": "description"}].'),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Default minimum search score, 0 to 1.")
    ] = None,
    *,
    target: Target,
    as_json: bool,
) -> None:
    """Change the project's settings; options left out keep their value."""
    if custom_instructions is None and custom_categories is None and threshold is None:
        raise CliError("project update needs --custom-instructions, --custom-categories "
                       "or --threshold")  # fmt: skip
    with backend(target) as memory:
        result = memory.project.update(
            custom_instructions=custom_instructions,
            custom_categories=_json_arg(custom_categories, "custom-categories"),
            threshold=threshold,
        )
    show(result, as_json, settings_table)


# ---------------------------------------------------------------------------- export / import


@command("export", as_json=False)
def export_(
    file: Annotated[Path, typer.Argument(help="JSON Lines file to write ('-' for stdout).")],
    embeddings: Annotated[
        bool, typer.Option("--embeddings/--no-embeddings", help="Include the vectors.")
    ] = True,
    *,
    target: Target,
) -> None:
    """Export every memory with its history (and embeddings) as JSON Lines."""
    from engram.transfer import export_memories

    with local_memory(target) as memory:
        n = export_memories(memory, file, embeddings=embeddings, progress=str(file) != "-")
    err.print(f"exported {n} memories to {file}")


@command("import", as_json=False)
def import_(
    file: Annotated[Path, typer.Argument(help="JSON Lines file written by `engram export`.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace memories whose id already exists.")
    ] = False,
    *,
    target: Target,
) -> None:
    """Import an export; re-running it skips what is already there."""
    from engram.transfer import import_memories

    with local_memory(target) as memory:
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
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes (default: one per core, up to 4).")] = None,
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
def dashboard(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    database: Annotated[str | None, typer.Option("--database", help="Database path.")] = None,
    browser: Annotated[bool, typer.Option("--browser/--no-browser",
                                          help="Open it in a web browser.")] = True,
    home: Home = None,
) -> None:
    """Serve the dashboard (with the REST API) on the local store and open it."""
    import threading
    import webbrowser

    from engram.config import engram_home
    from engram.server import serve as run_server

    if home:
        os.environ["ENGRAM_HOME"] = str(home)
    url = f"http://{host}:{port}/dashboard/"
    key_file = engram_home() / "server_key"
    err.print(f"Dashboard: {url}\nSign in with a project API key (the first one is in "
              f"{key_file}; `engram keys create --project NAME` makes more).",
              markup=False)  # fmt: skip
    if browser:  # once uvicorn is listening; the key is typed in, never put in the URL
        threading.Timer(1.5, webbrowser.open, [url]).start()
    run_server(host=host, port=port, workers=1, database=database or database_for(home))


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



@keys_app.command("limit")
@handled
def keys_limit(
    prefix: Annotated[str, typer.Argument(metavar="PREFIX", help="Shown prefix (or the key).")],
    limit: Annotated[str, typer.Argument(metavar="LIMIT",
                                         help="REQUESTS/SECONDS (100/60), off, or default.")],
    home: Home = None,
) -> None:
    """Set the request rate limit of keys starting with PREFIX (default: ENGRAM_RATE_LIMIT)."""
    from engram.server.ratelimit import limit_key

    out.print(f"{prefix}: {limit_key(prefix, limit, path=_auth_path(home))}")


# ---------------------------------------------------------------------------- webhooks

EventTypes = Annotated[list[str] | None, typer.Option(
    "--event", help="memory_add, memory_update, memory_delete or memory_categorize; repeat it.")]
WebhookId = Annotated[int, typer.Argument(metavar="WEBHOOK_ID", help="Webhook id.")]


@contextmanager
def server_client(target: Target) -> Iterator[Any]:
    """Webhooks live in a server's database: these commands need --host."""
    if not target.host:
        raise CliError("webhooks are kept by a server: pass --host/ENGRAM_HOST and --api-key")
    with backend(target) as client:
        yield client


def webhooks_table(rows: list[dict[str, Any]]) -> Table:
    made = grid("id", "name", "url", "events", "active")
    for h in rows:
        made.add_row(str(h["webhook_id"]), h["name"], h["url"], ", ".join(h["event_types"]),
                     "yes" if h["is_active"] else "no")  # fmt: skip
    return made


@command("list", group=webhooks_app)
def webhooks_list(*, target: Target, as_json: bool) -> None:
    """The project's webhooks."""
    with server_client(target) as client:
        rows = client.get_webhooks(project_id=client.ping()["project_id"])
    show(rows, as_json, webhooks_table)


@command("create", group=webhooks_app)
def webhooks_create(
    url: Annotated[str, typer.Argument(metavar="URL", help="Where the calls go.")],
    name: Annotated[str | None, typer.Option("--name", help="A label.")] = None,
    events: EventTypes = None,
    secret: Annotated[str | None, typer.Option("--secret", help="Signing secret.")] = None,
    *, target: Target, as_json: bool,
) -> None:  # fmt: skip
    """Add a webhook (all event types unless --event); prints its signing secret."""
    with server_client(target) as client:
        made = client.create_webhook(url, name or url, client.ping()["project_id"],
                                     events or None, secret=secret)  # fmt: skip
    show(made, as_json, lambda h: webhooks_table([h]))
    if not as_json:
        out.print(f"secret: {made['secret']}", markup=False)


@command("update", group=webhooks_app)
def webhooks_update(
    webhook_id: WebhookId,
    url: Annotated[str | None, typer.Option("--url", help="New URL.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="New label.")] = None,
    events: EventTypes = None,
    active: Annotated[bool | None, typer.Option("--active/--paused",
                                                help="Deliver, or hold off.")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="New signing secret.")] = None,
    *, target: Target, as_json: bool,
) -> None:  # fmt: skip
    """Change a webhook; --paused cancels its pending calls."""
    with server_client(target) as client:
        made = client.update_webhook(webhook_id, name=name, url=url, event_types=events or None,
                                     is_active=active, secret=secret)  # fmt: skip
    show(made, as_json, lambda h: webhooks_table([h]))


@command("delete", group=webhooks_app)
def webhooks_delete(webhook_id: WebhookId, *, target: Target, as_json: bool) -> None:
    """Remove a webhook; its delivery log stays."""
    with server_client(target) as client:
        result = client.delete_webhook(webhook_id)
    show(result, as_json, lambda r: r["message"])


@command("deliveries", group=webhooks_app)
def webhooks_deliveries(
    webhook_id: Annotated[int | None, typer.Argument(
        metavar="[WEBHOOK_ID]", help="One webhook's log; all by default.")] = None,
    page: Annotated[int, typer.Option("--page", help="Page, newest first.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", help="Entries per page.")] = 50,
    *, target: Target, as_json: bool,
) -> None:  # fmt: skip
    """The delivery log: each call's status, attempts and last answer."""
    with server_client(target) as client:
        result = client.webhook_deliveries(webhook_id, page=page, page_size=page_size)

    def render(r: dict[str, Any]) -> Table:
        made = grid("delivery", "webhook", "event", "status", "attempts", "last", "created",
                    title=f"{r['count']} deliveries")  # fmt: skip
        for d in r["results"]:
            made.add_row(d["id"], str(d["webhook_id"]), d["event_type"], d["status"],
                         str(d["attempts"]), str(d.get("last_status_code") or d.get("last_error")
                                                 or ""), d["created_at"][:19])  # fmt: skip
        return made

    show(result, as_json, render)


if __name__ == "__main__":
    app()
