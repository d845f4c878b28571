"""The admin dashboard in a real browser: every chart is drawn by the Chart.js the app serves,
from its table's numbers, with nothing loaded from elsewhere and nothing blocked by the CSP."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Route

from tests.admin.conftest import populate
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import PASSWORD
from tests.factories import Factories
from tests.stats.slow_count import SlowCount
from webapp.config import install, settings_of
from webapp.db import database
from webapp.models import Role

pytestmark = pytest.mark.browser

# Fraction of a chart's pixels that are painted: a blank canvas has none.
PAINTED = """canvas => {
  const ctx = canvas.getContext("2d");
  const {data} = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  return painted / (data.length / 4);
}"""


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login?lang=en")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/admin/")


@pytest.mark.parametrize(
    ("language", "viewport"),
    [("en", {"width": 1280, "height": 900}), ("zh_CN", {"width": 390, "height": 844})],
    ids=["en-desktop", "zh-CN-phone"],
)
def test_the_dashboard_draws_every_chart_from_its_table(
    browser: Browser, live_app: Flask, language: str, viewport: dict[str, int]
) -> None:
    base = settings_of(live_app).base_url
    with database(live_app).sessionmaker() as session:
        factories = Factories(session)
        populate(factories, session)
        admin = factories.user(role=Role.ADMIN, password=PASSWORD)
        email = admin.email

    context = browser.new_context(viewport=viewport, locale="en-GB")
    outside: list[str] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    _sign_in(page, base, email)
    page.goto(f"{base}/admin/?lang={language}")
    page.wait_for_load_state("load")

    tables = page.locator("table[data-chart]")
    canvases = page.locator("figure.charted canvas")
    # Funnel per edition; the edition's funnel, timeline, topics and items; growth, joins and
    # departures, topic popularity.
    assert tables.count() == 8
    page.wait_for_function("document.querySelectorAll('figure.charted canvas').length === 8")
    for index in range(canvases.count()):
        canvas = canvases.nth(index)
        assert canvas.evaluate(PAINTED) > 0.01, canvas.get_attribute("aria-label")
        assert canvas.get_attribute("role") == "img" and canvas.get_attribute("aria-label")
    # The numbers stay one click away.
    page.locator("details.numbers summary").first.click()
    assert page.locator("details.numbers").first.get_attribute("open") is not None

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{width}px wide"
    assert problems == [] and outside == []
    heading = "Dashboard" if language == "en" else "概览"
    assert page.locator("h1").first.inner_text() == heading
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-dashboard-{language}.png"), full_page=True)
    context.close()


@pytest.mark.parametrize(
    ("language", "viewport"),
    [("en", {"width": 1280, "height": 900}), ("zh_CN", {"width": 390, "height": 844})],
    ids=["en-desktop", "zh-CN-phone"],
)
def test_the_dashboard_shows_at_once_while_the_readers_are_first_counted(
    browser: Browser, live_app: Flask, language: str, viewport: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = settings_of(live_app).base_url
    install(live_app, replace(settings_of(live_app), reader_figures_max_age_seconds=300,
                              reader_figures_first_wait_seconds=0))
    with database(live_app).sessionmaker() as session:
        factories = Factories(session)
        populate(factories, session)
        email = factories.user(role=Role.ADMIN, password=PASSWORD).email
    release = SlowCount(monkeypatch).release  # ten million readers
    context = browser.new_context(viewport=viewport, locale="en-GB")
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # not the page's
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        _sign_in(page, base, email)
        page.goto(f"{base}/admin/?lang={language}")
        page.wait_for_load_state("load")
        assert page.locator("#readers-counting").is_visible()
        assert page.locator("#growth-counting").is_visible()
        # The growth line and topic popularity wait for the count; the other charts are drawn.
        page.wait_for_function("document.querySelectorAll('figure.charted canvas').length === 6")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert problems == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"admin-dashboard-counting-{language}.png"),
                        full_page=True)
    finally:
        release.set()
        context.close()


LONG_TITLE = ("国家数据局等十七部门联合印发《“数据要素×”三年行动计划（2024—2026年）》"
              "明确到2026年底数据要素应用广度和深度大幅拓展的总体目标")

# The item chart's label axis: every line of every label within the canvas, and the whole
# title kept across the lines.
LABEL_AXIS = """canvas => {
  const chart = Chart.getChart(canvas);
  const axis = chart.scales.y;
  const ctx = canvas.getContext("2d");
  ctx.font = Chart.helpers.toFont(axis.options.ticks.font).string;
  const lines = axis.ticks.map(t => [].concat(t.label));
  const widest = Math.max(...lines.flat().map(line => ctx.measureText(line).width));
  const gap = axis.options.grid.tickLength + axis.options.ticks.padding;
  return {left: axis.left, textRight: axis.right - gap, widest: widest, lines: lines,
          chartWidth: chart.width};
}"""


@pytest.mark.parametrize("width", [1366, 390])
def test_long_item_titles_wrap_within_the_clicks_chart(
    browser: Browser, live_app: Flask, width: int
) -> None:
    base = settings_of(live_app).base_url
    with database(live_app).sessionmaker() as session:
        factories = Factories(session)
        sends = populate(factories, session, readers=12)
        first = sends[-1].edition.sections[0].items[0]
        first.title = LONG_TITLE
        session.commit()
        email = factories.user(role=Role.ADMIN, password=PASSWORD).email
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    _sign_in(page, base, email)
    page.goto(f"{base}/admin/?lang=en")
    canvas = page.locator('canvas[aria-label="Clicks per item"]')
    canvas.wait_for()
    axis = canvas.evaluate(LABEL_AXIS)
    assert axis["left"] >= 0
    # Labels are drawn right-aligned, a tick mark and a gap left of the axis: each line must
    # fit between there and the canvas's left edge.
    assert axis["widest"] <= axis["textRight"], axis
    long_label = axis["lines"][0]
    assert len(long_label) >= 2 and "".join(long_label) == "1. " + LONG_TITLE
    timeline = page.locator("canvas[aria-label^='Sent and delivered over time']")
    title = timeline.evaluate("c => Chart.getChart(c).options.scales.x.title.text")
    assert title.startswith("Time, in steps of ")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    canvas.screenshot(path=str(SCREENSHOTS / f"admin-item-chart-{width}.png"))
    context.close()
