"""The dashboard's pages and actions.

Every handler finds the caller through `_viewer`: the signed session cookie names a key's
digest, which the key store verifies on each request (as the REST API verifies the key),
and the project's `Memory` view comes from the same `Server.for_project` the API uses, so
a key reaches only its own project. Every POST checks the session's CSRF token first.
Templates autoescape everything; charts are SVG built with escaped labels (charts.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from engram import review
from engram.errors import EngramError, InvalidInputError, status_of
from engram.extraction.categories import normalize_categories
from engram.server.auth import Principal, key_digest
from engram.server.dashboard import PREFIX, charts
from engram.server.dashboard import session as sess

router = APIRouter()
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(prefix=PREFIX, bar_chart=charts.bar_chart, column_chart=charts.column_chart)
_env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)
_env.filters["day"] = lambda value: (value or "")[:16].replace("T", " ")

# Scripts and styles come only from the package; nothing inline can run.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Viewer:
    who: Principal
    memory: Any  # engram.Memory of who.project_id
    session: sess.Session


# ---------------------------------------------------------------------------- plumbing


def _secret(request: Request) -> bytes:
    state = request.app.state
    if getattr(state, "dashboard_secret", None) is None:
        state.dashboard_secret = sess.load_secret()
    return state.dashboard_secret


def _viewer(request: Request) -> Viewer | None:
    found = sess.decode(_secret(request), request.cookies.get(sess.COOKIE))
    if found is None:
        return None
    server = request.app.state.server
    who = server.keys.verify_digest(found.key_digest)  # a revoked key ends its sessions
    return None if who is None else Viewer(who, server.for_project(who.project_id), found)


class Form:
    """An urlencoded form body (parsed here: no python-multipart dependency)."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, [default])[-1]

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])


async def read_form(request: Request) -> Form:
    body = (await request.body()).decode("utf-8", errors="replace")
    return Form(parse_qs(body, keep_blank_values=True))


FormData = Annotated[Form, Depends(read_form)]


def _page(
    request: Request, template: str, viewer: Viewer | None, status: int = 200, **context: Any
) -> HTMLResponse:
    html = _env.get_template(template).render(
        request=request, viewer=viewer, csrf=viewer.session.csrf if viewer else "",
        message=request.query_params.get("msg", ""), **context,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _redirect(path: str, message: str = "") -> RedirectResponse:
    url = PREFIX + path + (("&" if "?" in path else "?") + urlencode({"msg": message})
                           if message else "")  # fmt: skip
    return RedirectResponse(url, status_code=303, headers=_HEADERS)


class SignInRequired(Exception):
    """A page asked for without a valid session: answered by a redirect to sign-in."""


class Refused(Exception):
    """A POST without a valid session or CSRF token: answered 403, nothing changed."""

    def __init__(self, why: str, viewer: Viewer | None = None) -> None:
        super().__init__(why)
        self.viewer = viewer


def signed_in(request: Request) -> Viewer:
    """Dependency of every page: the signed-in viewer (kept on the request for error pages)."""
    viewer = _viewer(request)
    if viewer is None:
        raise SignInRequired
    request.state.viewer = viewer
    return viewer


def acting(request: Request, form: FormData) -> Viewer:
    """Dependency of every POST: the viewer, once its session and CSRF token are valid."""
    viewer = _viewer(request)
    if viewer is None:
        raise Refused("Your session has ended: sign in again.")
    request.state.viewer = viewer
    if not sess.csrf_ok(viewer.session.csrf, form.get("csrf")):
        raise Refused("Invalid or missing CSRF token: reload the page.", viewer)
    return viewer


Seeing = Annotated[Viewer, Depends(signed_in)]
Acting = Annotated[Viewer, Depends(acting)]


def sign_in_first(request: Request, _: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={quote(target)}", status_code=303)


def refused(request: Request, exc: Refused) -> Response:
    return _page(request, "error.html", exc.viewer, status=403, error=str(exc))


def failed(request: Request, exc: EngramError) -> Response:
    """An EngramError raised by a dashboard action: its HTTP status, as an HTML page."""
    viewer = getattr(request.state, "viewer", None)
    return _page(request, "error.html", viewer, status=status_of(exc), error=str(exc))


# ---------------------------------------------------------------------------- sign-in


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/memories", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = _page(request, "login.html", None, login_csrf=token,
                     next=_safe_next(request.query_params.get("next")))  # fmt: skip
    _set_cookie(request, response, sess.LOGIN_COOKIE, token, 600)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: FormData) -> Response:
    if not sess.csrf_ok(request.cookies.get(sess.LOGIN_COOKIE), form.get("csrf")):
        raise Refused("Invalid or missing CSRF token: reload the page.")
    key = form.get("api_key").strip()
    who = request.app.state.server.keys.verify(key) if key else None
    if who is None:
        token = secrets.token_urlsafe(24)
        response = _page(request, "login.html", None, status=401, login_csrf=token,
                         error="That API key is not valid.", next=_safe_next(form.get("next")))
        _set_cookie(request, response, sess.LOGIN_COOKIE, token, 600)
        return response
    session = sess.new_session(key_digest(key))
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    _set_cookie(request, response, sess.COOKIE, sess.encode(_secret(request), session),
                sess.lifetime())  # fmt: skip
    response.delete_cookie(sess.LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout", response_class=HTMLResponse)
def logout(viewer: Acting) -> Response:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(sess.COOKIE, path=PREFIX)
    return response


def _safe_next(target: str | None) -> str:
    """Only a dashboard path: never an open redirect to another site."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/memories"


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(name, value, max_age=age, path=PREFIX, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")  # fmt: skip


# ---------------------------------------------------------------------------- memories


def _filters(params: Any) -> review.Filters:
    names = ("user_id", "agent_id", "run_id", "app_id", "category", "meta_key", "meta_value",
             "date_from", "date_to")  # fmt: skip
    return review.Filters(**{n: (params.get(n) or "").strip()[:255] for n in names})


@router.get("/memories", response_class=HTMLResponse)
def memories(request: Request, viewer: Seeing) -> Response:
    params = request.query_params
    chosen = _filters(params)
    text, mode = (params.get("q") or "").strip(), params.get("mode") or "text"
    if text and mode == "semantic":
        found = review.semantic_search(viewer.memory, chosen, text)
    elif text:
        found = review.keyword_search(viewer.memory, chosen, text)
    else:
        found = review.page(viewer.memory, chosen, params.get("after"))
    keep = {k: v for k, v in params.items() if k not in ("after", "msg") and v}
    next_url = (f"{PREFIX}/memories?" + urlencode({**keep, "after": found.next_cursor})
                if found.next_cursor else None)  # fmt: skip
    return _page(request, "memories.html", viewer, page=found, filters=chosen, q=text,
                 mode=mode, next_url=next_url, first_url=f"{PREFIX}/memories?" + urlencode(keep),
                 paged="after" in params, categories=list(_categories(viewer)))  # fmt: skip


def _categories(viewer: Viewer) -> dict[str, str]:
    """The project's categories, {name: description}."""
    return normalize_categories(viewer.memory.project.get()["custom_categories"])


@router.get("/memories/{memory_id}", response_class=HTMLResponse)
def memory_page(request: Request, memory_id: str, viewer: Seeing) -> Response:
    item = viewer.memory.get(memory_id)
    feedback = viewer.memory.store.feedback(viewer.memory.project_id, [memory_id])
    return _page(request, "memory.html", viewer, item=item,
                 history=viewer.memory.history(memory_id),
                 replaced=review.superseded_by(viewer.memory, memory_id),
                 feedback=feedback.get(memory_id))  # fmt: skip


@router.post("/memories/{memory_id}/edit", response_class=HTMLResponse)
def edit_memory(memory_id: str, form: FormData, viewer: Acting) -> Response:
    changes = _edits(viewer.memory.get(memory_id), form)
    if changes:
        viewer.memory.update(memory_id, **changes)
    return _redirect(f"/memories/{quote(memory_id)}", "Saved." if changes else "Nothing changed.")


def _edits(current: dict[str, Any], form: Form) -> dict[str, Any]:
    """Only the fields the person changed, in Memory.update's terms."""
    changes: dict[str, Any] = {}
    text = form.get("text").strip()
    if text and text != current["memory"]:
        changes["text"] = text
    raw = form.get("metadata").strip() or "{}"
    try:
        metadata = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"metadata: not valid JSON ({exc.msg})", field="metadata") from None
    if metadata != (current.get("metadata") or {}):
        changes["metadata"] = metadata
    categories = [c.strip() for c in form.get("categories").split(",") if c.strip()]
    if categories != current["categories"]:
        changes["categories"] = categories
    expiry = form.get("expiration_date").strip()
    if expiry and expiry[:10] != (current.get("expiration_date") or "")[:10]:
        changes["expiration_date"] = expiry
    return changes


@router.post("/memories/{memory_id}/delete", response_class=HTMLResponse)
def delete_memory(memory_id: str, viewer: Acting) -> Response:
    viewer.memory.delete(memory_id)
    return _redirect("/memories", "Memory deleted.")


@router.post("/memories/{memory_id}/feedback", response_class=HTMLResponse)
def memory_feedback(memory_id: str, form: FormData, viewer: Acting) -> Response:
    viewer.memory.feedback(memory_id, form.get("feedback") or None,
                           form.get("feedback_reason").strip() or None)  # fmt: skip
    return _redirect(f"/memories/{quote(memory_id)}", "Feedback saved.")


# ---------------------------------------------------------------------------- entities


@router.get("/entities", response_class=HTMLResponse)
def entities(request: Request, viewer: Seeing) -> Response:
    return _page(request, "entities.html", viewer,
                 entities=viewer.memory.entities()["results"])  # fmt: skip


@router.post("/entities/delete", response_class=HTMLResponse)
def delete_entity(form: FormData, viewer: Acting) -> Response:
    kind, entity_id = form.get("kind"), form.get("entity_id")
    out = viewer.memory.delete_entity(kind, entity_id)
    return _redirect("/entities", f"Deleted {out['deleted']} memories of {kind} {entity_id}.")


# ---------------------------------------------------------------------------- settings


@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request, viewer: Seeing) -> Response:
    return _page(request, "settings.html", viewer, settings=viewer.memory.project.get(),
                 categories=_categories(viewer))


@router.post("/settings", response_class=HTMLResponse)
def save_settings(form: FormData, viewer: Acting) -> Response:
    categories = [
        {"name": name.strip(), "description": description.strip()}
        for line in form.get("categories").splitlines() if line.strip()
        for name, _, description in [line.partition(":")]
    ]  # fmt: skip
    viewer.memory.project.update(
        custom_instructions=form.get("custom_instructions"),
        custom_categories=categories,
        threshold=_threshold(form.get("threshold").strip()),
    )
    return _redirect("/settings", "Settings saved.")


def _threshold(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        raise InvalidInputError("threshold must be a number from 0 to 1",
                                field="threshold") from None  # fmt: skip


# ---------------------------------------------------------------------------- quality


@router.get("/quality", response_class=HTMLResponse)
def quality(request: Request, viewer: Seeing) -> Response:
    found = review.quality(viewer.memory)
    empty_adds = _empty_adds(request, viewer)
    per_category = [(name or "(no category)", n) for name, n in found.per_category]
    return _page(request, "quality.html", viewer, q=found, empty_adds=empty_adds,
                 per_category=per_category)


def _empty_adds(request: Request, viewer: Viewer) -> list[tuple[str, int]]:
    """Queued adds (the hosted clients' default) that stored nothing, per day."""
    _, events = request.app.state.server.events.list(viewer.who, 1000, 0)
    per_day: dict[str, int] = {}
    for event in events:
        results = event.get("results") or []
        if event["status"] == "SUCCEEDED" and not any(
            r.get("event") in ("ADD", "UPDATE", "DELETE") for r in results
        ):
            day = event["created_at"][:10]
            per_day[day] = per_day.get(day, 0) + 1
    return sorted(per_day.items())


@router.post("/quality/resolve", response_class=HTMLResponse)
def resolve(form: FormData, viewer: Acting) -> Response:
    """One click on a review queue: merge a pair, keep, or delete."""
    action, ids = form.get("action"), form.all("memory_id")
    if action == "merge" and len(ids) == 2:
        review.merge(viewer.memory, keep_id=ids[1], drop_id=ids[0])
        message = "Merged: the older memory was folded into the newer one."
    elif action == "keep" and ids:
        review.keep(viewer.memory, ids)
        message = "Kept."
    elif action == "delete" and len(ids) == 1:
        viewer.memory.delete(ids[0])
        message = "Deleted."
    else:
        raise InvalidInputError(f"unknown review action {action!r}", field="action")
    return _redirect("/quality", message)


# ---------------------------------------------------------------------------- clean-up


def _fingerprint(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:32]


@router.get("/cleanup", response_class=HTMLResponse)
def cleanup(request: Request, viewer: Seeing) -> Response:
    chosen = _filters(request.query_params)
    plan = review.plan_cleanup(viewer.memory, chosen) if chosen.any() else None
    return _page(request, "cleanup.html", viewer, filters=chosen, plan=plan,
                 fingerprint=_fingerprint(plan.ids) if plan else "")  # fmt: skip


@router.post("/cleanup", response_class=HTMLResponse)
def run_cleanup(request: Request, form: FormData, viewer: Acting) -> Response:
    """Deletes exactly what the preview showed: the plan is made again and must match the
    previewed one (same ids), or nothing is deleted and the person previews again."""
    chosen = _filters(form)
    plan = review.plan_cleanup(viewer.memory, chosen)
    if _fingerprint(plan.ids) != form.get("fingerprint"):
        raise InvalidInputError("the memories changed since the preview: preview again",
                                field="fingerprint")  # fmt: skip
    report = review.run_cleanup(viewer.memory, plan.ids)
    return _page(request, "cleanup.html", viewer, filters=chosen, plan=None, report=report,
                 fingerprint="")  # fmt: skip
