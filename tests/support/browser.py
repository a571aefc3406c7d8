"""A real browser for the pages a relation sees: Debian's chromium (apt package
`chromium`), driven by Playwright without its own browser download.

Without /usr/bin/chromium the test is skipped, unless REISPLAN_REQUIRE_BROWSER=1 (set
by .ci/run once it has installed chromium): then a missing browser fails the test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = Path(os.environ.get("REISPLAN_CHROMIUM", "/usr/bin/chromium"))
# Headless in a container: no sandbox (no user namespaces), no GPU, and nothing that
# phones home (updates, sync, QUIC probes) during a test.
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_required() -> bool:
    return os.environ.get("REISPLAN_REQUIRE_BROWSER") == "1"


def chromium_path() -> str:
    """The browser to drive; skips the test (or fails it, when required) without one."""
    if not CHROMIUM.exists():
        if browser_required():
            pytest.fail(f"REISPLAN_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium): browser test skipped")
    return str(CHROMIUM)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
