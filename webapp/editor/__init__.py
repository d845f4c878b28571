"""The editor console."""

from flask import Blueprint

bp = Blueprint("editor", __name__)

from webapp.editor import routes  # noqa: E402,F401
