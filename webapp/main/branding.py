"""The branding's files on our own domain: the logo emails show and the palette's stylesheet.

The logo's URL carries a hash of the file, so browsers and mail proxies may keep it for a year
and a new logo is a new URL. Readers in mainland China fetch nothing elsewhere.
"""

from __future__ import annotations

import hashlib
import logging
import re

from flask import abort, g, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from webapp import db
from webapp.branding import Brand, brand, brand_of, stylesheet
from webapp.branding.service import STYLESHEET_PATH
from webapp.config import current_settings
from webapp.extensions import limiter
from webapp.main import bp
from webapp.models import BRANDING_ID, Branding

log = logging.getLogger(__name__)

A_YEAR = "public, max-age=31536000, immutable"
LOGO_NAME = re.compile(r"[0-9a-f]{16}\.(png|jpg)")


def without_database() -> Brand:
    """The branding the environment and the built-in palette give."""
    return brand_of(None, current_settings())


def page_brand() -> Brand:
    """The branding for this request's page, read once; the built-in one when the database
    does not answer (an error page must still render)."""
    if "brand" not in g:
        try:
            g.brand = brand(db.session(), current_settings())
        except SQLAlchemyError:
            log.warning("branding unavailable: pages use the defaults")
            g.brand = without_database()
    current: Brand = g.brand
    return current


@bp.route("/brand/logo-<digest>.<ext>")
@limiter.exempt
def brand_logo(digest: str, ext: str) -> Response:
    """The logo under its hash, kept for a year. An email sent before the logo changed names
    the old hash: it gets today's logo, revalidated, rather than a broken image."""
    if not LOGO_NAME.fullmatch(f"{digest}.{ext}"):
        abort(404)
    row = db.session().get(Branding, BRANDING_ID)
    if row is None or not row.logo:
        abort(404)
    current = brand_of(row, current_settings()).logo_path == f"/brand/logo-{digest}.{ext}"
    response = Response(row.logo, mimetype=row.logo_type or "application/octet-stream")
    response.headers["Cache-Control"] = A_YEAR if current else "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route(STYLESHEET_PATH)
@limiter.exempt
def brand_stylesheet() -> Response:
    """One URL for every page (a page needs no query to link it), revalidated by its ETag: a
    new palette shows on the next page view, an unchanged one costs a 304."""
    css = stylesheet(page_brand().palette)
    response = Response(css, mimetype="text/css")
    response.set_etag(hashlib.sha256(css.encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)
