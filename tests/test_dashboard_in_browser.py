"""The dashboard, used the way a person uses it: real headless Chromium (Debian's package,
driven by Playwright) against a live `engram serve` subprocess.

One walk through the tutorial's go-live checklist ("monitor memory quality in the
dashboard", "clear test data before production"): sign in, filter by category, search by
words and by meaning, open a memory's history, edit it, merge a duplicate from the quality
queue, delete a run's test data after the preview, and check that another project's key
sees none of it. Screenshots go to the folder `screenshot_dir` names (printed at the end).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engram.server.auth import create_key
from tests.support.browser import chromium, screenshot_dir
from tests.support.server_process import ServerProcess

CATEGORIES = [
    {"name": "goals", "description": "Training targets"},
    {"name": "constraints", "description": "Injuries and limitations"},
    {"name": "preferences", "description": "Training style"},
]
SEED = [  # (text, scope, categories, metadata)
    ("Max wants to run a sub-4 marathon", {"user_id": "max"}, ["goals"], None),
    ("Max's right knee hurts on downhill runs", {"user_id": "max"}, ["constraints"], None),
    ("Max prefers running in the early morning", {"user_id": "max"}, ["preferences"], None),
    ("Max runs 40 km every week", {"user_id": "max"}, ["goals"], None),
    ("Max runs 40 km every single week", {"user_id": "max"}, ["goals"], None),
    ("<script>alert('pwned')</script> Max likes tempo runs", {"user_id": "max"}, [], None),
    ("Max eats chicken every day", {"user_id": "max"}, ["preferences"], None),
    ("Max has been vegetarian since last month", {"user_id": "max"}, ["preferences"], None),
    ("Max: lol sorry for the late reply", {"user_id": "max"}, ["preferences"], None),
    ("test123 first fixture memory", {"user_id": "max", "run_id": "test-run"}, [],
     {"env": "test"}),
    ("test123 second fixture memory", {"user_id": "max", "run_id": "test-run"}, [],
     {"env": "test"}),
    ("test123 third fixture memory", {"user_id": "max", "run_id": "test-run"}, [],
     {"env": "test"}),
]  # fmt: skip


@pytest.fixture
def server(engram_home: Path) -> Iterator[ServerProcess]:
    with ServerProcess(engram_home) as proc:
        yield proc


def _seed(api: httpx.Client) -> dict[str, str]:
    """The memories above, stored as given; returns {text: id}."""
    project = api.get("/v1/ping/").json()
    path = f"/api/v1/orgs/organizations/{project['org_id']}/projects/{project['project_id']}/"
    assert api.patch(path, json={"custom_categories": CATEGORIES}).status_code == 200
    ids = {}
    for text, scope, categories, metadata in SEED:
        added = api.post("/v1/memories/", json={"messages": text, "infer": False,
                                                "metadata": metadata, **scope})  # fmt: skip
        assert added.status_code == 200, added.text
        memory_id = added.json()["results"][0]["id"]
        fixed = api.put(f"/v1/memories/{memory_id}/", json={"categories": categories})
        assert fixed.status_code == 200, fixed.text
        ids[text] = memory_id
    return ids


def _sign_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/dashboard/")
    assert "/dashboard/login" in page.url  # not signed in: sent to the sign-in page
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/memories")


def _rows(page: Any) -> list[str]:
    return page.locator("#memories tbody tr td.text a").all_inner_texts()


def test_dashboard_walkthrough(server: ServerProcess, engram_home: Path, request: Any) -> None:
    shots = screenshot_dir(request.node.name)
    api = httpx.Client(base_url=server.url, timeout=60,
                       headers={"Authorization": f"Token {server.api_key}"})  # fmt: skip
    ids = _seed(api)
    rival_key = create_key("rival", path=engram_home / "server.db")
    base = server.url

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        alerts: list[str] = []
        page.on("dialog", lambda d: (alerts.append(d.message) if d.type == "alert" else None,
                                     d.accept()))  # fmt: skip
        _sign_in(page, base, server.api_key)
        assert page.locator("#count").inner_text() == f"{len(SEED)} memories"
        # the <script> memory is shown as text, and nothing ran
        assert "<script>alert('pwned')</script> Max likes tempo runs" in _rows(page)
        page.screenshot(path=str(shots / "01-memories.png"), full_page=True)

        page.select_option("#category", "constraints")
        page.click("#apply")
        assert _rows(page) == ["Max's right knee hurts on downhill runs"]

        page.goto(f"{base}/dashboard/memories")
        page.fill("#q", "downhill")
        page.click("#apply")
        assert _rows(page)[0] == "Max's right knee hurts on downhill runs"
        page.fill("#q", "injury and pain")
        page.select_option("#mode", "semantic")
        page.click("#apply")
        assert "Max's right knee hurts on downhill runs" in _rows(page)[:2]
        page.screenshot(path=str(shots / "02-search-by-meaning.png"), full_page=True)

        page.click("text=Max's right knee hurts on downhill runs")
        page.wait_for_selector("#history")
        assert page.locator("#history tbody tr td").first.inner_text() == "ADD"
        page.fill("#edit-text", "Max's right knee hurts on steep downhill runs")
        page.click("#save")
        page.wait_for_selector(".flash")
        assert page.locator("#memory-text").inner_text() == (
            "Max's right knee hurts on steep downhill runs")
        history = page.locator("#history tbody tr").all_inner_texts()
        assert "UPDATE" in history[-1] and "steep downhill" in history[-1]
        assert "Max's right knee hurts on downhill runs" in history[-1]  # the old text too
        page.select_option("#feedback", "NEGATIVE")
        page.fill("#feedback-reason", "too vague about which knee exercise")
        page.click("#send-feedback")
        page.wait_for_selector(".flash")
        assert page.locator("#feedback-now").inner_text() == (
            "NEGATIVE: too vague about which knee exercise")
        page.screenshot(path=str(shots / "03-memory-history.png"), full_page=True)

        page.goto(f"{base}/dashboard/quality")
        page.screenshot(path=str(shots / "04-quality.png"), full_page=True)
        conflict = page.locator("#queue-conflicts .pair").all_inner_texts()
        assert any("chicken" in c and "vegetarian" in c for c in conflict), conflict
        assert "lol sorry" in page.locator("#queue-junk").inner_text()
        pair = page.locator("#queue-duplicates .pair", has_text="40 km every single week")
        assert pair.count() == 1, page.locator("#queue-duplicates").inner_text()
        pair.locator("button.merge").click()
        page.wait_for_selector(".flash")
        older, newer = ids["Max runs 40 km every week"], ids["Max runs 40 km every single week"]
        assert api.get(f"/v1/memories/{older}/").status_code == 404
        assert api.get(f"/v1/memories/{newer}/").status_code == 200
        assert page.locator("#queue-duplicates .pair", has_text="40 km").count() == 0

        page.goto(f"{base}/dashboard/cleanup")
        page.fill("input[name=run_id]", "test-run")
        page.click("#preview")
        assert page.locator("#preview-count").inner_text() == "3 memories will be deleted"
        assert page.locator("#preview-table tbody tr").count() == 3
        page.screenshot(path=str(shots / "05-cleanup-preview.png"), full_page=True)
        page.click("#delete-matching")  # confirmed in the dialog
        page.wait_for_selector("#report")
        assert "Deleted 3 memories" in page.locator("#report").inner_text()
        left = api.get("/v1/memories/", params={"user_id": "max"}).json()["results"]
        assert not [m for m in left if m.get("run_id") == "test-run"]
        assert len(left) == len(SEED) - 3 - 1  # the test run's three, and the merged one
        page.screenshot(path=str(shots / "06-cleanup-report.png"), full_page=True)
        assert alerts == []

        rival = browser.new_page()
        _sign_in(rival, base, rival_key)
        assert rival.locator("#project-name").inner_text() == "rival"
        assert rival.locator("#count").inner_text() == "0 memories"
        answer = rival.goto(f"{base}/dashboard/memories/{newer}")
        assert answer is not None and answer.status == 404
        rival.goto(f"{base}/dashboard/entities")
        assert "max" not in rival.locator("#entities").inner_text()
        rival.goto(f"{base}/dashboard/quality")
        assert "40 km" not in rival.content() and "knee" not in rival.content()
        rival.screenshot(path=str(shots / "07-other-project.png"), full_page=True)

    saved = sorted(p.name for p in shots.glob("*.png"))
    assert len(saved) == 7, saved
    print(f"screenshots: {shots}")
