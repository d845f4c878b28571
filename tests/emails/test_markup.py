"""What screen readers and Outlook for Windows rely on in the compiled HTML: real headings with
their margins reset, layout tables marked presentational, an Outlook-only font rule, spacing and
rules on table cells, dark-mode CSS once in the head."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest

from emails import EditionContent, MailSettings, Recipient, UrlLinks, compile_variant, fill
from emails.compiler import FONT_STACK
from emails.system import KINDS, render_system_mail
from tests.emails.conftest import BASE_URL, TOPICS


class Elements(HTMLParser):
    """Every start tag with its attributes, in order (conditional comments are skipped)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def named(self, *names: str) -> list[dict[str, str]]:
        return [attrs for tag, attrs in self.tags if tag in names]


@pytest.fixture
def documents(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> dict[str, str]:
    found = {}
    for topics, language in ((TOPICS, "zh-CN"), (TOPICS, "en"), (("ai",), "en")):
        for layout in ("full", "digest"):
            variant = compile_variant(
                july_edition, topics, language, settings=settings, layout=layout
            )
            message = fill(variant, reader(language), UrlLinks(BASE_URL))
            found[f"{language}:{len(topics)}:{layout}"] = message.html
    for kind in KINDS:
        context = {"to": "a@example.org", "action_url": f"{BASE_URL}/x", "unsubscribe_url": "u",
                   "inviter": "lead@example.org", "role": "editor", "lifetime_days": "3"}
        found[kind] = render_system_mail(kind, "zh-CN", context, settings=settings).html
    return found


def test_headings_are_real_and_their_margins_reset(documents: dict[str, str]) -> None:
    for name, html in documents.items():
        page = Elements(html)
        assert len(page.named("h1")) == 1, name  # the masthead
        assert page.named("h2"), name  # sections (system mails: their heading)
        for heading in page.named("h1", "h2", "h3"):
            assert re.search(r"(^|;)margin:", heading["style"]), (name, heading)
        assert "h1, h2, h3 { margin: 0; }" in html
    for layout in ("full", "digest"):
        html = documents[f"zh-CN:6:{layout}"]
        items = set(re.findall(r'<a name="(item-\d+)">', html))
        assert len(Elements(html).named("h3")) == len(items) > 10, layout


def test_every_layout_table_is_presentational(documents: dict[str, str]) -> None:
    for name, html in documents.items():
        tables = Elements(html).named("table")
        assert tables and all(t.get("role") == "presentation" for t in tables), name


def test_outlook_for_windows_gets_its_own_font_rule(documents: dict[str, str]) -> None:
    assert not FONT_STACK.startswith("-apple-system")
    for name, html in documents.items():
        assert re.search(
            r"<!--\[if mso\]><style>[^<]*font-family:'Microsoft YaHei', Arial, sans-serif "
            r"!important;[^<]*</style><!\[endif\]-->",
            html,
        ), name
        fonts = re.findall(r"font-family:([^;\"]+)", html.replace("&#39;", "'"))
        assert fonts and not any(f.strip().startswith("-apple-system") for f in fonts), name


def test_spacing_and_rules_sit_on_table_cells_not_on_divs(documents: dict[str, str]) -> None:
    """Outlook for Windows ignores padding and borders on div, p and h elements."""
    for name, html in documents.items():
        for tag, attrs in Elements(html).tags:
            style = attrs.get("style", "")
            if tag in ("td", "table", "a", "img"):
                continue
            assert not re.search(r"(^|;)\s*(padding|border)[a-z-]*:", style), (name, tag, style)


def test_dark_mode_is_declared_once_in_the_head(documents: dict[str, str]) -> None:
    for name, html in documents.items():
        head = html[: html.index("</head>")]
        assert '<meta name="color-scheme" content="light dark"' in head, name
        assert '<meta name="supported-color-schemes" content="light dark"' in head, name
        assert html.count("@media (prefers-color-scheme:dark)") == 1, name
        assert head.count("@media (prefers-color-scheme:dark)") == 1, name
        assert "[data-ogsc] .yb-s h2," in head and "[data-ogsb] .yb-s," in head, name
