from __future__ import annotations

import logging

from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

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
