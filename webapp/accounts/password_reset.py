"""Password reset by an emailed, signed, expiring link.

The link holds the user's id and a digest of their current password hash: once the password
changes (through this link or otherwise) every earlier link stops working, so a link works
once. Requests answer the same whether or not the address has an account, and take as long:
the form only queues the request (`ask_for_reset`), and the worker looks the address up and
queues the mail, if any (`request_reset`).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from emails import Message, render_system_mail
from webapp.accounts.sessions import end_sessions
from webapp.accounts.users import MIN_PASSWORD_LENGTH, PasswordTooShort, hash_password
from webapp.audit import record_audit
from webapp.branding import mail_brand
from webapp.config import Settings
from webapp.mailer import queue_mail, queue_request
from webapp.models import User, utcnow
from webapp.models.base import looks_like_signed

SALT = "yuebao.password-reset"
MAX_AGE = timedelta(hours=1)
# Invitations have their own link and page now (webapp.accounts.invitations); one mailed as a
# reset link before that keeps working here for the three days it promised.
INVITE_MAX_AGE = timedelta(days=3)
RESET_REQUEST = "password_reset"  # the request the worker answers (webapp.delivery.form_requests)


class ResetLinkError(ValueError):
    """The link is tampered with, expired or used already; nothing changed."""


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def _hash_digest(secret_key: str, user: User) -> str:
    digest = hmac.new(secret_key.encode(), user.password_hash.encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def sign_reset(secret_key: str, user: User, *, invite: bool = False) -> str:
    payload = {"u": user.id, "h": _hash_digest(secret_key, user), "i": int(invite)}
    return _serializer(secret_key).dumps(payload)


def read_reset(session: Session, secret_key: str, signed: str) -> User:
    """The active user a link is for; ResetLinkError otherwise."""
    if not looks_like_signed(signed):
        raise ResetLinkError("the link is not valid")
    try:
        payload, signed_at = _serializer(secret_key).loads(
            signed, max_age=int(INVITE_MAX_AGE.total_seconds()), return_timestamp=True
        )
    except SignatureExpired:
        raise ResetLinkError("the link has expired") from None
    except BadSignature:
        raise ResetLinkError("the link is not valid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        raise ResetLinkError("the link is not valid")
    if utcnow() - signed_at > (INVITE_MAX_AGE if payload.get("i") else MAX_AGE):
        raise ResetLinkError("the link has expired")
    user = session.get(User, payload["u"])
    if user is None or not user.active:
        raise ResetLinkError("the link is not valid")
    if not hmac.compare_digest(str(payload.get("h")), _hash_digest(secret_key, user)):
        raise ResetLinkError("the link was used already or the password changed since")
    return user


def reset_mail(settings: Settings, user: User, language: str) -> Message:
    signed = sign_reset(settings.secret_key, user)
    url = f"{settings.base_url}/password-reset/{signed}"
    context = {"to": user.email, "action_url": url}
    branded = mail_brand(object_session(user), settings)
    return render_system_mail("password_reset", language, context, settings=branded)


def ask_for_reset(
    session: Session, address: str, language: str, *, now: datetime | None = None
) -> None:
    """The reset form: queue the request for the worker (`answer_reset`), the same one row
    whether or not the address has an account."""
    fields = {"email": address.strip().lower(), "language": language}
    queue_request(session, RESET_REQUEST, fields, now=now)


def answer_reset(session: Session, settings: Settings, fields: dict[str, Any]) -> None:
    request_reset(session, settings, str(fields["email"]), str(fields["language"]))


def request_reset(
    session: Session, settings: Settings, address: str, language: str
) -> list[Message]:
    """Queue the reset mail for an active user with this address (in the caller's
    transaction); nothing for anyone else."""
    user = session.scalar(select(User).where(User.email == address.strip().lower()))
    if user is None or not user.active:
        return []
    message = reset_mail(settings, user, language)
    queue_mail(session, message)
    return [message]


def set_password(session: Session, user: User, password: str) -> None:
    """Set a new password from a reset link or an invitation, ending every session of the
    user (whoever knew the old password is signed out); the caller commits."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort(MIN_PASSWORD_LENGTH)
    user.password_hash = hash_password(password)
    end_sessions(session, user)
    record_audit(session, "user.password_reset", actor=user, target=user.email)
