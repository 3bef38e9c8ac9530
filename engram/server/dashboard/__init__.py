"""The dashboard: see, judge, fix and clean a project's memories in a browser.

Served by `engram serve` at /dashboard: server-rendered Jinja2 pages, a few lines of plain
JavaScript, assets from this package (no front-end build). Sign-in is with a project API
key; every page and action goes through the same key check and project scoping as the
REST API (see `views.py` and `session.py`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

PREFIX = "/dashboard"
STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Add the dashboard's pages and assets to the REST app."""
    from engram.server.dashboard.views import router

    app.include_router(router, prefix=PREFIX, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="dashboard-static")


__all__ = ["PREFIX", "mount"]
