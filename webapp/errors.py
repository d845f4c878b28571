"""Friendly error pages: users never see a traceback."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

_PAGES = {400, 403, 404, 405, 413, 429, 500, 503}


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        page = code if code in _PAGES else 500
        return render_template("errors/error.html", code=page), code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[str, int]:
        if isinstance(error, HTTPException):
            return http_error(error)
        log.exception("unhandled error")
        return render_template("errors/error.html", code=500), InternalServerError.code
