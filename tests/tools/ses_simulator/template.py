"""SES template rendering for inline TemplateContent: Handlebars substitution only.

AWS documents that inline content gets "only simple substitutions", so block helpers, partials
and the like are left in the output untouched, where a test will see them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# {{{name}}} before {{name}}: the triple form must not be read as a double one plus a brace.
_TAG = re.compile(r"\{\{\{\s*([^{}]*?)\s*\}\}\}|\{\{(?!\{)\s*([^{}]*?)\s*\}\}")
_SIGILS = ("#", "/", "^", ">", "else")

# Handlebars' escapeExpression table.
_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#x27;",
    "`": "&#x60;",
    "=": "&#x3D;",
}


class TemplateDataError(ValueError):
    """TemplateData that is not a JSON object."""


def parse_data(text: str | None) -> dict[str, Any]:
    """A TemplateData string as a dict; absent data is an empty object."""
    if text is None or text == "":
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise TemplateDataError(f"Template data is not valid JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise TemplateDataError("Template data must be a JSON object")
    return data


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in text)


def render(template: str, data: dict[str, Any], *, escape_html: bool) -> str:
    """Substitute `{{path}}` and `{{{path}}}`; a missing value renders as nothing."""

    def substitute(match: re.Match[str]) -> str:
        raw, name = match.group(1), match.group(2)
        expression = raw if raw is not None else name
        if expression.startswith("!"):
            return ""  # a Handlebars comment
        verbatim = raw is not None
        if expression.startswith("&"):  # {{& name}} is Handlebars' other unescaped form
            expression, verbatim = expression[1:].strip(), True
        if expression.startswith(_SIGILS) or " " in expression:
            return match.group(0)
        text = _stringify(_lookup(data, expression))
        return escape(text) if escape_html and not verbatim else text

    return _TAG.sub(substitute, template)


def _lookup(data: dict[str, Any], expression: str) -> object:
    value: object = data
    path = expression.removeprefix("this.")
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _stringify(value: object) -> str:
    """What JavaScript's String(value) gives, which is what Handlebars prints."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if item is None else _stringify(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)
