"""The outbox viewer: what the outbox transport wrote, newest first, each message openable.

Links that carry a token (a reader's preferences and unsubscribe pages, a delivery's links,
confirmation and password-reset links) are shown masked to everyone: with them an editor could
change or erase readers, or take over an account. The file as written is for admins only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp.config import current_settings
from webapp.db import session
from webapp.editions.outbox import (
    OutboxNotFound,
    masked,
    raw_message,
    read_message,
)
from webapp.editions.outbox_search import (
    BadCursor,
    OutboxQuery,
    OutboxResults,
    UnknownEditionFilter,
    edition_months,
    search_outbox,
)
from webapp.editor import bp
from webapp.editor.common import framed_email
from webapp.editor.forms import OutboxFilterForm
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


def _utc_start(day: date | None) -> datetime | None:
    """Midnight starting `day` in the configured zone, in UTC (dates are the zone's days)."""
    if day is None:
        return None
    zone = ZoneInfo(current_settings().timezone)
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


@bp.route("/outbox")
@role_required(Role.EDITOR)
def outbox() -> str:
    """The outbox, newest first, searched by GET (the filters and the cursor in the URL)."""
    directory = _outbox_dir()
    form = OutboxFilterForm(request.args)
    form.edition.choices = [("", _("All editions"))] + [
        (month, month) for month in edition_months(session())
    ]
    results = OutboxResults(entries=[], newer_than=None, older_than=None)
    cursor_problem = None
    if form.validate():
        since, until = form.days
        query = OutboxQuery(
            recipient=(form.recipient.data or "").strip(),
            subject=(form.subject.data or "").strip(),
            month=form.edition.data or None,
            since=_utc_start(since),
            # The end date is inclusive: up to the start of the next day.
            until=_utc_start(until + timedelta(days=1)) if until else None,
        )
        try:
            results = search_outbox(session(), directory, query,
                                    before=request.args.get("before") or None,
                                    after=request.args.get("after") or None)
        except BadCursor:
            cursor_problem = _("This page link is not valid. The list starts again from the "
                               "newest message.")
            results = search_outbox(session(), directory, query)
        except UnknownEditionFilter:
            form.edition.errors = [_("There is no edition for that month.")]
    filters = {key: request.args[key] for key in ("recipient", "subject", "edition", "date_from",
                                                   "date_to", "lang") if request.args.get(key)}
    return render_template("editor/outbox.html", form=form, results=results, filters=filters,
                           searched=any(k != "lang" for k in filters),
                           paged=bool(request.args.get("before") or request.args.get("after")),
                           cursor_problem=cursor_problem, directory=directory, back=_back_args(),
                           zone=current_settings().timezone)


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
                           back=_back_args(),
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


def _back_args() -> dict[str, str]:
    """The listing a message was opened from: its filters and cursor, passed on as they came."""
    keys = ("recipient", "subject", "edition", "date_from", "date_to", "before", "after")
    return {key: request.args[key] for key in keys if request.args.get(key)}
