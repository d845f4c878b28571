"""The July edition and a system mail in headless Chromium: no serious axe-core violation at
phone and desktop width, and legible in light mode, dark mode and under forced darkening."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright

from emails import EditionContent, MailSettings, Recipient, UrlLinks, compile_variant, fill
from emails.palette import DARK, LIGHT, contrast_ratio
from emails.system import render_system_mail
from tests.emails.conftest import BASE_URL, ROOT, TOPICS
from tests.support.axe import serious_violations
from tests.support.browser import chromium, launch_chromium  # noqa: F401  (`browser`)

SCREENSHOTS = ROOT / "var" / "screenshots"
pytestmark = pytest.mark.browser

# (name, topics, language, layout): the July edition in both layouts and languages, for a
# reader of every topic and of one.
EDITIONS = [
    (f"{reach}-{language}-{layout}", topics, language, layout)
    for reach, topics in (("every-topic", TOPICS), ("one-topic", ("ai",)))
    for language in ("zh-CN", "en")
    for layout in ("full", "digest")
]


def _edition_html(
    july: EditionContent,
    settings: MailSettings,
    reader: Recipient,
    topics: tuple[str, ...],
    layout: str = "full",
) -> str:
    variant = compile_variant(july, topics, reader.language, settings=settings, layout=layout)
    return fill(variant, reader, UrlLinks(BASE_URL)).html


def _system_html(settings: MailSettings, language: str) -> str:
    context = {"to": "a@example.org", "action_url": f"{BASE_URL}/confirm/" + "x" * 80}
    return render_system_mail("confirm", language, context, settings=settings).html


def _page(browser: Browser, html: str, width: int, scheme: str = "light") -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.route("**/*", lambda route: route.abort())  # nothing may load from the network
    page.set_content(html, wait_until="load")
    return page


@pytest.mark.parametrize("width", [390, 600])
@pytest.mark.parametrize(
    ("name", "topics", "language", "layout"), EDITIONS, ids=[e[0] for e in EDITIONS]
)
def test_the_july_edition_has_no_serious_accessibility_violation(
    browser: Browser,
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
    name: str,
    topics: tuple[str, ...],
    language: str,
    layout: str,
    width: int,
) -> None:
    html = _edition_html(july_edition, settings, reader(language), topics, layout)
    page = _page(browser, html, width)
    try:
        assert serious_violations(page) == []
        # Headings a screen reader can jump by: the masthead, the sections, the items.
        assert page.locator("h1").count() == 1
        assert page.locator("h2").count() >= 1 and page.locator("h3").count() >= 2
        assert page.evaluate("document.documentElement.lang") == language
    finally:
        page.close()


@pytest.mark.parametrize("width", [390, 600])
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_a_system_mail_has_no_serious_accessibility_violation(
    browser: Browser, settings: MailSettings, language: str, width: int
) -> None:
    page = _page(browser, _system_html(settings, language), width)
    try:
        assert serious_violations(page) == []
    finally:
        page.close()


def test_chinese_text_in_an_english_edition_is_marked_as_chinese(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    html = _edition_html(july_edition, settings, reader("en"), ("ai",))
    assert '<html lang="en"' in html
    assert re.search(r' · <span lang="zh-CN">[^<]*[\u4e00-\u9fff]', html)  # a Chinese source
    assert f'lang="zh-CN">{settings.org_name}</p>' in html  # the firm's name, in the footer


def _computed(page: Page, selector: str, prop: str) -> str:
    """A computed colour of the first element matching `selector`, as #rrggbb."""
    rgb: list[int] = page.evaluate(
        """([s, p]) => getComputedStyle(document.querySelector(s))[p]
                         .match(/\\d+/g).slice(0, 3).map(Number)""",
        [selector, prop],
    )
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _background(page: Page, selector: str) -> str:
    return _computed(page, selector, "backgroundColor")


def _colour(page: Page, selector: str) -> str:
    return _computed(page, selector, "color")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_dark_mode_repaints_the_email_from_the_dark_palette(
    browser: Browser,
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
    scheme: str,
) -> None:
    palette = DARK if scheme == "dark" else LIGHT
    html = _edition_html(july_edition, settings, reader(), TOPICS)
    assert html.count("prefers-color-scheme") == 1  # in the head once, never per item
    assert '<meta name="color-scheme" content="light dark"' in html
    assert '<meta name="supported-color-schemes" content="light dark"' in html
    page = _page(browser, html, 390, scheme)
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"july-{scheme}-390.png"), full_page=True)
        assert _background(page, "body") == palette.paper
        assert _background(page, ".yb-s") == palette.surface
        assert _colour(page, "h3 a") == palette.heading
        assert _colour(page, ".yb-i h3 + p") == palette.muted  # date and source
        assert _background(page, ".yb-c") == palette.commentary
        assert _colour(page, ".yb-c p") == palette.accent_text  # its label
        assert _colour(page, ".yb-i h2") == palette.heading
        gold_rule = _computed(page, ".yb-i td:has(> h2)", "borderLeftColor")
        assert gold_rule == LIGHT.accent  # the brand's rule, kept in both schemes
        second_item = ".yb-i > tbody > tr:nth-child(3) > td"
        assert _computed(page, second_item, "borderTopColor") == palette.line
        assert _background(page, ".yb-n") == palette.tint
        masthead = page.evaluate("getComputedStyle(document.querySelector('h1')).color")
        assert masthead == "rgb(255, 255, 255)"  # white on navy in both schemes
        assert serious_violations(page) == []
    finally:
        page.close()
    digest = _page(browser, _edition_html(july_edition, settings, reader(), TOPICS, "digest"),
                   390, scheme)
    try:
        digest.screenshot(path=str(SCREENSHOTS / f"july-digest-{scheme}-390.png"), full_page=True)
        assert _colour(digest, "h3 a") == palette.heading
        assert _colour(digest, ".yb-i td > p > a") == palette.accent_text  # read more
        assert _colour(digest, ".yb-i b") == palette.accent_text  # the commentary's label
        assert _colour(digest, ".yb-n p:last-child") == palette.muted  # "and N more"
        assert serious_violations(digest) == []
    finally:
        digest.close()
    system = _page(browser, _system_html(settings, "zh-CN"), 390, scheme)
    try:
        system.screenshot(path=str(SCREENSHOTS / f"confirm-{scheme}-390.png"), full_page=True)
        button = system.locator(".yb-b a")
        background = _background(system, ".yb-b a")
        assert background == palette.primary
        assert contrast_ratio(_colour(system, ".yb-b a"), background) >= 4.5
        assert button.is_visible()
    finally:
        system.close()


@pytest.fixture(scope="module")
def darkened(playwright_driver: Playwright) -> Iterator[Browser]:
    """Chromium darkening pages itself, as Android's WebView does for the Gmail and Outlook
    apps: light backgrounds turn dark and dark text light, whatever the page's own styles."""
    browser = launch_chromium(playwright_driver, "--blink-settings=forceDarkModeEnabled=true")
    yield browser
    browser.close()


def _pixels(browser: Browser, png: bytes, points: list[tuple[float, float]]) -> list[str]:
    """The colours of a screenshot at `points`, read through a canvas (no image library) in
    a browser that does not darken what it draws."""
    page = browser.new_page()
    try:
        colours: list[str] = page.evaluate(
            """async ([data, points]) => {
                const image = new Image();
                image.src = 'data:image/png;base64,' + data;
                await image.decode();
                const canvas = document.createElement('canvas');
                canvas.width = image.width; canvas.height = image.height;
                const context = canvas.getContext('2d');
                context.drawImage(image, 0, 0);
                return points.map(([x, y]) => '#' + [...context.getImageData(x, y, 1, 1).data]
                    .slice(0, 3).map(c => c.toString(16).padStart(2, '0')).join(''));
            }""",
            [base64.b64encode(png).decode(), points],
        )
        return colours
    finally:
        page.close()


def _rect(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def test_masthead_and_button_stand_out_when_a_client_darkens_the_email(
    browser: Browser, darkened: Browser, settings: MailSettings
) -> None:
    """Forced darkening keeps the navy masthead and button navy while the white body turns
    dark: the gold rules and the button's gold border keep them apart from the body."""
    page = _page(darkened, _system_html(settings, "zh-CN"), 390)
    try:
        png = page.screenshot(full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "confirm-forced-dark-390.png").write_bytes(png)
        masthead = _rect(page, "td:has(> div > table h1)")
        button = _rect(page, ".yb-b table td")
        bottom = masthead["y"] + masthead["height"]
        mid = button["y"] + button["height"] / 2
        rule, body, inside, border, beside = _pixels(
            browser,
            png,
            [
                (100, bottom - 1),  # the gold rule under the masthead
                (100, bottom + 6),  # the darkened body
                (100, bottom - 12),  # the masthead itself
                (button["x"] + 1, mid),  # the button's border
                (button["x"] - 8, mid),  # the body beside it
            ],
        )
    finally:
        page.close()
    assert contrast_ratio(body, "#ffffff") > 4.5, "the body was not darkened"
    assert contrast_ratio(rule, body) >= 3, (rule, body)
    assert contrast_ratio(rule, inside) >= 3, (rule, inside)
    assert contrast_ratio(border, beside) >= 3, (border, beside)


def test_the_commentary_box_stays_legible_when_a_client_darkens_the_email(
    browser: Browser,
    darkened: Browser,
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
) -> None:
    """Its box and text are darkened and lightened together: the label and the text read
    against the box (the strongest stroke across each line, as a reader's eye finds it)."""
    html = _edition_html(july_edition, settings, reader(), ("ai",))
    page = _page(darkened, html, 390)
    try:
        box = _rect(page, ".yb-c")
        lines = [_rect(page, ".yb-c p:first-child"), _rect(page, ".yb-c p:nth-child(2)")]
        png = page.screenshot(full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / "july-forced-dark-390.png").write_bytes(png)
        inside = _pixels(browser, png, [(box["x"] + 8, box["y"] + 4)])[0]
        strokes = [
            _pixels(
                browser,
                png,
                # across the first line of text (the label is one line, 12px)
                [(line["x"] + dx, line["y"] + 10 + dy) for dx in range(60) for dy in (-3, 0, 3)],
            )
            for line in lines
        ]
    finally:
        page.close()
    assert contrast_ratio(inside, "#ffffff") > 4.5, "the box was not darkened"
    for stroke in strokes:
        assert max(contrast_ratio(pixel, inside) for pixel in stroke) >= 4.5, (inside, stroke)
