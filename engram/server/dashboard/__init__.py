"""The dashboard: see, judge, fix and clean a project's memories in a browser.

Served by `engram serve` at /dashboard: server-rendered Jinja2 pages, a few lines of plain
JavaScript, assets from this package (no front-end build). Sign-in is with a project API
key; every page and action goes through the same key check and project scoping as the
REST API (see `views.py` and `session.py`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

PREFIX = "/dashboard"
STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Add the dashboard's pages and assets to the REST app (after its error handlers: an
    EngramError under /dashboard becomes an HTML page with the same status, elsewhere it
    keeps the API's JSON body)."""
    from engram.errors import EngramError
    from engram.server.dashboard import views

    app.include_router(views.router, prefix=PREFIX, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.add_exception_handler(views.SignInRequired, views.sign_in_first)
    app.add_exception_handler(views.Refused, views.refused)
    as_json = app.exception_handlers[EngramError]

    async def engram_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(PREFIX + "/") and isinstance(exc, EngramError):
            return views.failed(request, exc)
        return await as_json(request, exc)

    app.add_exception_handler(EngramError, engram_error)


__all__ = ["PREFIX", "mount"]
