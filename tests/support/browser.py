"""Debian's chromium, driven by Playwright, for the dashboard's browser tests.

scripts/setup_chromium.sh (run by scripts/test.sh) installs the `chromium` package;
Playwright's own browser download cannot reach its CDN on these machines, so Playwright is
pointed at that executable. A missing browser or driver fails the test and names it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SETUP = "scripts/setup_chromium.sh"


def chromium_path() -> str:
    found = os.environ.get("ENGRAM_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail(f"chromium is missing: run {SETUP} (apt-get install chromium); the "
                    "dashboard's browser test needs Debian's chromium package")  # fmt: skip
    return found


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright's Browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright (pip) is missing: pip install -e '.[dev]'")
    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot_dir(test_name: str) -> Path:
    """Where a test saves its screenshots: ENGRAM_SCREENSHOTS, else the temp directory,
    in a folder named after the test (the checkout may be read-only)."""
    root = Path(os.environ.get("ENGRAM_SCREENSHOTS") or Path(tempfile.gettempdir())
                / "engram-screenshots")  # fmt: skip
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
