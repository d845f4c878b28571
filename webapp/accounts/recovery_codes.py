"""Two-factor recovery codes: ten single-use codes, shown once, for when the phone is away.

Admins cannot switch two-factor sign-in off themselves, so without these a lost phone locks
them out until another admin resets it. Each code signs in once, in place of an authenticator
code, spending a try of the pending sign-in like any code (webapp.accounts.sign_in). Only a
digest is stored: a code is 80 random bits, like the keys of pending sign-ins, so a SHA-256
digest cannot be turned back into it and checking costs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from webapp.models import RecoveryCode, User

COUNT = 10
_SHAPE = re.compile(r"[a-z2-7]{16}")
# Typed from paper: dashes and spaces are only grouping, and 0/1 are the o/l they look like.
_TYPOS = str.maketrans({"0": "o", "1": "l", "-": None, " ": None})


def _normalized(code: str) -> str:
    return code.strip().lower().translate(_TYPOS)


def looks_like_recovery_code(code: str) -> bool:
    """Shaped like a recovery code (an authenticator code is six digits)."""
    return _SHAPE.fullmatch(_normalized(code)) is not None


def _digest(code: str) -> str:
    return hashlib.sha256(_normalized(code).encode()).hexdigest()


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def replace_recovery_codes(session: Session, user: User, now: datetime) -> list[str]:
    """Ten new codes for `user`, every earlier one void; the only time they are seen in
    the clear. The caller commits (and audits)."""
    session.execute(
        delete(RecoveryCode).where(RecoveryCode.user_id == user.id),
        execution_options={"synchronize_session": False},
    )
    codes = [_new_code() for _ in range(COUNT)]
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_digest(code), created_at=now) for code in codes
    )
    return codes


def forget_recovery_codes(session: Session, user: User) -> None:
    """With two-factor sign-in off, its recovery codes go too."""
    session.execute(
        delete(RecoveryCode).where(RecoveryCode.user_id == user.id),
        execution_options={"synchronize_session": False},
    )


def use_recovery_code(session: Session, user: User, code: str, now: datetime) -> bool:
    """Spend `code` if it is one of the user's unused codes. One UPDATE marks it used only if
    it still is: two sign-ins racing with the same code cannot both have it."""
    if not looks_like_recovery_code(code):
        return False
    spent = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .returning(RecoveryCode.id),
        execution_options={"synchronize_session": False},
    ).one_or_none()
    return spent is not None


def recovery_codes_left(session: Session, user: User) -> int:
    stmt = select(func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return session.scalar(stmt) or 0
