"""Friendly error pages: users never see a traceback.

Paths that answer in JSON (the REST API) register how their errors look (`answer_in_json`);
every error under such a path, a 404 for a URL no route knows included, answers in that shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

_PAGES = {400, 403, 404, 405, 413, 429, 500, 503}
_JSON_ERRORS = "yuebao.json_errors"

# Renders an HTTP error (or, with None, an unexpected exception) as a JSON answer.
JsonErrors = Callable[[HTTPException | None], ResponseReturnValue]


def answer_in_json(app: Flask, prefix: str, render: JsonErrors) -> None:
    """Let every error under `prefix` (e.g. "/api/v1/") be answered by `render`."""
    app.extensions.setdefault(_JSON_ERRORS, {})[prefix] = render


def json_errors() -> JsonErrors | None:
    """How this request's errors are answered, when its path answers in JSON."""
    registered: dict[str, JsonErrors] = current_app.extensions.get(_JSON_ERRORS, {})
    for prefix, render in registered.items():
        if request.path.startswith(prefix) or request.path == prefix.rstrip("/"):
            return render
    return None


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        render = json_errors()
        if render is not None:
            return render(error)
        code = error.code or 500
        page = code if code in _PAGES else 500
        return render_template("errors/error.html", code=page), code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> ResponseReturnValue:
        if isinstance(error, HTTPException):
            return http_error(error)
        log.exception("unhandled error")
        render = json_errors()
        if render is not None:
            return render(None)
        return render_template("errors/error.html", code=500), InternalServerError.code
