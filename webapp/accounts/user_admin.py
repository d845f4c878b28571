"""Console users as an admin manages them: invite, change roles, deactivate, reset 2FA.

Each change but an invitation ends the user's sessions (webapp.accounts.sessions).

The console never locks itself out: the last active admin cannot be demoted or deactivated,
and nobody deactivates or demotes themselves.
"""

from __future__ import annotations

from sqlalchemy import false, select, update
from sqlalchemy.orm import Session

from webapp.accounts.recovery_codes import forget_recovery_codes
from webapp.accounts.sessions import end_sessions
from webapp.accounts.users import UserError, create_user, generate_password
from webapp.audit import record_audit
from webapp.models import Role, User


class OwnAccount(UserError):
    """Admins do not change their own role or state (a slip would lock them out)."""


class LastAdmin(UserError):
    """The change would leave the console without an active admin."""


class InvitationNotNeeded(UserError):
    """Only an active user who has never signed in is invited again."""


def _active_admins(session: Session) -> int:
    """How many active admins there are, their rows locked until the caller's commit.

    Without the lock two admins demoting or deactivating each other at the same moment would
    each count two and both go ahead, leaving none (PostgreSQL; SQLite has one writer anyway).
    With it the second waits, then counts what the first committed. SQLite ignores FOR UPDATE
    and runs reads outside any transaction until the first write, so there an empty UPDATE
    first takes the one write lock: the count that follows is what the change is written
    against, and no other writer can come between.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(User).where(false()).values(active=User.active),
            execution_options={"synchronize_session": False},
        )
    stmt = (
        select(User.id)
        .where(User.role == Role.ADMIN, User.active.is_(True))
        .with_for_update()
    )
    return len(session.scalars(stmt).all())


def _guard(user: User, actor: User, what: str) -> None:
    if user.id == actor.id:
        raise OwnAccount(f"you cannot {what} your own account")


def invite_user(session: Session, email: str, role: Role, *, actor: User) -> User:
    """A user without a known password; they choose one through the invitation the caller
    mails them (webapp.accounts.invitations). The caller commits."""
    user = create_user(session, email, role, generate_password() * 2, actor=actor)
    record_audit(session, "user.invite", actor=actor, target=user.email)
    return user


def invite_again(session: Session, user: User, *, actor: User) -> None:
    """A new invitation for a user whose first one expired or went astray; the caller mails
    it. Earlier links keep working until they expire or a password is chosen."""
    if not user.active or user.last_login_at is not None:
        raise InvitationNotNeeded(f"{user.email} is deactivated or has signed in already")
    record_audit(session, "user.invite", actor=actor, target=user.email, detail={"again": True})


def change_role(session: Session, user: User, role: Role, *, actor: User) -> bool:
    if user.role == role:
        return False
    _guard(user, actor, "change the role of")
    if user.role == Role.ADMIN and user.active and _active_admins(session) <= 1:
        raise LastAdmin("the console needs at least one active admin")
    before = user.role
    user.role = role
    end_sessions(session, user)  # a session never carries powers the user no longer has
    record_audit(
        session,
        "user.role",
        actor=actor,
        target=user.email,
        detail={"from": before.value, "to": role.value},
    )
    return True


def set_active(session: Session, user: User, active: bool, *, actor: User) -> bool:
    """Deactivate (signed out at once, and for good: a reactivated user signs in afresh) or
    reactivate."""
    if user.active == active:
        return False
    _guard(user, actor, "deactivate" if not active else "reactivate")
    if not active and user.role == Role.ADMIN and _active_admins(session) <= 1:
        raise LastAdmin("the console needs at least one active admin")
    user.active = active
    end_sessions(session, user)
    record_audit(
        session, "user.activate" if active else "user.deactivate", actor=actor, target=user.email
    )
    return True


def reset_two_factor(session: Session, user: User, *, actor: User) -> bool:
    """Switch a user's two-factor sign-in off (a lost phone); they can enrol again."""
    if user.totp_secret is None and user.totp_enabled_at is None:
        return False
    _guard(user, actor, "reset two-factor sign-in of")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    forget_recovery_codes(session, user)  # they were for the old enrolment
    end_sessions(session, user)  # whoever has the phone, and the sessions it opened
    record_audit(session, "user.two_factor_reset", actor=actor, target=user.email)
    return True
