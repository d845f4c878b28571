"""SES template rendering for inline TemplateContent: Handlebars substitution only.

AWS documents that inline content gets "only simple substitutions", so block helpers, partials
and the like are left in the output untouched, where a test will see them.

A template is parsed once into literal text and slots (`compiled`, cached by its text), so a
SendBulkEmail call's fifty entries share one parse and each render is a join.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
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
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


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
    return text.translate(_ESCAPE_TABLE)


@dataclass(frozen=True)
class _Slot:
    """`{{a.b}}` (escaped when the simulator escapes) or `{{{a.b}}}` / `{{& a.b}}` (verbatim)."""

    path: tuple[str, ...]
    verbatim: bool


@dataclass(frozen=True)
class Compiled:
    """A template as literal text and slots, in order."""

    parts: tuple[str | _Slot, ...]

    def render(self, data: dict[str, Any], *, escape_html: bool) -> str:
        """Substitute every slot; a missing value renders as nothing."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            text = _stringify(_lookup(data, part.path))
            out.append(escape(text) if escape_html and not part.verbatim else text)
        return "".join(out)


@functools.lru_cache(maxsize=64)
def compiled(template: str) -> Compiled:
    """Parse once: a bulk call's entries, and calls of one variant, share the result."""
    parts: list[str | _Slot] = []
    literal: list[str] = []
    position = 0
    for match in _TAG.finditer(template):
        literal.append(template[position : match.start()])
        position = match.end()
        slot = _slot(match)
        if isinstance(slot, str):
            literal.append(slot)
            continue
        parts.append("".join(literal))
        literal = []
        parts.append(slot)
    literal.append(template[position:])
    parts.append("".join(literal))
    return Compiled(tuple(part for part in parts if part != ""))


def _slot(match: re.Match[str]) -> _Slot | str:
    """The slot a tag stands for, or the text it renders as whatever the data."""
    raw, name = match.group(1), match.group(2)
    expression = raw if raw is not None else name
    if expression.startswith("!"):
        return ""  # a Handlebars comment
    verbatim = raw is not None
    if expression.startswith("&"):  # {{& name}} is Handlebars' other unescaped form
        expression, verbatim = expression[1:].strip(), True
    if expression.startswith(_SIGILS) or " " in expression:
        return match.group(0)
    return _Slot(tuple(expression.removeprefix("this.").split(".")), verbatim)


def render(template: str, data: dict[str, Any], *, escape_html: bool) -> str:
    """Substitute `{{path}}` and `{{{path}}}`; a missing value renders as nothing."""
    return compiled(template).render(data, escape_html=escape_html)


def _lookup(data: dict[str, Any], path: tuple[str, ...]) -> object:
    value: object = data
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _stringify(value: object) -> str:
    """What JavaScript's String(value) gives, which is what Handlebars prints."""
    if isinstance(value, str):
        return value
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
