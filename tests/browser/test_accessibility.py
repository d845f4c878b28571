"""Every console and public page in Chromium, in Chinese and English, with the sample July report
and real-length data: none is wider than a 360 px phone, and none has a serious or critical
axe-core violation at phone (390 px) or laptop (1366 px) width.

One signed-in context (an admin, who sees every console page) and one anonymous context; each
page is loaded once per language and measured at the three widths by resizing the viewport.
Every problem is collected and reported together at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from threading import Event

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Route
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select

from tests.browser.conftest import SCREENSHOTS
from tests.conftest import PASSWORD
from tests.factories import Factories
from tests.mailbox import answer_forms, link_in, outbox
from tests.support.axe import serious_violations
from webapp.accounts.invitations import sign_invitation
from webapp.accounts.password_reset import sign_reset
from webapp.accounts.two_factor import begin_enrolment
from webapp.accounts.user_admin import invite_user
from webapp.cli.demo import SAMPLE_REPORT
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.runner import run_pending
from webapp.editions.upload import import_report_text
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Item,
    Role,
    Subscriber,
    Suppression,
    Topic,
    User,
)

pytestmark = pytest.mark.browser

ADMIN = "guanliyuan@example.com"
LANGUAGES = ("zh_CN", "en")
PHONE, AXE_WIDTHS = 360, (390, 1366)
SCREENSHOTTED = ("subscribe", "archive-edition", "web-version-zh", "web-version-en", "editor-home",
                 "outbox", "preview")
LONG_TITLE = (
    "国家互联网信息办公室等七部门联合发布《生成式人工智能服务管理暂行办法》配套实施细则"
    "及跨境数据流动安全评估申报指南（2024年修订版）的通知"
)
LONG_URL = (
    "https://www.cac.gov.cn/2024-07/15/c_1722745395166734.htm?utm_source=newsletter"
    "&utm_medium=email&utm_campaign=monthly-report-2024-07&from=timeline&isappinstalled=0"
    "&share_token=8f0c3a4e-9d1b-4c57-a2f6-0b7e5d9c1a34"
)
LONG_ADDRESS = "zhang.xiaoming.international-business-development@beijing-tianjin-hebei.example.com"
CSV = (  # new readers in each language's pass (format with the language), and a bad row
    "email,name,topics,language,status\n"
    "{language}.{address},张晓明,ai;data,zh-CN,active\n"
    "liu.yang.{language}@example.com,刘洋,fintech,en,active\n"
    "not-an-address,坏地址,ai,zh-CN,active\n"
)

# The outermost elements that reach past the viewport, unless an ancestor scrolls or clips them.
WIDER_THAN_SCREEN = """() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  const clips = el => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const x = getComputedStyle(up).overflowX;
      if (x !== "visible" && up.getBoundingClientRect().right <= width + 1) return true;
    }
    return false;
  };
  const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (el.className && typeof el.className === "string"
       ? "." + el.className.trim().split(/\\s+/).join(".") : "")
    + " (" + Math.round(el.getBoundingClientRect().right) + "px: "
    + (el.textContent || "").trim().slice(0, 40) + ")";
  const wide = Array.from(document.body.querySelectorAll("*")).filter(
    el => el.getBoundingClientRect().right > width + 1 && !clips(el));
  let outermost = wide.filter(el => !wide.includes(el.parentElement));
  if (!outermost.length) {  // text running out of its box
    outermost = Array.from(document.body.querySelectorAll("*")).filter(
      el => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === "visible");
  }
  return document.documentElement.scrollWidth + "px wide: "
    + outermost.slice(0, 4).map(describe).join("; ");
}"""

Opener = Callable[[Page], None]


@dataclass
class Sweep:
    """What each page showed; the failures, one line each."""

    base: str
    failures: list[str] = field(default_factory=list)
    pages: set[str] = field(default_factory=set)

    def measure(self, page: Page, name: str, open_page: Opener, language: str) -> None:
        label = f"{name} [{language}]"
        self.pages.add(name)
        page.set_viewport_size({"width": PHONE, "height": 800})
        try:
            open_page(page)
        except (AssertionError, PlaywrightError) as error:
            self.failures.append(f"{label}: {error}")
            return
        page.wait_for_load_state("load")
        wider = page.evaluate(WIDER_THAN_SCREEN)
        if wider:
            self.failures.append(f"{label} at {PHONE}px: {wider}")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"sweep-{name}-{language}-{PHONE}.png"))
        for width in AXE_WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            if width == 390 and name in SCREENSHOTTED:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{language}-390.png"))
            for problem in serious_violations(page):
                self.failures.append(f"{label} at {width}px: {problem}")

    def visit(self, path: str, *, status: int = 200) -> Opener:
        def open_page(page: Page) -> None:
            response = page.goto(self.base + path)
            assert response is not None, path
            assert response.status == status, f"{path} answered {response.status}"

        return open_page


def _context(browser: Browser, base: str) -> BrowserContext:
    context = browser.new_context(locale="zh-CN", viewport={"width": PHONE, "height": 800})

    def local_only(route: Route) -> None:
        if route.request.url.startswith(base) or route.request.url.startswith("about:"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", local_only)
    context.set_default_timeout(5000)
    return context


@dataclass
class Sample:
    """The rows the pages show, made once for both languages."""

    july_zh_view: str
    july_en_view: str
    reader_id: int
    reader_token: str
    topic_id: int
    suppression_id: int
    outbox_name: str


def _sample(app: Flask) -> Sample:
    """The July report sent to the demo readers; August in draft with a long title, item and
    link; September sending; a reader with a long address, suppressions."""
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    settings = settings_of(app)
    sessions = database(app).sessionmaker
    with sessions() as session:
        factories = Factories(session)
        factories.user(role=Role.ADMIN, password=PASSWORD, email=ADMIN)
        july = session.scalar(select(Edition).where(Edition.month == "2024-07"))
        assert july is not None
        july.title = LONG_TITLE
        sending.approve(session, july, actor="test", allow_untranslated=True)
        sending.start_send(session, july, actor="test")
        session.commit()
    run_pending(settings, sessions, Event())
    with sessions() as session:
        text = SAMPLE_REPORT.read_text(encoding="utf-8")
        august = import_report_text(session, text, month="2024-08", actor="test")
        august.title = LONG_TITLE
        section = august.sections[0]
        long_item = Item(position=len(section.items), title=LONG_TITLE, url=LONG_URL,
                         published_on=date(2024, 8, 2), source="国家互联网信息办公室",
                         summary=LONG_TITLE * 3)
        long_item.topics = list(section.items[0].topics)
        section.items.append(long_item)
        september = import_report_text(session, text, month="2024-09", actor="test")
        sending.approve(session, september, actor="test", allow_untranslated=True)
        sending.start_send(session, september, actor="test")
        factories = Factories(session)
        reader = factories.subscriber(email=LONG_ADDRESS, name="张晓明", topics=["ai", "data"])
        for n, reason in enumerate(("bounce", "complaint", "manual")):
            session.add(Suppression(email_key=f"{n}.{LONG_ADDRESS}", reason=reason,
                                    source="ses", note=LONG_TITLE))
        session.commit()
        suppression = session.scalars(select(Suppression).order_by(Suppression.id)).first()
        views = {
            subscriber.language: delivery.token
            for delivery, subscriber in session.execute(
                select(Delivery, Subscriber)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.edition_id == july.id, Delivery.status == DeliveryStatus.SENT)
            ).tuples()
        }
        topic = session.scalars(select(Topic).order_by(Topic.position)).first()
        assert suppression is not None and topic is not None
        outbox_dir = Path(settings.outbox_dir)
        return Sample(
            july_zh_view=f"/v/{views['zh-CN']}",
            july_en_view=f"/v/{views['en']}",
            reader_id=reader.id,
            reader_token=reader.token,
            topic_id=topic.id,
            suppression_id=suppression.id,
            outbox_name=sorted(outbox_dir.glob("*.eml"))[-1].name,
        )


def _click(path: str, button: str, lands_on: str, base: str) -> Opener:
    """The page a form's button leads to (`button` a CSS selector on the page at `path`)."""

    def open_page(page: Page) -> None:
        page.goto(base + path)
        with page.expect_navigation():
            page.locator(button).first.click()
        assert lands_on in page.url, f"{button} on {path} led to {page.url}"

    return open_page


def _console_pages(
    app: Flask, sweep: Sweep, sample: Sample, language: str
) -> Iterator[tuple[str, Opener]]:
    base, visit = sweep.base, sweep.visit
    yield "editor-home", visit("/editor/")
    yield "edition-draft", visit("/editor/editions/2024-08")
    yield "edition-sending", visit("/editor/editions/2024-09")
    yield "edition-sent", visit("/editor/editions/2024-07")
    yield "preview", visit("/editor/editions/2024-08/preview")
    yield "send-draft", visit("/editor/editions/2024-08/send")
    yield "send-progress", visit("/editor/editions/2024-09/send")
    yield "send-sent", visit("/editor/editions/2024-07/send")
    with database(app).sessionmaker() as session:
        item = session.scalar(select(Item.id).where(Item.title == LONG_TITLE))
    yield "item", visit(f"/editor/editions/2024-08/items/{item}")
    yield "item-new", visit("/editor/editions/2024-08/items/new")
    yield "translate", visit("/editor/editions/2024-08/translate")
    yield "drafts", visit("/editor/editions/2024-08/drafts")
    yield "approve", _click("/editor/editions/2024-08", "form[action$='/approve'] [type=submit]",
                            "/approve", base)
    yield "import-report", visit("/editor/editions/new")
    yield "outbox", visit("/editor/outbox")
    yield "outbox-message", visit(f"/editor/outbox/{sample.outbox_name}")
    yield "dashboard", visit("/admin/")
    yield "readers", visit("/admin/subscribers")
    yield "reader", visit(f"/admin/subscribers/{sample.reader_id}")
    yield "reader-new", visit("/admin/subscribers/new")
    yield "readers-import", visit("/admin/subscribers/import")

    def import_preview(page: Page) -> None:
        page.goto(base + "/admin/subscribers/import")
        csv = CSV.format(language=language, address=LONG_ADDRESS)
        page.locator("textarea[name=text]").fill(csv)
        page.locator("input[name=consent_basis][value=asked]").check()
        with page.expect_navigation():
            page.locator("form[enctype] [type=submit]").first.click()
        assert page.locator("input[name=confirm]").count(), page.url

    yield "import-preview", import_preview

    def job(page: Page) -> None:
        import_preview(page)
        skip = page.locator("input[name=skip_invalid]")
        if skip.count():
            skip.check()
        with page.expect_navigation():
            page.locator("form.confirm-import [type=submit]").first.click()
        assert "/admin/jobs/" in page.url, page.url

    yield "job", job
    yield "topics", visit("/admin/topics")
    yield "topic", visit(f"/admin/topics/{sample.topic_id}")
    yield "suppressions", visit("/admin/suppressions")
    yield "suppression-remove", visit(f"/admin/suppressions/{sample.suppression_id}/remove")
    yield "audit", visit("/admin/audit")
    yield "users", visit("/admin/users")

    def add_user(address: str, lands_on: str) -> Opener:
        def open_page(page: Page) -> None:
            page.goto(base + "/admin/users")
            form = page.locator("form[action$='/admin/users']")
            form.locator("input[name=email]").fill(address)
            form.locator("input[name=mode][value=password]").check()
            with page.expect_navigation():
                form.locator("[type=submit]").click()
            assert page.locator(lands_on).count(), page.url

        return open_page

    yield "user-created", add_user(f"{language}.{LONG_ADDRESS}", "code, .secret")
    yield "user-refused", add_user("not an address", ".error-summary, .field-error")
    yield "branding", visit("/admin/branding")
    yield "embed", visit("/admin/embed")

    def two_factor_setup(page: Page) -> None:
        with database(app).sessionmaker() as session:
            admin = session.scalar(select(User).where(User.email == ADMIN))
            assert admin is not None
            admin.totp_enabled_at = admin.totp_last_step = None
            begin_enrolment(admin)
            session.commit()
        visit("/account/two-factor")(page)

    yield "two-factor-setup", two_factor_setup

    def recovery_codes(page: Page) -> None:
        two_factor_setup(page)
        with database(app).sessionmaker() as session:
            secret = session.scalar(select(User.totp_secret).where(User.email == ADMIN))
        assert secret
        page.locator("form[action$='/confirm'] input[name=code]").fill(pyotp.TOTP(secret).now())
        with page.expect_navigation():
            page.locator("form[action$='/confirm'] [type=submit]").click()
        assert page.locator(".recovery-codes, ol, ul").count(), page.url

    yield "recovery-codes", recovery_codes
    yield "console-not-found", visit("/editor/editions/1999-01", status=404)


def _public_pages(
    app: Flask, sweep: Sweep, sample: Sample, language: str
) -> Iterator[tuple[str, Opener]]:
    base, visit = sweep.base, sweep.visit
    settings = settings_of(app)
    with database(app).sessionmaker() as session:
        factories = Factories(session)
        leaving = factories.subscriber(topics=["ai"], language=language.replace("_", "-"))
        erasing = factories.subscriber(topics=["ai"], name="王小明")
        admin = session.scalar(select(User).where(User.email == ADMIN))
        assert admin is not None
        invited = invite_user(session, f"invited-{language}@example.com", Role.EDITOR,
                              actor=admin)
        session.commit()
        invitation = sign_invitation(settings.secret_key, invited, admin)
        reset = sign_reset(settings.secret_key, admin)
        leaving_token, erasing_token = leaving.token, erasing.token
    address = f"new-{language}.{LONG_ADDRESS}"

    def check_inbox(page: Page) -> None:
        page.goto(base + "/")
        page.locator("input[name=email]").fill(address)
        page.locator("input[name=topics]").first.check()
        page.locator("input[name=consent]").check()
        with page.expect_navigation():
            page.locator("form button[type=submit].primary").first.click()
        assert "/check-inbox" in page.url, page.url

    def confirm(page: Page) -> None:
        answer_forms(app)
        mail = [message for message in outbox(app) if message["To"] == address]
        assert mail, f"no confirmation mail to {address}"
        visit(link_in(mail[-1], "/confirm/"))(page)

    def web_version(path: str, name: str) -> Opener:
        def open_page(page: Page) -> None:
            visit(path)(page)
            if name.endswith("en"):
                # The sample's sources are Chinese: marked so screen readers switch voice.
                assert page.locator('.item-meta span[lang="zh-CN"]').count() > 0, name

        return open_page

    yield "subscribe", visit("/")
    yield "check-inbox", check_inbox
    yield "confirm", confirm
    yield "confirm-bad-link", visit("/confirm/not-a-link", status=404)
    yield "preferences", visit(f"/p/{sample.reader_token}")
    yield "preferences-link", visit("/preferences/link")

    def link_sent(page: Page) -> None:
        page.goto(base + "/preferences/link")
        page.locator("input[name=email]").fill(LONG_ADDRESS)
        with page.expect_navigation():
            page.locator("form button[type=submit]").first.click()
        assert "/preferences/link/sent" in page.url, page.url

    yield "link-sent", link_sent
    yield "unsubscribe", visit(f"/u/{leaving_token}")
    yield "unsubscribed", _click(f"/u/{leaving_token}", "form[action^='/u/'] [type=submit]",
                                 "/u/", base)
    yield "erase", visit(f"/p/{erasing_token}/erase")
    yield "erased", _click(f"/p/{erasing_token}/erase", "form [type=submit].danger",
                           "/erase", base)
    yield "archive", visit("/archive")
    yield "archive-edition", web_version("/archive/2024-07", f"archive-{language}")
    yield "web-version-zh", web_version(sample.july_zh_view, "web-zh")
    yield "web-version-en", web_version(sample.july_en_view, "web-en")
    yield "not-found", visit("/no-such-page", status=404)
    yield "token-unknown", visit("/p/not-a-token", status=404)
    yield "login", visit("/login")

    def login_code(page: Page) -> None:
        # The admin turned two-factor sign-in on (recovery codes, in the console's pass).
        page.goto(base + "/login")
        page.locator("input[name=email]").fill(ADMIN)
        page.locator("input[name=password]").fill(PASSWORD)
        with page.expect_navigation():
            page.locator("form button[type=submit]").click()
        assert "/login/code" in page.url, page.url

    yield "login-code", login_code
    yield "reset-request", visit("/password-reset")

    def reset_sent(page: Page) -> None:
        page.goto(base + "/password-reset")
        page.locator("input[name=email]").fill(ADMIN)
        with page.expect_navigation():
            page.locator("form button[type=submit]").first.click()

    yield "reset-sent", reset_sent
    yield "reset-link", visit(f"/password-reset/{reset}")
    yield "reset-bad-link", visit("/password-reset/not-a-link", status=410)
    yield "invitation", visit(f"/invitation/{invitation}")
    yield "invitation-bad-link", visit("/invitation/not-a-link", status=410)


def test_every_page_fits_a_phone_and_has_no_serious_accessibility_violation(
    browser: Browser, live_app: Flask
) -> None:
    base = settings_of(live_app).base_url
    sample = _sample(live_app)
    sweep = Sweep(base)
    console, public = _context(browser, base), _context(browser, base)
    signed_in, anonymous = console.new_page(), public.new_page()
    signed_in.goto(base + "/login")
    signed_in.locator("input[name=email]").fill(ADMIN)
    signed_in.locator("input[name=password]").fill(PASSWORD)
    with signed_in.expect_navigation():
        signed_in.locator("form button[type=submit]").click()
    for language in LANGUAGES:
        signed_in.goto(f"{base}/editor/?lang={language}")
        for name, open_page in _console_pages(live_app, sweep, sample, language):
            sweep.measure(signed_in, name, open_page, language)
        anonymous.goto(f"{base}/archive?lang={language}")
        for name, open_page in _public_pages(live_app, sweep, sample, language):
            sweep.measure(anonymous, name, open_page, language)
    console.close()
    public.close()
    assert not sweep.failures, f"{len(sweep.failures)} problems:\n" + "\n".join(sweep.failures)
    assert len(sweep.pages) == 61
