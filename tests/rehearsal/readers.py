"""Readers acting over HTTP against the served app, as a browser and a mail client would: each
with their own cookies and address (behind one trusted proxy), forms with their CSRF tokens,
and retries while the site is down (gunicorn killed, the database restarting)."""

from __future__ import annotations

import html
import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.rehearsal.stage import BASE_URL

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_CONFIRM = re.compile(re.escape(BASE_URL) + r"/confirm/[A-Za-z0-9_.\-]+")

# Leaving: after any of these the reader must get nothing not already on its way.
LEAVING = ("one-click", "unsubscribe-page", "pause", "erase")


class SiteDown(Exception):
    """No answer, or a 5xx: the site is restarting; the reader tries again."""


@dataclass
class Action:
    """One reader's action, with the moments that bound when it took effect: it cannot have
    committed before `started` (its first attempt left) nor after `answered`."""

    kind: str
    reader: int | None  # the reader's id; None for someone new subscribing
    address: str
    started: datetime | None = None
    answered: datetime | None = None
    status: int | None = None
    attempts: int = 0
    problem: str | None = None


class Browser:
    def __init__(self, site: str, ip: str) -> None:
        self.site = site
        self.ip = ip
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def local(self, url: str) -> str:
        """A link from a message (on BASE_URL) as this test reaches the same app."""
        if url.startswith(BASE_URL):
            return self.site + url[len(BASE_URL):]
        return self.site + url

    def request(self, url: str, form: dict[str, str | list[str]] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
        request = urllib.request.Request(self.local(url), data=data, headers={
            "X-Forwarded-For": self.ip, "User-Agent": "rehearsal-reader/1.0",
        })
        try:
            with self.opener.open(request, timeout=30) as answer:
                status, body = answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode("utf-8", "replace")
        except OSError as error:
            raise SiteDown(str(error)) from None
        if status >= 500:
            raise SiteDown(f"HTTP {status}")
        return status, body

    def csrf(self, url: str) -> str:
        status, body = self.request(url)
        found = _CSRF.search(body)
        if status != 200 or found is None:
            raise AssertionError(f"no form at {url}: HTTP {status}")
        return html.unescape(found.group(1))


def now() -> datetime:
    return datetime.now(UTC)


def attempt(action: Action, step: object, *, patience: float = 90.0) -> None:
    """Run `step` (a callable returning the final HTTP status) until the site answers."""
    deadline = time.monotonic() + patience
    action.started = now()
    while True:
        action.attempts += 1
        try:
            action.status = step()  # type: ignore[operator]
            action.answered = now()
            return
        except SiteDown as error:
            if time.monotonic() > deadline:
                action.problem = f"site down for {patience:.0f} s: {error}"
                return
            time.sleep(0.2)


def one_click(browser: Browser, list_unsubscribe: str) -> int:
    """What a mail client does with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`."""
    url = list_unsubscribe.strip("<>")
    return browser.request(url, {"List-Unsubscribe": "One-Click"})[0]


def unsubscribe_on_page(browser: Browser, token: str) -> int:
    page = f"/u/{token}"
    browser.request(page)
    return browser.request(page, {"List-Unsubscribe": "One-Click", "via": "page"})[0]


def pause(browser: Browser, token: str) -> int:
    page = f"/p/{token}"
    return browser.request(f"{page}/pause", {"csrf_token": browser.csrf(page), "months": "1"})[0]


def erase(browser: Browser, token: str) -> int:
    page = f"/p/{token}/erase"
    status, body = browser.request(page)
    if status == 410:  # an earlier attempt erased them and its answer was lost
        return status
    found = _CSRF.search(body)
    if status == 200 and not found and "notice-ok" in body:
        # The earlier attempt's POST erased them and its redirect's answer was lost: this visit
        # is the "just erased" page that redirect would have shown (410 from the next one on).
        return 410

    assert status == 200 and found, f"no form at {page}: HTTP {status}"
    return browser.request(page, {"csrf_token": html.unescape(found.group(1)),
                                  "understood": "y"})[0]


def change_topics(browser: Browser, token: str, topics: list[str]) -> int:
    page = f"/p/{token}"
    form: dict[str, str | list[str]] = {
        "csrf_token": browser.csrf(page), "topics": topics, "language": "en",
        "name": "Changed Mind", "company": "", "tracking": "y",
    }
    return browser.request(page, form)[0]


def subscribe(browser: Browser, address: str, topics: list[str]) -> int:
    form: dict[str, str | list[str]] = {
        "csrf_token": browser.csrf("/"), "email": address, "name": "New Reader",
        "company": "", "topics": topics, "language": "zh-CN", "consent": "y", "website": "",
    }
    return browser.request("/", form)[0]


def confirm(browser: Browser, link: str) -> int:
    status, body = browser.request(link)
    found = _CSRF.search(body)
    if status == 200 and found is None:
        # An earlier attempt's POST committed but its answer was lost to a restart: the page
        # now says "already confirmed" (the reader's state is checked at the end).
        return status
    if status != 200 or found is None:
        raise AssertionError(f"no form at {link}: HTTP {status}")
    return browser.request(link, {"csrf_token": html.unescape(found.group(1))})[0]


def confirm_link(text: str | None) -> str | None:
    found = _CONFIRM.search(text or "")
    return found.group(0) if found else None
