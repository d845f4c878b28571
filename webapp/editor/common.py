"""What the editor console's views share: finding the edition, framed email documents, and
saying in the page's language why a service refused."""

from __future__ import annotations

from flask import Response, abort, flash
from flask_babel import gettext as _
from flask_login import current_user

from webapp import db
from webapp.delivery.sending import SendError
from webapp.editions.items import EditionLocked, ItemInvalid
from webapp.editions.records import get_edition
from webapp.editions.upload import EditionExists
from webapp.labels import status_labels
from webapp.models import Edition, EditionStatus, User
from webapp.security import email_document


def actor() -> User:
    user: User = current_user._get_current_object()
    return user


def edition_or_404(month: str) -> Edition:
    edition = get_edition(db.session(), month)
    if edition is None:
        abort(404)
    return edition


def framed_email(html: str) -> Response:
    """An email's HTML for a sandboxed same-origin iframe of the console (no images fetched)."""
    return email_document(html)


def status_label(status: EditionStatus) -> str:
    return str(status_labels()[status.value])


def explain(error: Exception, edition: Edition | None = None) -> str:
    """A refusal from a service, as the editor should read it."""
    if isinstance(error, EditionLocked):
        return str(_(
            "The %(month)s edition is %(status)s: its content can no longer be changed.",
            month=error.month,
            status=status_label(error.status),
        ))
    if isinstance(error, EditionExists):
        return str(_(
            "An edition for %(month)s already exists (%(status)s). Tick “Replace” to replace it.",
            month=error.month,
            status=status_label(error.status),
        ))
    if isinstance(error, ItemInvalid):
        return str(_("This item cannot be saved: %(reason)s", reason=error.reason))
    if isinstance(error, SendError) and edition is not None:
        items = [item for section in edition.sections for item in section.items]
        if edition.status == EditionStatus.DRAFT and not items:
            return str(_("The edition has no items yet."))
        if edition.status == EditionStatus.DRAFT and not any(i.topics for i in items):
            return str(_("No item has a topic, so no reader would get this edition."))
        return str(_(
            "This cannot be done while the edition is %(status)s.",
            status=status_label(edition.status),
        ))
    return str(error)


def note_back_to_draft(was_approved: bool, edition: Edition) -> None:
    """Tell the editor when a change sent an approved edition back to draft (DESIGN.md)."""
    if was_approved and edition.status == EditionStatus.DRAFT:
        flash(_("The edition is a draft again: approve it once more when it is ready."), "info")
