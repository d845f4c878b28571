"""The two-factor step of signing in, counted in the database.

The password step starts a pending sign-in and hands the browser a random key for it; the code
step spends one of its five tries, right or wrong, before the code is checked; a recovery code
in place of an authenticator code spends a try the same way. The count lives
in the row, not in the cookie, so a replayed cookie from the password step gets no more guesses,
and a pending sign-in ends after five wrong codes, after `CODE_STEP`, when it succeeds, or when
the user's sessions end (webapp.accounts.sessions). Then only a new password step helps.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from webapp.accounts import two_factor
from webapp.accounts.recovery_codes import (
    looks_like_recovery_code,
    recovery_codes_left,
    use_recovery_code,
)
from webapp.audit import record_audit
from webapp.models import PendingSignIn, User

CODE_STEP = timedelta(minutes=5)
MAX_TRIES = 5


class SignInRefused(Exception):
    """The code step did not sign the user in; the caller still commits (the try counts)."""


class SignInGone(SignInRefused):
    """No such pending sign-in: never started, expired, used, or ended with the sessions."""


class TooManyCodes(SignInRefused):
    """That was the last try: the pending sign-in is gone."""


class CodeNotCorrect(SignInRefused):
    def __init__(self, tries_left: int) -> None:
        super().__init__(f"the code is not correct ({tries_left} tries left)")
        self.tries_left = tries_left


class CodeAlreadyUsed(CodeNotCorrect):
    """The right authenticator code, but it signed in already: the next one will do."""


def _row_id(key: str) -> str:
    """The row holds a digest of the browser's key: reading the table lets nobody go on."""
    return hashlib.sha256(key.encode()).hexdigest()


def start_sign_in(session: Session, user: User, now: datetime) -> str:
    """A pending sign-in for `user`, whose password was right; the key for the browser.

    Expired ones (anyone's) are cleared here, so the table stays as small as the sign-ins in
    progress. The caller commits.
    """
    session.execute(
        delete(PendingSignIn).where(PendingSignIn.started_at <= now - CODE_STEP),
        execution_options={"synchronize_session": False},
    )
    key = secrets.token_urlsafe(32)
    session.add(PendingSignIn(id=_row_id(key), user_id=user.id, started_at=now, tries=0))
    return key


def pending_user(session: Session, key: str, now: datetime) -> User | None:
    """The user a pending sign-in waits for, if it may still take a code."""
    row = session.get(PendingSignIn, _row_id(key))
    if row is None or row.tries >= MAX_TRIES or row.started_at <= now - CODE_STEP:
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active and user.two_factor else None


def enter_code(session: Session, key: str, code: str, now: datetime) -> User:
    """Spend a try on `code`: the user, signed in, or SignInRefused. The caller commits either
    way.

    The try is taken by one UPDATE before the code is checked: its row lock (PostgreSQL) or
    SQLite's one writer makes parallel requests with the same cookie queue up, and each sees
    the tries the one before it spent, so no burst gets more than five guesses.
    """
    row_id = _row_id(key)
    spent = session.execute(
        update(PendingSignIn)
        .where(
            PendingSignIn.id == row_id,
            PendingSignIn.tries < MAX_TRIES,
            PendingSignIn.started_at > now - CODE_STEP,
        )
        .values(tries=PendingSignIn.tries + 1)
        .returning(PendingSignIn.user_id, PendingSignIn.tries),
        execution_options={"synchronize_session": False},
    ).one_or_none()
    if spent is None:
        raise SignInGone("no such sign-in waits for a code")
    user_id, tries = spent
    user = session.get(User, user_id)
    if user is None or not user.active or not user.two_factor:
        _forget(session, row_id)
        raise SignInGone("the user may no longer sign in with a code")
    if looks_like_recovery_code(code):
        checked = two_factor.CodeCheck.WRONG
        if use_recovery_code(session, user, code, now):
            checked = two_factor.CodeCheck.ACCEPTED
            left = recovery_codes_left(session, user)
            record_audit(session, "user.recovery_code_used", actor=user, target=user.email,
                         detail={"left": left})
    else:
        checked = two_factor.check_sign_in_code(user, code, now.timestamp())
    if checked is two_factor.CodeCheck.ACCEPTED:
        _forget(session, row_id)
        user.last_login_at = now
        return user
    if tries >= MAX_TRIES:
        _forget(session, row_id)
        raise TooManyCodes("too many wrong codes")
    if checked is two_factor.CodeCheck.REUSED:
        raise CodeAlreadyUsed(MAX_TRIES - tries)
    raise CodeNotCorrect(MAX_TRIES - tries)


def _forget(session: Session, row_id: str) -> None:
    session.execute(
        delete(PendingSignIn).where(PendingSignIn.id == row_id),
        execution_options={"synchronize_session": False},
    )
