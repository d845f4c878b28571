"""The editor console: from the month's report to a finished send, in the browser."""

from flask import Blueprint

bp = Blueprint("editor", __name__)

from webapp.editor import editions, items, outbox_viewer, previews, sending  # noqa: E402,F401
