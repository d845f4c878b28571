"""The July edition in a real browser: desktop and phone widths, no horizontal overflow."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser

from emails import EditionContent, MailSettings, Recipient, UrlLinks, compile_variant, fill
from emails.system import render_system_mail
from tests.emails.conftest import BASE_URL, ROOT, TOPICS, with_english
from tests.support.browser import chromium  # noqa: F401  (the `browser` fixture)

SCREENSHOTS = ROOT / "var" / "screenshots"
pytestmark = pytest.mark.browser


def _open(browser: Browser, html: str, width: int, name: str) -> dict[str, float]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.route("**/*", lambda route: route.abort())  # nothing may load from the network
        page.set_content(html, wait_until="load")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        metrics: dict[str, float] = page.evaluate(
            """() => {
              const callout = [...document.querySelectorAll('td')].find(
                td => td.textContent.trim().startsWith('植德短评'));
              const title = document.querySelector('a[href*="/c/"]');
              return {
                scrollWidth: document.documentElement.scrollWidth,
                titleWidth: title ? title.getBoundingClientRect().width : 0,
                calloutBorder: callout ? parseFloat(getComputedStyle(callout).borderLeftWidth) : 0,
              };
            }"""
        )
        return metrics
    finally:
        page.close()


@pytest.mark.parametrize("width", [600, 375])
def test_july_edition_renders_at_desktop_and_phone_width(
    browser: Browser,
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
    width: int,
) -> None:
    variant = compile_variant(july_edition, TOPICS, "zh-CN", settings=settings, layout="full")
    html = fill(variant, reader(), UrlLinks(BASE_URL)).html
    metrics = _open(browser, html, width, "july-zh-CN")
    assert metrics["scrollWidth"] <= width + 1
    assert metrics["calloutBorder"] >= 2  # the commentary callout is set apart
    assert 0 < metrics["titleWidth"] <= width - 30  # content keeps a margin on both sides
    assert (SCREENSHOTS / f"july-zh-CN-{width}.png").stat().st_size > 10_000


def test_english_edition_and_a_system_mail_fit_a_phone(
    browser: Browser,
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
) -> None:
    variant = compile_variant(july_edition, {"ai", "fintech"}, "en", settings=settings)
    english = fill(variant, reader("en", name="Ann"), UrlLinks(BASE_URL)).html
    assert _open(browser, english, 375, "july-en-ai-fintech")["scrollWidth"] <= 376
    context = {"to": "a@example.org", "action_url": f"{BASE_URL}/confirm/" + "x" * 120}
    confirm = render_system_mail("confirm", "zh-CN", context, settings=settings).html
    assert _open(browser, confirm, 375, "confirm-zh-CN")["scrollWidth"] <= 376


DIGEST_MAX_HEIGHT = 5_500  # seven phone screens


@pytest.mark.parametrize(
    ("language", "english"),
    [("zh-CN", False), ("en", True), ("en", False)],  # English as an editor wrote it, or none
)
def test_the_july_digest_for_a_reader_of_every_topic_is_seven_phone_screens(
    browser: Browser,
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
    language: str,
    english: bool,
) -> None:
    edition = with_english(july_edition) if english else july_edition
    heights = {}
    name = f"{language}-english" if english else language
    for layout in ("full", "digest"):
        variant = compile_variant(edition, TOPICS, language, settings=settings, layout=layout)
        html = fill(variant, reader(language), UrlLinks(BASE_URL)).html
        page = browser.new_page(viewport={"width": 390, "height": 844})
        try:
            page.route("**/*", lambda route: route.abort())
            page.set_content(html, wait_until="load")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(SCREENSHOTS / f"july-{layout}-{name}-390.png"),
                full_page=True,
            )
            heights[layout] = page.evaluate("document.documentElement.scrollHeight")
            width = page.evaluate("document.documentElement.scrollWidth")
        finally:
            page.close()
        assert width <= 391, layout
    untranslated = " (no English)" if language == "en" and not english else ""
    print(f"\nJuly, every topic, {language}{untranslated}, 390 px: full {heights['full']:,} px, "
          f"digest {heights['digest']:,} px")
    assert heights["digest"] <= DIGEST_MAX_HEIGHT
    assert heights["digest"] < heights["full"] / 2
