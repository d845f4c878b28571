"""Console invitations: an emailed, signed, expiring link with which a new user chooses their
password.

Apart from password reset (webapp.accounts.password_reset): its own mail, saying who invited
whom to do what, its own pages, and a link that lasts days rather than an hour. The link holds
the user, the admin who invited them and a digest of the user's password hash, so it works
once: choosing the password (here or through a reset) changes the hash. An expired or used link
is told apart from a broken one, so the page can say what to do.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session, object_session

from emails import Message, render_system_mail
from webapp.accounts.password_reset import set_password
from webapp.branding import mail_brand
from webapp.config import Settings
from webapp.mailer import queue_mail
from webapp.models import User
from webapp.models.base import looks_like_signed

SALT = "yuebao.invitation"
MAX_AGE = timedelta(days=3)


class InvitationLinkError(ValueError):
    """The link cannot be used; nothing changed. `inviter` is who sent it, when known."""

    def __init__(self, reason: str, inviter: str | None = None) -> None:
        super().__init__(reason)
        self.inviter = inviter


class InvitationBroken(InvitationLinkError):
    """Tampered with, cut short, or for a user who is gone or deactivated."""


class InvitationExpired(InvitationLinkError):
    """Older than MAX_AGE: an admin sends a new one."""


class InvitationUsed(InvitationLinkError):
    """The password was chosen already, with this link or since."""


@dataclass(frozen=True)
class Invitation:
    user: User
    inviter: str | None  # the inviting admin's address, if they are still a user


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def _hash_digest(secret_key: str, user: User) -> str:
    digest = hmac.new(secret_key.encode(), user.password_hash.encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def sign_invitation(secret_key: str, user: User, inviter: User) -> str:
    payload = {"u": user.id, "b": inviter.id, "h": _hash_digest(secret_key, user)}
    return _serializer(secret_key).dumps(payload)


def _inviter(session: Session, payload: object) -> str | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("b"), int):
        return None
    inviter = session.get(User, payload["b"])
    return inviter.email if inviter is not None else None


def read_invitation(session: Session, secret_key: str, signed: str) -> Invitation:
    """The invitation a link holds; InvitationBroken, InvitationExpired or InvitationUsed."""
    if not looks_like_signed(signed):
        raise InvitationBroken("the link is not valid")
    serializer = _serializer(secret_key)
    try:
        payload = serializer.loads(signed, max_age=int(MAX_AGE.total_seconds()))
    except SignatureExpired as error:
        # The signature was checked before the age: the payload is ours, and names the inviter.
        expired = serializer.load_payload(error.payload) if error.payload else None
        raise InvitationExpired("the link has expired", _inviter(session, expired)) from None
    except BadSignature:
        raise InvitationBroken("the link is not valid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        raise InvitationBroken("the link is not valid")
    inviter = _inviter(session, payload)
    user = session.get(User, payload["u"])
    if user is None or not user.active:
        raise InvitationBroken("the user may not sign in", inviter)
    if not hmac.compare_digest(str(payload.get("h")), _hash_digest(secret_key, user)):
        raise InvitationUsed("the password was chosen already", inviter)
    return Invitation(user=user, inviter=inviter)


def invitation_mail(settings: Settings, user: User, inviter: User, language: str) -> Message:
    signed = sign_invitation(settings.secret_key, user, inviter)
    context = {
        "to": user.email,
        "action_url": f"{settings.base_url}/invitation/{signed}",
        "inviter": inviter.email,
        "role": user.role.value,
        "lifetime_days": str(MAX_AGE.days),
    }
    branded = mail_brand(object_session(user), settings)
    return render_system_mail("invitation", language, context, settings=branded)


def queue_invitation(
    session: Session, settings: Settings, user: User, language: str, *, inviter: User
) -> Message:
    """Queue the invitation of a console user, in the transaction that adds them."""
    session.flush()  # the link names the user by id
    message = invitation_mail(settings, user, inviter, language)
    queue_mail(session, message)
    return message


def accept_invitation(session: Session, invitation: Invitation, password: str) -> None:
    """The invited user's first password (PasswordTooShort); audited as a password set
    through a link, as before. The caller commits."""
    set_password(session, invitation.user, password)
