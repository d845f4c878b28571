"""An editor takes a month from report text to a finished send, entirely in the browser.

In Chinese on a laptop: sign in, upload the July report, fix a topic, preview a variant at both
widths, send a test, schedule, then send now and watch the bar reach 100 %, and open the outbox.
In English on a tablet: pause and resume a larger send. The worker runs in a thread, as
`yuebao worker` would, so the pages only ever see what a real send shows them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, Route, expect
from sqlalchemy import func, select

from tests.browser.conftest import SCREENSHOTS
from tests.conftest import PASSWORD
from tests.factories import Factories
from tests.mailbox import outbox
from webapp.cli.demo import DEMO_READERS, SAMPLE_REPORT
from webapp.config import install, settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.runner import run_pending
from webapp.delivery.variants import count_variants, english_exposure
from webapp.editions.records import get_edition
from webapp.editions.upload import import_report_text
from webapp.models import Delivery, DeliveryStatus, Edition, EditionStatus, Role, utcnow
from webapp.readers.csv_values import Attestation, ConsentBasis
from webapp.readers.subscribers_csv import ImportOptions, import_subscribers_csv

pytestmark = pytest.mark.browser

EDITOR = "bianji@example.com"


@pytest.fixture
def worker(live_app: Flask) -> Iterator[None]:
    """`yuebao worker` in a thread: runs whatever sends are waiting, polling when idle."""
    stop = threading.Event()
    sessions = database(live_app).sessionmaker

    def loop() -> None:
        while not stop.is_set():
            if not run_pending(settings_of(live_app), sessions, stop):
                stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


@pytest.fixture
def editor(live_app: Flask) -> None:
    with database(live_app).sessionmaker() as session:
        Factories(session).user(role=Role.EDITOR, password=PASSWORD, email=EDITOR)


class Screens:
    """Screenshots of each step; every page loads nothing from outside, breaks no CSP rule, and
    fits its width."""

    def __init__(self, page: Page, name: str, width: int) -> None:
        self.page, self.name, self.width = page, name, width
        self.problems: list[str] = []
        self.blocked_pixels: list[str] = []
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        # A refused inline script or style, or a frame the CSP blocks, shows up here.
        if message.type != "error" or message.text.startswith("Failed to load resource"):
            return
        if "/o/" in message.text and "img-src data:" in message.text:
            # A real reader's open pixel in the outbox viewer: blocked on purpose.
            self.blocked_pixels.append(message.text)
        else:
            self.problems.append(message.text)

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.problems.append(f"{response.status} {response.url}")

    def step(self, label: str) -> None:
        page = self.page
        page.wait_for_load_state("load")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= self.width, f"{label}: {scroll_width}px wide"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"editor-{self.name}-{label}.png"), full_page=True)
        assert self.problems == [], self.problems


def _context_page(browser: Browser, live_app: Flask, locale: str, width: int, height: int) -> Page:
    base = settings_of(live_app).base_url
    context = browser.new_context(locale=locale, viewport={"width": width, "height": height})

    def local_only(route: Route) -> None:
        if route.request.url.startswith(base) or route.request.url.startswith("about:"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", local_only)
    return context.new_page()


def _sign_in(page: Page, base: str) -> None:
    page.goto(base + "/login")
    page.locator("input[name=email]").fill(EDITOR)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(base + "/editor/")


def _edition(app: Flask) -> Edition:
    with database(app).sessionmaker() as session:
        edition = get_edition(session, "2024-07")
        assert edition is not None
        return edition


@pytest.mark.usefixtures("editor", "worker")
def test_an_editor_takes_the_july_report_to_a_finished_send(
    browser: Browser, live_app: Flask
) -> None:
    base = settings_of(live_app).base_url
    # slow enough to watch the bar move
    install(live_app, replace(settings_of(live_app), ses_max_send_rate=4.0))
    with database(live_app).sessionmaker() as session:
        import_subscribers_csv(session, DEMO_READERS.read_text(encoding="utf-8"),
                               erasure_key=settings_of(live_app).erasure_key, actor="test",
                               options=ImportOptions(Attestation(ConsentBasis.ASKED)))
        session.commit()
    page = _context_page(browser, live_app, "zh-CN", 1280, 900)
    screens = Screens(page, "zh-laptop", 1280)

    # Sign in: the console opens on the (empty) editions list.
    _sign_in(page, base)
    expect(page.locator("h2")).to_contain_text("还没有任何一期")
    screens.step("1-editions")

    # Upload the July report.
    page.get_by_role("link", name="导入月报").first.click()
    page.locator("input[name=report_file]").set_input_files(str(SAMPLE_REPORT))
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator(".flash-ok")).to_contain_text("已导入 26 条条目")
    assert page.locator("li.ed-item").count() == 26
    screens.step("2-imported")

    # Fix a topic: the first deal is also about AI.
    edition = _edition(live_app)
    deal = edition.sections[2].items[0]
    assert {t.slug for t in deal.topics} == {"investment"}
    page.locator(f"#item-{deal.id}").get_by_role("link", name="编辑", exact=True).click()
    screens.step("3-item")
    page.locator("label.topic", has_text="人工智能").click()
    page.get_by_role("button", name="保存条目").last.click()
    expect(page.locator(f"#item-{deal.id} .chip")).to_have_text(["人工智能", "投融资与并购"])
    assert {t.slug for t in _edition(live_app).sections[2].items[0].topics} == {"ai", "investment"}

    # Preview the AI readers' variant at both widths.
    page.get_by_role("link", name="预览与测试").click()
    page.locator(".preview-controls [data-all-topics]").uncheck()
    page.locator(".preview-controls label.pick", has_text="人工智能").click()
    page.get_by_role("button", name="显示预览").click()
    # The hook first, then the report and month (a phone shows the start of the subject).
    subject = page.locator("[data-preview=subject]")
    expect(subject).to_contain_text("｜元宇宙与数字经济月报 · 2024年7月")
    for which, width in (("desktop", 600), ("phone", 375)):
        frame = page.frame_locator(f"iframe[data-frame={which}]")
        expect(frame.locator("body")).to_contain_text(deal.title)  # the fixed topic shows
        sizes = frame.locator("html").evaluate(
            "html => [html.clientWidth, html.scrollWidth]"
        )
        assert sizes == [width, width], (which, sizes)  # exactly that width, nothing overflows
    screens.step("4-preview")

    # Send a test to two addresses.
    page.locator("#addresses").fill(f"{EDITOR}, colleague@example.com")
    page.get_by_role("button", name="发送测试", exact=True).click()
    expect(page.locator(".flash-ok")).to_contain_text("测试邮件已发送至")
    tests = [m for m in outbox(live_app) if m["Subject"].startswith("[测试] ")]
    assert sorted(m["To"] for m in tests) == sorted(["colleague@example.com", EDITOR])
    screens.step("5-test-sent")

    # Approve: the demo's English readers would get the sample's items in Chinese, so the
    # console says how many readers and items and waits for the box to be ticked.
    page.get_by_role("link", name="条目与文字").click()
    page.get_by_role("button", name="批准", exact=True).click()
    with database(live_app).sessionmaker() as session:
        loaded = get_edition(session, "2024-07")
        assert loaded is not None
        exposure = english_exposure(session, loaded)
    assert exposure.readers == 4 and exposure.items > 0
    notice = page.locator("[data-untranslated-readers]")
    expect(notice).to_have_attribute("data-untranslated-readers", str(exposure.readers))
    expect(notice).to_have_attribute("data-untranslated-items", str(exposure.items))
    expect(page.locator("[data-status-badge]")).to_have_text("草稿")
    screens.step("6-approve-untranslated")
    page.locator("input[name=allow_untranslated]").check()
    page.get_by_role("button", name="批准", exact=True).click()
    expect(page.locator("[data-status-badge]")).to_have_text("已批准")

    # Then schedule for tomorrow morning.
    page.get_by_role("link", name="发送或排期…").click()
    with database(live_app).sessionmaker() as session:
        loaded = get_edition(session, "2024-07")
        assert loaded is not None
        variants = count_variants(session, loaded)
    readers = sum(variants.values())
    expect(page.locator("[data-estimate=readers]")).to_have_text(str(readers))
    expect(page.locator("[data-estimate=variants]")).to_have_text(str(len(variants)))
    screens.step("6-confirm")
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    page.locator("#date").fill(tomorrow)
    page.locator("#time").fill("09:00")
    page.get_by_role("button", name="排期", exact=True).click()
    expect(page.locator("[data-status-badge]")).to_have_text("已排期")
    assert _edition(live_app).status == EditionStatus.SCHEDULED
    screens.step("7-scheduled")

    # Send now instead, and watch the bar fill without a reload.
    page.get_by_role("link", name="立即发送或修改时间…").click()
    page.get_by_role("button", name=f"立即发送给 {readers} 位读者").click()
    expect(page.locator(".flash-ok")).to_contain_text(f"计划发送 {readers} 封")
    page.evaluate("window.notReloaded = true")
    _wait_for_sent(page, at_least=1)
    screens.step("8-sending")
    expect(page.locator("[data-field=percent]")).to_have_text("100", timeout=20_000)
    expect(page.locator("[data-field=status]")).to_have_text("已发送")
    expect(page.locator("[data-field=sent]")).to_have_text(str(readers))
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("[data-when=sending]").is_hidden()  # no pause button once sent
    screens.step("9-sent")
    with database(live_app).sessionmaker() as session:
        counts = dict(
            session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
            .tuples()
            .all()
        )
    assert counts == {DeliveryStatus.SENT: readers}

    # The outbox holds what readers got; open the newest one.
    page.get_by_role("link", name="发件箱").click()
    rows = page.locator(".outbox-table tbody tr")
    expect(rows).to_have_count(readers + 2)
    screens.step("10-outbox")
    rows.first.get_by_role("link").click()
    expect(page.locator("table.headers")).to_contain_text("List-Unsubscribe-Post")
    expect(page.frame_locator("iframe[data-frame=phone]").locator("body")).to_contain_text(
        "元宇宙与数字经济月报"
    )
    screens.step("11-outbox-message")
    # Looking at a reader's message is not that reader opening it.
    assert screens.blocked_pixels
    with database(live_app).sessionmaker() as session:
        opened = session.scalar(select(func.count(Delivery.id)).where(
            Delivery.opened_at.is_not(None)))
    assert opened == 0
    page.context.close()


@pytest.mark.usefixtures("editor", "worker")
def test_pausing_and_resuming_a_larger_send_on_a_tablet(
    browser: Browser, live_app: Flask
) -> None:
    base = settings_of(live_app).base_url
    install(live_app, replace(settings_of(live_app), ses_max_send_rate=30.0))
    with database(live_app).sessionmaker() as session:
        edition = import_report_text(session, SAMPLE_REPORT.read_text(encoding="utf-8"),
                                     actor="test")
        sending.approve(session, edition, actor="test")
        session.commit()
        Factories(session).many_subscribers(
            240, [["ai"], ["data", "investment"], ["digital-economy"], ["fintech"]]
        )
    page = _context_page(browser, live_app, "en-GB", 820, 1180)
    screens = Screens(page, "en-tablet", 820)
    _sign_in(page, base)
    page.goto(base + "/editor/editions/2024-07/send")
    expect(page.locator("[data-estimate=readers]")).to_have_text("240")
    screens.step("1-confirm")

    page.get_by_role("button", name="Send now to 240 readers").click()
    _wait_for_sent(page, at_least=30, counts_add_up_to=240)
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator("[data-field=status]")).to_have_text("Paused")
    # Pausing takes effect within the batch in hand; after that nothing more goes out.
    page.wait_for_timeout(2500)
    held = _sent(live_app)
    page.wait_for_timeout(1000)
    assert _sent(live_app) == held < 240
    expect(page.locator("[data-field=sent]")).to_have_text(str(held))
    screens.step("2-paused")

    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.locator("[data-field=percent]")).to_have_text("100", timeout=30_000)
    expect(page.locator("[data-field=status]")).to_have_text("Sent")
    assert _sent(live_app) == 240
    screens.step("3-sent")
    page.context.close()


def _wait_for_sent(
    page: Page, at_least: int, timeout: float = 15.0, counts_add_up_to: int | None = None
) -> None:
    """Until the page's own counter (updated by its polling) shows `at_least` sent; with
    `counts_add_up_to`, every look at the card finds its six counts adding up to that.

    Polled from here: the page's CSP rightly refuses the eval that wait_for_function needs.
    """
    deadline = time.monotonic() + timeout
    looks = 0
    while int(page.locator("[data-field=sent]").inner_text()) < at_least:
        assert time.monotonic() < deadline, "the progress bar did not move"
        if counts_add_up_to is not None:
            counts = dict(page.evaluate(  # in one go: a poll may redraw between two reads
                "Array.from(document.querySelectorAll('dd[data-count]'))"
                ".map(function (e) { return [e.dataset.count, Number(e.textContent)]; })"))
            assert len(counts) == 6 and sum(counts.values()) == counts_add_up_to, counts
            looks += 1
        page.wait_for_timeout(100)
    assert counts_add_up_to is None or looks > 0


def _sent(app: Flask) -> int:
    with database(app).sessionmaker() as session:
        return session.scalar(
            select(func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.SENT)
        ) or 0
