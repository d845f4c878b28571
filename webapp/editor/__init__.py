"""The editor console: from the month's report to a finished send, in the browser."""

from flask import Blueprint

bp = Blueprint("editor", __name__)

from webapp.editor import (  # noqa: E402,F401
    editions,
    items,
    outbox_viewer,
    previews,
    sending,
    translation,
)
