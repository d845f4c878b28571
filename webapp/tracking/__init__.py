"""A delivery's own links: the email as a web page, the open pixel, click redirects."""

from flask import Blueprint

bp = Blueprint("tracking", __name__)

from webapp.tracking import routes  # noqa: E402,F401
