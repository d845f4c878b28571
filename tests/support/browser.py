"""The headless Chromium fixture, for the tests that drive a browser (and only those import
Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright


@pytest.fixture(name="browser", scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium through Playwright (`make test` installs it; never skipped,
    so a machine without it fails loudly instead of passing without browser tests)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield launched
        launched.close()
