"""The last line for text that comes in: no route ever sees a NUL or a control character in its
path or query, nor a NUL in a form value.

The forms say what is wrong with a field (webapp.fields.PlainText) and keep what was typed;
this guard is for what reaches a route some other way: a token in the path (`/v/abc%00`), a
query argument, or a form value no form checks. PostgreSQL refuses NUL in text, so one such
value used to end as psycopg's DataError and a 500. Form values may hold other control
characters up to here: their form refuses them with a message, rather than a bare 400 page
that loses what the person typed.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from webapp.errors import json_errors
from webapp.plain_text import UnsafeText, find_unsafe


def _first_unsafe(values: Iterable[str]) -> UnsafeText | None:
    """The first character of webapp.plain_text's one-line rule that a value breaks."""
    for value in values:
        problem = find_unsafe(value)
        if problem is not None:
            return problem
    return None


def _first_nul(values: Iterable[str]) -> UnsafeText | None:
    for value in values:
        index = value.find("\x00")
        if index >= 0:
            return UnsafeText(index=index, codepoint=0)
    return None


FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Views that read their raw body themselves: parsing it as a form here would consume it (a
# poster may label JSON as a form, as urllib does by default). /hooks/ses is answered before
# Flask (webapp.hooks.routes), so it never gets here.
RAW_BODY_ENDPOINTS: frozenset[str] = frozenset()
# Blueprints that read JSON only (and refuse anything else, in their own error shape): their
# body is never parsed as a form, whatever its label.
RAW_BODY_BLUEPRINTS = frozenset({"api"})


def refused_input() -> UnsafeText | None:
    """The first character of this request's path, query or form no route may receive."""
    path_values = [v for v in (request.view_args or {}).values() if isinstance(v, str)]
    problem = _first_unsafe(path_values) or _first_unsafe(
        [*request.args.keys(), *(v for _, v in request.args.items(multi=True))]
    )
    if (
        problem is None
        and request.mimetype in FORM_TYPES
        and request.endpoint not in RAW_BODY_ENDPOINTS
        and request.blueprint not in RAW_BODY_BLUEPRINTS
    ):
        form = request.form
        problem = _first_nul([*form.keys(), *(v for _, v in form.items(multi=True))])
    return problem


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_unsafe_input() -> ResponseReturnValue | None:
        problem = refused_input()
        if problem is None:
            return None
        render = json_errors()
        if render is not None:
            return render(BadRequest(f"the path or query holds U+{problem.codepoint:04X}"))
        detail = _(
            "The address or the form holds a character that cannot be used (U+%(code)s). "
            "Please remove it and try again.",
            code=f"{problem.codepoint:04X}",
        )
        return render_template("errors/error.html", code=400, detail=detail), 400
