"""The sample report as the files editors have, made once per test session (Chromium and
python-docx take a few seconds) from the sample's parsed text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright

from tests.editions.files.making import report_docx, report_pdf, scanned_pdf
from tests.support.browser import launch_chromium
from webapp.editions.importer.reading import ReadReport, read_report

SAMPLE = Path(__file__).resolve().parents[3] / "webapp" / "data" / "2024-07-report.txt"


@pytest.fixture(scope="session")
def sample() -> ReadReport:
    """The sample text file, read as the importer reads it."""
    return read_report(SAMPLE.read_bytes())


@pytest.fixture(scope="session")
def session_browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium, once per session (tests/support/browser.py's is per
    module), from the run's one Playwright."""
    launched = launch_chromium(playwright_driver)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def sample_pdf(session_browser: Browser, sample: ReadReport) -> bytes:
    return report_pdf(session_browser, sample.report)


@pytest.fixture(scope="session")
def sample_scan(session_browser: Browser, sample: ReadReport) -> bytes:
    return scanned_pdf(session_browser, sample.report)


@pytest.fixture(scope="session")
def sample_docx(sample: ReadReport) -> bytes:
    return report_docx(sample.report)
