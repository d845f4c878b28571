"""The branding's files on our own domain: the logo emails show and the palette's stylesheet.

Both URLs carry a hash of what they serve, so browsers and mail proxies may keep them for a
year; a new logo or palette is a new URL. Readers in mainland China fetch nothing elsewhere.
"""

from __future__ import annotations

import logging

from flask import abort, g
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from webapp import db
from webapp.branding import Brand, brand, brand_of, stylesheet
from webapp.config import current_settings
from webapp.extensions import limiter
from webapp.main import bp
from webapp.models import BRANDING_ID, Branding

log = logging.getLogger(__name__)

A_YEAR = "public, max-age=31536000, immutable"


def page_brand() -> Brand:
    """The branding for this request's page, read once; the built-in one when the database
    does not answer (an error page must still render)."""
    if "brand" not in g:
        try:
            g.brand = brand(db.session(), current_settings())
        except SQLAlchemyError:
            log.warning("branding unavailable: pages use the defaults")
            g.brand = brand_of(None, current_settings())
    current: Brand = g.brand
    return current


@bp.route("/brand/logo-<digest>.<ext>")
@limiter.exempt
def brand_logo(digest: str, ext: str) -> Response:
    row = db.session().get(Branding, BRANDING_ID)
    wanted = f"/brand/logo-{digest}.{ext}"
    if row is None or not row.logo or brand_of(row, current_settings()).logo_path != wanted:
        abort(404)
    response = Response(row.logo, mimetype=row.logo_type or "application/octet-stream")
    response.headers["Cache-Control"] = A_YEAR
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/brand/<version>.css")
@limiter.exempt
def brand_stylesheet(version: str) -> Response:
    current = page_brand()
    response = Response(stylesheet(current.palette), mimetype="text/css")
    # An old version's URL gets today's palette, but must not be kept as if it were its own.
    fresh = current.stylesheet_path == f"/brand/{version}.css"
    response.headers["Cache-Control"] = A_YEAR if fresh else "no-cache"
    return response
