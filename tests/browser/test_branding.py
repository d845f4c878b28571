"""The branding page in a real browser: a save with its CSRF token and a logo upload, then the
preview frames drawn with the new palette and the logo loaded from our own domain."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Browser, Route

from tests.browser.conftest import SCREENSHOTS
from tests.conftest import PASSWORD
from tests.factories import Factories
from webapp.config import settings_of
from webapp.db import database
from webapp.models import Role

pytestmark = pytest.mark.browser


def test_an_admin_brands_the_emails_and_sees_them_at_once(
    browser: Browser, live_app: Flask, tmp_path: Path
) -> None:
    base = settings_of(live_app).base_url
    with database(live_app).sessionmaker() as session:
        email = Factories(session).user(role=Role.ADMIN, password=PASSWORD).email
    logo = tmp_path / "logo.png"
    Image.new("RGB", (960, 240), (11, 61, 46)).save(logo, format="PNG")

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    outside: list[str] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    page.goto(base + "/login?lang=en")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/admin/")

    page.goto(base + "/admin/branding?lang=en")
    page.locator("input[name=primary_colour]").fill("#a7803f")
    page.locator("button[type=submit].primary").click()
    assert page.locator(".field-error").first.inner_text().startswith("#a7803f has a contrast of")

    page.locator("input[name=primary_colour]").fill("#0b3d2e")
    page.locator("input[name=org_name_en]").fill("Example Law")
    page.locator("input[name=logo]").set_input_files(str(logo))
    with page.expect_navigation(wait_until="load"):
        page.locator("button[type=submit].primary").click()
    assert "Saved" in page.locator(".flash").inner_text()

    frame = page.frame_locator("iframe[src*='preview/edition']")
    image = frame.locator("img").first
    image.wait_for()
    # Loaded (not blocked by the frame's policy), at the size the email asks for.
    assert image.evaluate("i => i.complete && i.naturalWidth") == 480
    assert image.evaluate("i => [i.width, i.height]") == [240, 60]
    assert "#0b3d2e" in frame.locator("html").evaluate("h => h.outerHTML")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-branding.png"), full_page=True)
    assert outside == []
    context.close()
