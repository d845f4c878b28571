from __future__ import annotations

import logging

from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from emails.palette import LIGHT, css_variables
from webapp import db
from webapp.extensions import limiter
from webapp.main import bp

log = logging.getLogger(__name__)


@bp.route("/healthz")
@limiter.exempt
def healthz() -> tuple[Response, int]:
    try:
        db.session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.exception("health check: database did not answer")
        return jsonify(status="unavailable", database="down"), 503
    return jsonify(status="ok", database="up"), 200


@bp.route("/palette.css")
@limiter.exempt
def palette_css() -> Response:
    """The emails' palette as CSS variables: the public pages and the emails share one look."""
    response = Response(f":root {{ {css_variables(LIGHT)} }}\n", mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
