"""The readers' side: subscribe, confirm, preferences, unsubscribe, own data."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from webapp.public import embed, preferences, routes, unsubscribe  # noqa: E402,F401  (attach to bp)
