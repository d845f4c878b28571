"""What the readers' pages share: the request's origin, the reader's language, and finding
the reader by token."""

from __future__ import annotations

import hashlib

from flask import flash, g, render_template, request
from flask_babel import gettext as _
from flask_babel import refresh
from flask_limiter.util import get_remote_address

from webapp import db
from webapp.extensions import limiter
from webapp.models import ConsentSource, Subscriber, email_key
from webapp.public import bp
from webapp.readers.consent import Origin
from webapp.readers.links import find_by_preferences_token
from webapp.readers.subscriptions import AddressUnavailable, resubscribe


def origin(source: ConsentSource = ConsentSource.FORM) -> Origin:
    """Where this request comes from, for the consent ledger."""
    return Origin(source, ip=request.remote_addr, user_agent=request.user_agent.string or None)


def _address_key() -> str:
    """Rate-limit key for "mail this address": a digest, so the limiter stores no address."""
    key = email_key(request.form.get("email", ""))
    if not key:
        return get_remote_address()
    return "address:" + hashlib.sha256(key.encode()).hexdigest()[:32]


# Mail to one address, whichever form asks for it, is limited together.
per_address = limiter.shared_limit(
    "5 per hour; 20 per day", scope="reader-mail", key_func=_address_key, methods=["POST"]
)


def use_reader_language(subscriber: Subscriber) -> None:
    """Token pages speak the reader's language unless they picked one on the site."""
    g.reader_language = subscriber.language
    refresh()


class InvalidToken(Exception):
    """No reader has this preferences token (mistyped, rotated, or from a test send)."""


def reader_by_token(token: str) -> Subscriber:
    """The reader of a /p/ page, whose language the page then speaks; else a 404 page."""
    subscriber = find_by_preferences_token(db.session(), token)
    if subscriber is None:
        raise InvalidToken()
    use_reader_language(subscriber)
    return subscriber


@bp.errorhandler(InvalidToken)
def invalid_token(_error: InvalidToken) -> tuple[str, int]:
    return render_template("public/invalid_token.html"), 404


def resubscribe_with_message(subscriber: Subscriber) -> None:
    """Undo an unsubscribe from the reader's own page, and say how it went."""
    session = db.session()
    try:
        done = resubscribe(session, subscriber, origin())
    except AddressUnavailable:
        flash(_("This address cannot be subscribed again here. Please contact us."), "error")
        return
    if done:
        session.commit()
        flash(_("Welcome back: your subscription is active again."), "ok")
