"""The headless Chromium fixture, for the tests that drive a browser (and only those import
Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright


def launch_chromium(playwright: Playwright, *flags: str) -> Browser:
    """Debian's headless Chromium through Playwright (`make test` installs it; never skipped,
    so a machine without it fails loudly instead of passing without browser tests)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    return playwright.chromium.launch(
        executable_path=executable,
        args=["--no-sandbox", "--disable-background-networking", "--disable-gpu", *flags],
    )


@pytest.fixture(name="browser", scope="module")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """A browser per module, from the run's one Playwright (tests/conftest.py)."""
    launched = launch_chromium(playwright_driver)
    yield launched
    launched.close()
