"""The July edition's web version (/v/<token>) and the public pages in Chromium at phone and
desktop width: no serious or critical axe-core violation."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Browser, Route
from sqlalchemy import select

from tests.browser.conftest import SCREENSHOTS
from tests.factories import Factories
from tests.support.axe import serious_violations
from webapp.config import settings_of
from webapp.db import database
from webapp.models import Edition, EditionStatus, Topic

pytestmark = pytest.mark.browser
SCREENSHOTTED = ("web-version-every-topic-zh-CN", "web-version-one-topic-en", "subscribe",
                 "archive-edition")


def _july_sent_with_readers(app: Flask) -> dict[str, str]:
    """The sample July report, sent; the paths of the pages readers of it can open."""
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    with database(app).sessionmaker() as session:
        edition = session.scalar(select(Edition).where(Edition.month == "2024-07"))
        assert edition is not None
        edition.status = EditionStatus.SENT
        every = sorted(session.scalars(select(Topic.slug)))
        factories = Factories(session)
        chinese = factories.subscriber(topics=every, name="王小明", language="zh-CN")
        english = factories.subscriber(topics=["ai"], name="Ann", language="en")
        every_topic = factories.delivery(
            edition, chinese, variant_key=f"zh-CN:{','.join(every)}"
        )
        one_topic = factories.delivery(edition, english, variant_key="en:ai")
        session.commit()
        return {
            "web-version-every-topic-zh-CN": f"/v/{every_topic.token}",
            "web-version-one-topic-en": f"/v/{one_topic.token}",
            "subscribe": "/",
            "subscribe-en": "/?lang=en",
            "archive": "/archive",
            "archive-edition": "/archive/2024-07",
            "archive-edition-en": "/archive/2024-07?lang=en",
            "preferences-link": "/preferences/link",
            "preferences": f"/p/{chinese.token}",
            "unsubscribe": f"/u/{english.token}",
        }


def test_the_web_version_and_public_pages_have_no_serious_accessibility_violation(
    browser: Browser, live_app: Flask
) -> None:
    base = settings_of(live_app).base_url
    pages = _july_sent_with_readers(live_app)
    found: dict[str, list[str]] = {}
    for width in (390, 600):
        context = browser.new_context(viewport={"width": width, "height": 900})

        def local_only(route: Route) -> None:
            if route.request.url.startswith(base):
                route.continue_()
            else:
                route.abort()

        context.route("**/*", local_only)
        page = context.new_page()
        for name, path in pages.items():
            response = page.goto(base + path)
            assert response is not None and response.status == 200, (name, path)
            if name in ("archive-edition-en", "web-version-one-topic-en"):
                # The sample's sources are Chinese: marked so screen readers switch voice.
                assert page.locator('.item-meta span[lang="zh-CN"]').count() > 0, name
            problems = serious_violations(page)
            if problems:
                found[f"{name} at {width}px"] = problems
            if width == 390 and name in SCREENSHOTTED:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"{name}-390.png"))
        context.close()
    assert found == {}
