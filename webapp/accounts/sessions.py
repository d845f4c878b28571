"""Console sessions that end: a session version per user, part of every session cookie.

The cookie holds `<user id>:<session version>` (`User.get_id`; Flask-Login's remember cookie
would hold the same), and the user loader refuses a cookie whose version is not the user's
current one. Raising the version therefore ends every session the user has, wherever the
cookie was copied to, with no session table to keep: the loader reads the user's row on every
request anyway. The price is that sessions end together: signing out in one browser signs the
user out in all of them.

It is raised on sign-out, a password reset, a role change, (de)activation, switching two-factor
sign-in on or off or an admin resetting it, and by "sign out everywhere". Where the user
switched two-factor sign-in themselves the view signs the current browser in again with the
new version.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.models import PendingSignIn, User


def end_sessions(session: Session, user: User) -> None:
    """End every session of `user`, and every sign-in of theirs waiting for its code; the
    caller commits."""
    # In SQL, not in Python: two changes at once each raise it, neither undoes the other.
    # Flushed at once: the attribute then reads the new number back, never the expression.
    user.session_version = User.session_version + 1
    session.flush()
    session.execute(
        delete(PendingSignIn).where(PendingSignIn.user_id == user.id),
        execution_options={"synchronize_session": False},
    )


def sign_out_everywhere(session: Session, user: User) -> None:
    """What the account page's button does: `end_sessions`, audited; the caller commits."""
    end_sessions(session, user)
    record_audit(session, "user.sign_out_everywhere", actor=user, target=user.email)
