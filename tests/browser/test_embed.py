"""The subscribe form embedded in another site, in Chromium: a page on a second loopback
origin (the firm's site) carries the console's snippet. Listed in EMBED_ORIGINS it
subscribes and the confirmation mail arrives; the same page reached as another origin
(`localhost` instead of `127.0.0.1`) is stopped by the browser's CORS check; with JavaScript
off the snippet's fallback opens our subscribe page with the topics ticked."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Route
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.conftest import app_config
from tests.mailbox import link_in, outbox
from webapp import create_app
from webapp.admin.embed import snippet
from webapp.config import install, settings_of
from webapp.db import database
from webapp.models import BackgroundJob, ConsentRecord, ConsentSource, Topic
from webapp.readers.topics import active_topics

pytestmark = pytest.mark.browser


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass(frozen=True)
class Sites:
    app: Flask
    base: str  # our own address
    firm: str  # the firm's site, listed in EMBED_ORIGINS
    stranger: str  # the same pages as another origin, not listed


@pytest.fixture
def sites(database_url: str, tmp_path: Path) -> Iterator[Sites]:
    pages = tmp_path / "site"
    pages.mkdir()
    handler = functools.partial(_Quiet, directory=str(pages))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = site.server_address[1]
    firm = f"http://127.0.0.1:{port}"
    config = app_config(
        database_url, tmp_path, TESTING=False, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=True,
        EMBED_ORIGINS=firm,
    )
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    install(app, replace(settings_of(app), base_url=base))
    with database(app).sessionmaker() as session:
        topics: list[Topic] = active_topics(session)
        for language in ("zh-CN", "en"):
            body = snippet(base, language, topics)
            (pages / f"{language}.html").write_text(
                f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
                "<title>Firm</title><style>* { color: red !important; font-size: 40px; }"
                f"</style></head><body><h1>The firm</h1>\n{body}</body></html>",
                encoding="utf-8",
            )
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (server, site)]
    for thread in threads:
        thread.start()
    try:
        yield Sites(app, base, firm, f"http://localhost:{port}")
    finally:
        server.shutdown()
        site.shutdown()
        site.server_close()
        database(app).engine.dispose()


def _loopback_only(route: Route) -> None:
    host = route.request.url.split("/")[2].split(":")[0]
    if host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


def _queued(app: Flask) -> int:
    with database(app).sessionmaker() as session:
        return len(session.scalars(select(BackgroundJob)).all())


def test_a_page_on_a_listed_site_subscribes_and_the_mail_arrives(
    browser: Browser, sites: Sites
) -> None:
    context = browser.new_context(locale="en-GB")
    context.route("**/*", _loopback_only)
    page = context.new_page()
    page.goto(sites.firm + "/en.html")
    form = page.locator("div.yuebao-subscribe form")  # inside the shadow root
    form.get_by_role("textbox", name="Email").fill("embedded.reader@example.com")
    form.locator("label.topic", has_text="AI").click()
    form.locator("input[name=consent]").check()
    # The host page's CSS does not reach into the form.
    colour = form.locator("button").evaluate("b => getComputedStyle(b).color")
    assert colour == "rgb(255, 255, 255)"
    form.locator("button[type=submit]").click()
    status = form.locator("[role=status]")
    status.filter(has_text="Please check your inbox").wait_for()
    assert context.cookies() == []

    (mail,) = outbox(sites.app)
    assert str(mail["To"]) == "embedded.reader@example.com"
    assert link_in(mail, "/confirm/")
    with database(sites.app).sessionmaker() as session:
        record = session.scalars(select(ConsentRecord)).one()
        assert record.source == ConsentSource.EMBED
        assert record.detail is not None and record.detail["site"] == sites.firm
    context.close()


def test_the_form_speaks_chinese_when_asked(browser: Browser, sites: Sites) -> None:
    context = browser.new_context(locale="en-GB")
    context.route("**/*", _loopback_only)
    page = context.new_page()
    page.goto(sites.firm + "/zh-CN.html")
    form = page.locator("div.yuebao-subscribe form")
    form.locator("input[name=email]").fill("not an address")
    form.locator("button[type=submit]").click()
    form.locator("[role=status]", has_text="请输入有效的邮箱地址。").wait_for()
    assert form.get_by_role("textbox", name="邮箱").count() == 1
    context.close()


def test_a_page_on_an_unlisted_site_is_stopped_by_the_browsers_cors_check(
    browser: Browser, sites: Sites
) -> None:
    context = browser.new_context(locale="en-GB")
    context.route("**/*", _loopback_only)
    page = context.new_page()
    page.goto(sites.stranger + "/en.html")
    # The form cannot be fetched: only a link to our own page is shown.
    link = page.locator("div.yuebao-subscribe a")
    link.wait_for()
    assert link.get_attribute("href") == sites.base + "/?lang=en"
    assert page.locator("div.yuebao-subscribe form").count() == 0
    failure = page.evaluate(
        """async (url) => {
            try {
                await fetch(url, {method: "POST", credentials: "omit",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({email: "x@example.com", topics: ["ai"],
                        language: "en", consent_version: "2026-11"})});
                return "answered";
            } catch (error) { return error.name; }
        }""",
        sites.base + "/api/v1/public/subscriptions",
    )
    assert failure == "TypeError"
    assert _queued(sites.app) == 0
    context.close()


def test_without_javascript_the_fallback_opens_our_page_with_the_topics_ticked(
    browser: Browser, sites: Sites
) -> None:
    context = browser.new_context(locale="en-GB", java_script_enabled=False)
    context.route("**/*", _loopback_only)
    page = context.new_page()
    page.goto(sites.firm + "/en.html")
    page.get_by_label("AI", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(sites.base + "/?**")
    assert page.locator('input[name=topics][value="ai"]').is_checked()
    page.get_by_role("textbox", name="Email").fill("no.script@example.com")
    page.locator("input[name=consent]").check()
    page.locator("form button[type=submit]", has_text="Subscribe").click()
    assert "Check your inbox" in page.locator("h1").inner_text()
    (mail,) = outbox(sites.app)
    assert str(mail["To"]) == "no.script@example.com"
    assert link_in(mail, "/confirm/")
    context.close()
