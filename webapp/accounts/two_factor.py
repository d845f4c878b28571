"""TOTP two-factor sign-in (RFC 6238, 30-second steps, as authenticator apps do it).

Anyone may enrol; once enrolled, signing in asks for a code. Admins cannot switch it off
themselves (another admin can reset it, e.g. for a lost phone). A code is accepted once:
the time step it belongs to is remembered, so an overheard code cannot be replayed. Switching
it on or off ends the user's sessions (webapp.accounts.sessions).
"""

from __future__ import annotations

import time

import pyotp
import segno
from sqlalchemy.orm import Session

from webapp.accounts.sessions import end_sessions
from webapp.audit import record_audit
from webapp.models import Role, User, utcnow

ISSUER = "yuebao"
WINDOW = 1  # one step either side: clocks drift, and typing takes time


class TwoFactorError(ValueError):
    """The code is wrong, used already, or the change is not allowed."""


def begin_enrolment(user: User) -> str:
    """A fresh secret, kept until a code proves the app has it; the caller commits."""
    if user.two_factor:
        raise TwoFactorError("two-factor sign-in is on already")
    user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    if user.totp_secret is None:
        raise TwoFactorError("no enrolment in progress")
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG QR code (made here: no outside service sees it)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, dark="#1f2933", light="#ffffff")
    return svg


def _accept(user: User, code: str, now: float | None = None) -> bool:
    code = "".join(code.split())
    if user.totp_secret is None or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(user.totp_secret)
    moment = time.time() if now is None else now
    for offset in range(-WINDOW, WINDOW + 1):
        step = int(moment // totp.interval) + offset
        if step <= (user.totp_last_step or -1):
            continue
        if pyotp.utils.strings_equal(totp.at(step * totp.interval), code):
            user.totp_last_step = step
            return True
    return False


def confirm_enrolment(session: Session, user: User, code: str, now: float | None = None) -> None:
    if user.two_factor:
        raise TwoFactorError("two-factor sign-in is on already")
    if not _accept(user, code, now):
        raise TwoFactorError("the code is not correct")
    user.totp_enabled_at = utcnow()
    end_sessions(session, user)  # any signed in with the password alone
    record_audit(session, "user.two_factor_on", actor=user, target=user.email)


def verify(user: User, code: str, now: float | None = None) -> bool:
    """A sign-in code; the caller commits (the used step is stored)."""
    return user.two_factor and _accept(user, code, now)


def switch_off(session: Session, user: User, code: str, now: float | None = None) -> None:
    if not user.two_factor:
        return
    if user.role == Role.ADMIN:
        raise TwoFactorError("admins keep two-factor sign-in once it is on")
    if not _accept(user, code, now):
        raise TwoFactorError("the code is not correct")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    end_sessions(session, user)
    record_audit(session, "user.two_factor_off", actor=user, target=user.email)
