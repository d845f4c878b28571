"""TOTP two-factor sign-in (RFC 6238, 30-second steps, as authenticator apps do it).

Anyone may enrol; once enrolled, signing in asks for a code. Admins cannot switch it off
themselves (another admin can reset it, e.g. for a lost phone), so enrolment hands out ten
recovery codes (webapp.accounts.recovery_codes), shown once and renewable with a code. A code
is accepted once: the time step it belongs to is remembered, so an overheard code cannot be
replayed, and a code typed again within its window is told apart from a wrong one. Switching
it on or off ends the user's sessions (webapp.accounts.sessions).
"""

from __future__ import annotations

import enum
import time

import pyotp
import segno
from sqlalchemy.orm import Session

from webapp.accounts.recovery_codes import forget_recovery_codes, replace_recovery_codes
from webapp.accounts.sessions import end_sessions
from webapp.audit import record_audit
from webapp.models import Role, User, utcnow

ISSUER = "yuebao"
WINDOW = 1  # one step either side: clocks drift, and typing takes time


class TwoFactorError(ValueError):
    """The code is wrong, used already, or the change is not allowed."""


class CodeReused(TwoFactorError):
    """The right code, but its time step signed in already: wait for the next one."""


class CodeCheck(enum.Enum):
    ACCEPTED = "accepted"
    REUSED = "reused"  # right for a step that was used already
    WRONG = "wrong"


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


def check_code(user: User, code: str, now: float | None = None) -> CodeCheck:
    """Check an authenticator code, remembering its step when accepted; the caller commits."""
    code = "".join(code.split())
    if user.totp_secret is None or not code.isdigit() or len(code) != 6:
        return CodeCheck.WRONG
    totp = pyotp.TOTP(user.totp_secret)
    moment = time.time() if now is None else now
    reused = False
    for offset in range(-WINDOW, WINDOW + 1):
        step = int(moment // totp.interval) + offset
        if not pyotp.utils.strings_equal(totp.at(step * totp.interval), code):
            continue
        if step <= (user.totp_last_step or -1):
            reused = True
            continue
        user.totp_last_step = step
        return CodeCheck.ACCEPTED
    return CodeCheck.REUSED if reused else CodeCheck.WRONG


def _accept(user: User, code: str, now: float | None = None) -> bool:
    return check_code(user, code, now) is CodeCheck.ACCEPTED


def confirm_enrolment(
    session: Session, user: User, code: str, now: float | None = None
) -> list[str]:
    """Switch two-factor sign-in on; the user's ten recovery codes, to be shown once."""
    if user.two_factor:
        raise TwoFactorError("two-factor sign-in is on already")
    if not _accept(user, code, now):
        raise TwoFactorError("the code is not correct")
    user.totp_enabled_at = utcnow()
    codes = replace_recovery_codes(session, user, user.totp_enabled_at)
    end_sessions(session, user)  # any signed in with the password alone
    record_audit(session, "user.two_factor_on", actor=user, target=user.email)
    return codes


def renew_recovery_codes(
    session: Session, user: User, code: str, now: float | None = None
) -> list[str]:
    """Ten new recovery codes in place of every earlier one, for an authenticator code (a
    session left open elsewhere is not enough to take them); shown once."""
    if not user.two_factor:
        raise TwoFactorError("two-factor sign-in is off")
    checked = check_code(user, code, now)
    if checked is CodeCheck.REUSED:
        raise CodeReused("the code was used already")
    if checked is not CodeCheck.ACCEPTED:
        raise TwoFactorError("the code is not correct")
    codes = replace_recovery_codes(session, user, utcnow())
    record_audit(session, "user.recovery_codes_renewed", actor=user, target=user.email)
    return codes


def check_sign_in_code(user: User, code: str, now: float | None = None) -> CodeCheck:
    """A sign-in code; the caller commits (the used step is stored)."""
    return check_code(user, code, now) if user.two_factor else CodeCheck.WRONG


def verify(user: User, code: str, now: float | None = None) -> bool:
    return check_sign_in_code(user, code, now) is CodeCheck.ACCEPTED


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
    forget_recovery_codes(session, user)
    end_sessions(session, user)
    record_audit(session, "user.two_factor_off", actor=user, target=user.email)
