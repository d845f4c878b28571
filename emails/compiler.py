"""MJML templates (Jinja2-filled, autoescaped) compiled to HTML with mjml-python."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import jinja2
from markupsafe import Markup, escape
from mjml import mjml2html

# System fonts only: readers in mainland China cannot load Google Fonts or CDN-hosted fonts.
FONT_STACK: Final = (
    "-apple-system, BlinkMacSystemFont, 'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', "
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'Helvetica Neue', Arial, sans-serif"
)


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
    env.globals["font_stack"] = FONT_STACK
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
