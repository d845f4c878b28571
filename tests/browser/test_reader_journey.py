"""A reader's whole journey in a real browser: subscribe, confirm from the mailbox, change
topics, unsubscribe. In Chinese on a desktop, in English on a phone."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, Route
from sqlalchemy import select

from tests.browser.conftest import SCREENSHOTS
from tests.mailbox import link_in, outbox
from webapp.config import settings_of
from webapp.db import database
from webapp.models import Subscriber, SubscriberStatus

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Journey:
    language: str
    locale: str
    viewport: dict[str, int]
    address: str
    topics: tuple[str, str]  # labels as the reader sees them
    swap: tuple[str, str]  # unticks the first, ticks the second
    text: dict[str, str]


CHINESE = Journey(
    language="zh-CN",
    locale="zh-CN",
    viewport={"width": 1280, "height": 900},
    address="wang.xiaoming@example.cn",
    topics=("人工智能", "数据要素与数据合规"),
    swap=("数据要素与数据合规", "金融科技与数字货币"),
    text={
        "heading": "每月政策、行业与交易资讯",
        "subscribe": "订阅",
        "inbox": "请查收邮件",
        "confirm": "确认订阅",
        "subscribed": "订阅成功",
        "review": "查看订阅偏好",
        "save": "保存偏好",
        "saved": "订阅偏好已保存。",
        "unsubscribe": "退订",
        "unsubscribed": "您已退订",
        "subject": "请确认订阅",
    },
)
ENGLISH = Journey(
    language="en",
    locale="en-GB",
    viewport={"width": 375, "height": 812},
    address="ann.lee@example.com",
    topics=("AI", "Fintech & digital currency"),
    swap=("AI", "Investment & M&A"),
    text={
        "heading": "The month's policy, industry and deal news",
        "subscribe": "Subscribe",
        "inbox": "Check your inbox",
        "confirm": "Confirm subscription",
        "subscribed": "You are subscribed",
        "review": "Review your preferences",
        "save": "Save preferences",
        "saved": "Your preferences are saved.",
        "unsubscribe": "Unsubscribe",
        "unsubscribed": "You have unsubscribed",
        "subject": "Please confirm",
    },
)


def _reader(app: Flask, address: str) -> Subscriber:
    with database(app).sessionmaker() as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email_key == address))
        assert reader is not None
        _ = reader.topics  # loaded before the session closes
        return reader


class Screens:
    """Screenshots of each step, and the checks every page must pass."""

    def __init__(self, page: Page, journey: Journey) -> None:
        self.page, self.journey, self.problems = page, journey, []
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":  # a blocked inline script or style would show up here
            self.problems.append(message.text)

    def step(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state("load")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= self.journey.viewport["width"], f"{name}: {width}px wide"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"reader-{self.journey.language}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert self.problems == [], self.problems


@pytest.mark.parametrize("journey", [CHINESE, ENGLISH], ids=["zh-CN-desktop", "en-phone"])
def test_a_reader_subscribes_confirms_changes_topics_and_unsubscribes(
    browser: Browser, live_app: Flask, journey: Journey
) -> None:
    base = settings_of(live_app).base_url
    context = browser.new_context(
        locale=journey.locale,
        viewport=journey.viewport,
        is_mobile=journey.viewport["width"] < 500,
        has_touch=journey.viewport["width"] < 500,
    )

    def local_only(route: Route) -> None:
        # Pages load nothing from outside the app (no CDN, no web fonts).
        if route.request.url.startswith(base):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    screens = Screens(page, journey)
    t = journey.text

    # Subscribe, picking two topics; the page speaks the browser's language.
    page.goto(base + "/")
    assert t["heading"] in page.locator("h1").inner_text()
    screens.step("1-subscribe")
    email_label = "Email" if journey.language == "en" else "邮箱"
    page.get_by_role("textbox", name=email_label).fill(journey.address)
    if journey.language == "en":
        # The "all topics" shortcut ticks and clears every topic (JavaScript) …
        page.locator("[data-all-topics]").check()
        assert page.locator("[data-topic]:checked").count() == 6
        page.locator("[data-all-topics]").uncheck()
        assert page.locator("[data-topic]:checked").count() == 0
    for label in journey.topics:
        page.locator("label.topic", has_text=label).click()
    page.locator("input[name=consent]").check()
    page.locator("form button[type=submit]", has_text=t["subscribe"]).click()
    assert t["inbox"] in page.locator("h1").inner_text()
    screens.step("2-check-inbox")

    # The confirmation email, from the outbox.
    [confirmation] = outbox(live_app)
    assert confirmation["To"] == journey.address
    assert confirmation["Subject"].startswith(t["subject"])
    assert _reader(live_app, journey.address).status == SubscriberStatus.PENDING
    page.goto(base + link_in(confirmation, "/confirm/"))
    screens.step("3-confirm")
    assert _reader(live_app, journey.address).status == SubscriberStatus.PENDING  # GET is inert
    page.get_by_role("button", name=t["confirm"]).click()
    assert t["subscribed"] in page.locator("h1").inner_text()
    screens.step("4-confirmed")
    reader = _reader(live_app, journey.address)
    assert reader.status == SubscriberStatus.ACTIVE
    assert reader.language == journey.language
    assert len(reader.topics) == 2

    # Change topics on the preferences page.
    page.get_by_role("link", name=t["review"]).click()
    screens.step("5-preferences")
    for label in journey.swap:
        page.locator("label.topic", has_text=label).click()
    page.get_by_role("button", name=t["save"]).click()
    assert t["saved"] in page.locator(".flash").inner_text()
    screens.step("6-saved")
    names = {topic.name(journey.language) for topic in _reader(live_app, journey.address).topics}
    assert names == (set(journey.topics) - {journey.swap[0]}) | {journey.swap[1]}

    # Unsubscribe through the link every email carries.
    welcome = outbox(live_app)[-1]
    page.goto(base + link_in(welcome, "/u/"))
    screens.step("7-unsubscribe")
    page.get_by_role("button", name=t["unsubscribe"], exact=True).click()
    assert t["unsubscribed"] in page.locator("h1").inner_text()
    screens.step("8-unsubscribed")
    assert _reader(live_app, journey.address).status == SubscriberStatus.UNSUBSCRIBED
    context.close()


def test_on_a_phone_a_refused_form_opens_on_its_error_summary(
    browser: Browser, live_app: Flask
) -> None:
    """A reader who forgot the topics and the consent must not land back at the top of a long
    page with the errors out of sight: focus is on the summary, and its links lead to fields."""
    base = settings_of(live_app).base_url
    context = browser.new_context(
        locale="en-GB", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    problems: list[str] = []
    # The 400 of the refused form is logged too; what must not be is a blocked script or style.
    page.on("console", lambda m: problems.append(m.text) if "Refused" in m.text else None)
    page.goto(base + "/")
    page.get_by_role("textbox", name="Email").fill("phone@example.com")
    with page.expect_navigation(wait_until="load"):
        page.locator("form button[type=submit]", has_text="Subscribe").click()

    summary = page.locator("#error-summary")
    # `autofocus` is applied at the page's next rendering, which can come after its load
    # event on a busy machine: wait for it (a summary never focused fails here).
    page.wait_for_function("document.activeElement.id === 'error-summary'", timeout=10_000)
    box = summary.bounding_box()
    assert box is not None and 0 <= box["y"] < 844  # on screen, not below the fold
    assert "Please choose at least one topic." in summary.inner_text()
    summary.get_by_role("link", name="Please agree to receive the report.").click()
    assert page.evaluate("document.activeElement.id") == "consent"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert problems == []  # no script or style blocked by the CSP
    context.close()
