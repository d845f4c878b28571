"""The outbox viewer: what the outbox transport wrote, newest first, each message openable.

Links that carry a token (a reader's preferences and unsubscribe pages, a delivery's links,
confirmation and password-reset links) are shown masked to everyone: with them an editor could
change or erase readers, or take over an account. The file as written is for admins only.
"""

from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp.config import current_settings
from webapp.editions.outbox import (
    OutboxNotFound,
    list_messages,
    masked,
    raw_message,
    read_message,
)
from webapp.editor import bp
from webapp.editor.common import framed_email
from webapp.models import Role
from webapp.security import role_required

# Headers worth reading first; the rest follow in the order of the file.
KEY_HEADERS = ("From", "To", "Subject", "Date", "List-Unsubscribe", "List-Unsubscribe-Post",
               "List-Id", "Feedback-ID", "Message-ID")


def _outbox_dir() -> str:
    if current_settings().mail_transport != "outbox":
        abort(404)
    directory: str = current_settings().outbox_dir
    return directory


@bp.route("/outbox")
@role_required(Role.EDITOR)
def outbox() -> str:
    directory = _outbox_dir()
    page = request.args.get("page", "1")
    listing = list_messages(directory, int(page) if page.isdigit() else 1)
    return render_template("editor/outbox.html", listing=listing, directory=directory)


@bp.route("/outbox/<name>")
@role_required(Role.EDITOR)
def outbox_message(name: str) -> str:
    try:
        message = masked(read_message(_outbox_dir(), name))
    except OutboxNotFound:
        abort(404)
    order = {key.lower(): i for i, key in enumerate(KEY_HEADERS)}
    headers = sorted(message.headers, key=lambda kv: order.get(kv[0].lower(), len(order)))
    return render_template("editor/outbox_message.html", message=message, headers=headers,
                           back_page=request.args.get("page", "1"),
                           raw_allowed=current_user.has_role(Role.ADMIN))


@bp.route("/outbox/<name>/html")
@role_required(Role.EDITOR)
def outbox_html(name: str) -> Response:
    try:
        message = masked(read_message(_outbox_dir(), name))
    except OutboxNotFound:
        abort(404)
    if message.html is None:
        abort(404)
    return framed_email(message.html)


@bp.route("/outbox/<name>/raw")
@role_required(Role.ADMIN)
def outbox_raw(name: str) -> Response:
    """The .eml file as written, tokens and all: admins only, as a download (never rendered)."""
    try:
        raw = raw_message(_outbox_dir(), name)
    except OutboxNotFound:
        abort(404)
    response = Response(raw, mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
