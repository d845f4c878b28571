"""Operational endpoints: the health check."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from webapp.main import branding, routes  # noqa: E402,F401
