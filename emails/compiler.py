"""MJML templates (Jinja2-filled, autoescaped) compiled to HTML with mjml-python."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import jinja2
from markupsafe import Markup, escape
from mjml import mjml2html

from emails.i18n import has_cjk
from emails.palette import DARK, LIGHT, Palette

# System fonts only: readers in mainland China cannot load Google Fonts or CDN-hosted fonts.
# Named CJK fonts first: Outlook for Windows gives up on a stack whose first name it does not
# know (-apple-system) and falls back to Times New Roman or SimSun; MSO_FONT_CSS says it again.
# It is inlined on every text block, so it is short: only fonts some reader's system has,
# and unquoted (valid CSS for names made of words), as quotes become &#39; in an attribute.
FONT_STACK: Final = (
    "PingFang SC,Hiragino Sans GB,Microsoft YaHei,Noto Sans CJK SC,"
    "-apple-system,Helvetica Neue,Arial,sans-serif"
)
MSO_FONT: Final = "'Microsoft YaHei', Arial, sans-serif"


def dark_mode_css(dark: Palette = DARK) -> str:
    """The dark-mode rules, once in the head (never inline per item, for the size budget).

    `prefers-color-scheme` reaches Apple Mail, iOS Mail and Outlook for Mac; Outlook.com marks
    the elements whose colours it rewrote with data-ogsc (text) and data-ogsb (background),
    so the same rules are repeated under those attributes. A few classes mark parts of the
    layout (yb-p paper, yb-s body, yb-t text cell, yb-m muted text, yb-l link, yb-n table of
    contents, yb-i a section's items, yb-c a commentary box, yb-b button); the rest of an item
    is reached through them by element, so items carry no class of their own.
    """
    colours = {
        ".yb-t>div": f"color:{dark.ink}!important;",
        ".yb-s h2,.yb-s h3 a": f"color:{dark.heading}!important;",
        ".yb-m,.yb-m>div,.yb-i h3+p,.yb-n p": f"color:{dark.muted}!important;",
        ".yb-l,.yb-n a": f"color:{dark.link}!important;",
        ".yb-s .yb-n h2,.yb-i h3 span,.yb-i td>p>a,.yb-i b,.yb-c p:first-child": (
            f"color:{dark.accent_text}!important;"
        ),
        ".yb-b a,.yb-b p": f"color:{dark.on_primary}!important;",
    }
    backgrounds = {
        ".yb-p": f"background:{dark.paper}!important;",
        ".yb-s,.yb-s>table": f"background:{dark.surface}!important;",
        ".yb-n": f"background:{dark.tint}!important;",
        ".yb-i>tbody>tr>td,.yb-i>tr>td": f"border-color:{dark.line}!important;",
        ".yb-c": (
            f"background:{dark.commentary}!important;border-color:{dark.accent}!important;"
        ),
        ".yb-b td,.yb-b a,.yb-b p": f"background:{dark.primary}!important;",
    }

    def grouped(rules: dict[str, str], prefix: str = "") -> str:
        # One rule per declaration: the dark palette repeats colours (links and gold text).
        by_declaration: dict[str, list[str]] = {}
        for selectors, declaration in rules.items():
            by_declaration.setdefault(declaration, []).extend(
                f"{prefix}{s}" for s in selectors.split(",")
            )
        return "".join(f"{','.join(s)}{{{d}}}" for d, s in by_declaration.items())

    media = "body{background:" + dark.paper + "!important;}" + grouped({**colours, **backgrounds})
    outlook = grouped(colours, "[data-ogsc] ") + grouped(backgrounds, "[data-ogsb] ")
    return f"@media (prefers-color-scheme:dark){{{media}}}{outlook}"


DARK_MODE_CSS: Final = dark_mode_css()


class RenderError(Exception):
    """A template could not be rendered or compiled."""

    def __init__(self, template: str, reason: str) -> None:
        super().__init__(f"cannot render email template {template!r}: {reason}")
        self.template = template
        self.reason = reason


def paragraphs(text: str) -> list[Markup]:
    """Split on blank lines; a single newline inside a paragraph becomes <br>."""
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    return [Markup("<br>").join(escape(b).split("\n")) for b in blocks if b]


@jinja2.pass_context
def lang_attr(context: jinja2.runtime.Context, text: str) -> Markup:
    """` lang="zh-CN"` for Chinese text (a name, an address) in an English email, else nothing,
    so screen readers switch voice."""
    if context.get("lang") == "en" and has_cjk(text):
        return Markup(' lang="zh-CN"')
    return Markup("")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("emails", "templates"),
        autoescape=True,  # everything editors and readers typed is escaped, always
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["paragraphs"] = paragraphs
    env.filters["lang_attr"] = lang_attr
    env.globals["font_stack"] = FONT_STACK
    env.globals["mso_font"] = Markup(MSO_FONT)  # nosec B704: a constant, inside <style>
    env.globals["c"] = LIGHT
    # Our own CSS from the palette's #rrggbb colours, no reader or editor text: its ">" must stay.
    env.globals["dark_css"] = Markup(DARK_MODE_CSS)  # nosec B704: built from constants
    return env


ENVIRONMENT: Final = _environment()


def render_mjml_source(
    template: str, context: Mapping[str, Any], *, env: jinja2.Environment = ENVIRONMENT
) -> str:
    """Fill a template's variables; the result is MJML source."""
    try:
        return env.get_template(template).render(context)
    except Exception as exc:  # a template bug or bad context, whatever Jinja raises
        raise RenderError(template, f"{type(exc).__name__}: {exc}") from exc


def compile_mjml(template: str, source: str) -> str:
    """Compile MJML to HTML; any mjml-python failure (even a Rust panic) becomes RenderError."""
    try:
        return mjml2html(source, disable_comments=True, fonts={})
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3 panics derive from BaseException, not Exception
        raise RenderError(template, f"{type(exc).__name__}: {exc}") from exc


def render_html(
    template: str, context: Mapping[str, Any], *, env: jinja2.Environment = ENVIRONMENT
) -> str:
    """Template → MJML → HTML."""
    return compile_mjml(template, render_mjml_source(template, context, env=env))
