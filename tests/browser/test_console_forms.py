"""Console forms in a real browser on a phone: a refused submit opens on its error summary,
whose links lead to the fields; the outbox search keeps its filters while paging."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser

from tests.conftest import PASSWORD
from tests.factories import Factories
from webapp.config import settings_of
from webapp.db import database
from webapp.models import Role

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def test_a_refused_sign_in_opens_on_the_summary_and_its_link_leads_to_the_field(
    browser: Browser, live_app: Flask
) -> None:
    base = settings_of(live_app).base_url
    with database(live_app).sessionmaker() as session:
        email = Factories(session).user(role=Role.EDITOR, password=PASSWORD).email
    context = browser.new_context(locale="en-GB", viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(base + "/login?lang=en")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    # Wait for the answer's page, not the sign-in page's own load (already reached when the
    # click returns before the navigation starts, as it may on a busy machine).
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in").click()
    # `autofocus` is applied at the page's next rendering, which can come after its load
    # event on a busy machine: wait for it (a summary never focused fails here).
    page.wait_for_function("document.activeElement.id === 'error-summary'", timeout=10_000)
    summary = page.locator("#error-summary")
    box = summary.bounding_box()
    assert box is not None and 0 <= box["y"] < PHONE["height"]
    summary.get_by_role("link", name="The email or password is not correct.").click()
    assert page.evaluate("document.activeElement.id") == "email"
    assert page.get_by_label("Email").get_attribute("aria-describedby") == "email-error"
    context.close()


def test_the_outbox_search_pages_with_its_filters(browser: Browser, live_app: Flask) -> None:
    base = settings_of(live_app).base_url
    directory = Path(settings_of(live_app).outbox_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(120):
        to = f"wang{n}@example.com" if n % 2 else f"li{n}@example.org"
        (directory / f"20240701T00{n // 60:02d}{n % 60:02d}000000Z-m{n}.eml").write_text(
            f"To: {to}\nSubject: message {n}\n\nbody\n")
    with database(live_app).sessionmaker() as session:
        email = Factories(session).user(role=Role.EDITOR, password=PASSWORD).email
    context = browser.new_context(locale="en-GB", viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(base + "/login?lang=en")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/editor/")
    page.goto(base + "/editor/outbox?lang=en")
    page.get_by_label("Recipient").fill("WANG")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Search").click()
    rows = page.locator(".outbox-table tbody tr")
    assert rows.count() == 50 and "wang119@example.com" in rows.first.inner_text()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Older →").click()
    assert rows.count() == 10 and "wang1@example.com" in rows.last.inner_text().split()
    assert page.get_by_label("Recipient").input_value() == "WANG"
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="← Newer").click()
    assert "wang119@example.com" in rows.first.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()
