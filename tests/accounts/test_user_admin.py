"""webapp.accounts.user_admin: inviting console users, changing roles, deactivating and resetting
two-factor sign-in, without ever leaving the console without an active admin.

Refusals are checked by UserError, the base of every refusal here, and by what stayed the same:
the refusals' own classes and wording are the service's to choose.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.accounts.user_admin import (
    LastAdmin,
    change_role,
    invite_user,
    reset_two_factor,
    set_active,
)
from webapp.accounts.users import UserError
from webapp.db import database
from webapp.models import AuditEntry, Role, User

ENROLLED_AT = datetime(2030, 3, 1, 9, tzinfo=UTC)


def audit(session: Session) -> list[tuple[str, str, str, dict[str, str] | None]]:
    """(action, actor, target, detail) of every entry, oldest first."""
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(e.action, e.actor, e.target, e.detail) for e in entries]


def stored(session: Session, user: User) -> tuple[Role, bool, str | None]:
    """The user's role, state and TOTP secret as the database has them after a commit."""
    session.commit()  # a caller that commits after a refusal must store nothing either
    session.expire_all()
    return user.role, user.active, user.totp_secret


@pytest.fixture
def admin(factories: Factories) -> User:
    return factories.user(role=Role.ADMIN, email="admin@example.com")


@pytest.fixture
def other_admin(factories: Factories) -> User:
    return factories.user(role=Role.ADMIN, email="other.admin@example.com")


@pytest.fixture
def editor(factories: Factories) -> User:
    return factories.user(role=Role.EDITOR, email="editor@example.com")


# ---- inviting -----------------------------------------------------------------------------


def test_an_invited_user_is_active_in_their_role_and_audited(
    admin: User, session: Session
) -> None:
    invited = invite_user(session, "New.Boss@Example.COM", Role.ADMIN, actor=admin)
    session.commit()

    session.expire_all()
    assert (invited.email, invited.role, invited.active) == ("new.boss@example.com", Role.ADMIN,
                                                             True)
    assert audit(session) == [
        ("user.create", admin.email, "new.boss@example.com", {"role": "admin"}),
        ("user.invite", admin.email, "new.boss@example.com", None),
    ]


@pytest.mark.parametrize("address", ["editor@example.com", " Editor@Example.com", "not an address"])
def test_an_invitation_to_a_taken_or_bad_address_is_refused_and_adds_nobody(
    admin: User, editor: User, session: Session, address: str
) -> None:
    with pytest.raises(UserError):
        invite_user(session, address, Role.EDITOR, actor=admin)
    session.commit()

    assert sorted(session.scalars(select(User.email))) == [admin.email, editor.email]
    assert audit(session) == []


# ---- roles ------------------------------------------------------------------------------------


def test_an_admin_promotes_an_editor_and_the_change_is_audited(
    admin: User, editor: User, session: Session
) -> None:
    assert change_role(session, editor, Role.ADMIN, actor=admin) is True
    assert stored(session, editor)[0] == Role.ADMIN
    assert audit(session) == [
        ("user.role", admin.email, editor.email, {"from": "editor", "to": "admin"})
    ]


def test_an_admin_demotes_another_while_one_active_admin_remains(
    admin: User, other_admin: User, session: Session
) -> None:
    assert change_role(session, other_admin, Role.EDITOR, actor=admin) is True
    assert stored(session, other_admin)[0] == Role.EDITOR


def test_giving_the_role_a_user_has_changes_nothing(
    admin: User, editor: User, session: Session
) -> None:
    assert change_role(session, editor, Role.EDITOR, actor=admin) is False
    assert change_role(session, admin, Role.ADMIN, actor=admin) is False  # own, but no change
    assert audit(session) == []


def test_nobody_changes_their_own_role(
    admin: User, other_admin: User, session: Session
) -> None:
    with pytest.raises(UserError):
        change_role(session, admin, Role.EDITOR, actor=admin)  # another admin would remain

    assert stored(session, admin)[0] == Role.ADMIN
    assert audit(session) == []


def test_the_last_active_admin_keeps_the_role(
    admin: User, editor: User, factories: Factories, session: Session
) -> None:
    factories.user(role=Role.ADMIN, active=False)  # an inactive admin does not count
    # The rule is the service's, whoever asks: here an editor (the console lets only admins ask).
    with pytest.raises(UserError):
        change_role(session, admin, Role.EDITOR, actor=editor)

    assert stored(session, admin)[0] == Role.ADMIN
    assert audit(session) == []


def test_an_inactive_admin_can_be_demoted_even_with_one_active_admin(
    admin: User, factories: Factories, session: Session
) -> None:
    dormant = factories.user(role=Role.ADMIN, active=False)
    assert change_role(session, dormant, Role.EDITOR, actor=admin) is True
    assert stored(session, dormant)[:2] == (Role.EDITOR, False)


# ---- deactivating ---------------------------------------------------------------------------


def test_an_admin_deactivates_and_reactivates_a_user(
    admin: User, editor: User, session: Session
) -> None:
    assert set_active(session, editor, False, actor=admin) is True
    assert stored(session, editor)[1] is False
    assert set_active(session, editor, True, actor=admin) is True
    assert stored(session, editor)[1] is True
    assert [entry[:3] for entry in audit(session)] == [
        ("user.deactivate", admin.email, editor.email),
        ("user.activate", admin.email, editor.email),
    ]


def test_setting_the_state_a_user_has_changes_nothing(
    admin: User, editor: User, session: Session
) -> None:
    assert set_active(session, editor, True, actor=admin) is False
    assert set_active(session, admin, True, actor=admin) is False  # own, but no change
    assert audit(session) == []


def test_nobody_deactivates_themselves(
    admin: User, other_admin: User, editor: User, session: Session
) -> None:
    for user in (admin, editor):
        with pytest.raises(UserError):
            set_active(session, user, False, actor=user)

    assert stored(session, admin)[1] and stored(session, editor)[1]
    assert audit(session) == []


def test_the_last_active_admin_stays_active(
    admin: User, editor: User, session: Session
) -> None:
    with pytest.raises(UserError):
        set_active(session, admin, False, actor=editor)

    assert stored(session, admin)[:2] == (Role.ADMIN, True)
    assert audit(session) == []


def test_an_admin_deactivates_another_while_one_active_admin_remains(
    admin: User, other_admin: User, session: Session
) -> None:
    assert set_active(session, other_admin, False, actor=admin) is True
    assert stored(session, other_admin)[1] is False
    with pytest.raises(UserError):  # now the actor is the last: nobody may deactivate them
        set_active(session, admin, False, actor=other_admin)
    assert stored(session, admin)[1] is True


# ---- two-factor sign-in -----------------------------------------------------------------------


def enrolled(factories: Factories, **fields: Any) -> User:
    return factories.user(totp_secret="JBSWY3DPEHPK3PXP", totp_enabled_at=ENROLLED_AT,
                          totp_last_step=1234, **fields)


def test_an_admin_switches_off_another_users_two_factor_sign_in(
    admin: User, factories: Factories, session: Session
) -> None:
    phone_lost = enrolled(factories, email="lost@example.com")

    assert reset_two_factor(session, phone_lost, actor=admin) is True
    session.commit()

    session.expire_all()
    assert (phone_lost.totp_secret, phone_lost.totp_enabled_at, phone_lost.totp_last_step) == (
        None, None, None
    )
    assert not phone_lost.two_factor
    assert audit(session) == [("user.two_factor_reset", admin.email, "lost@example.com", None)]


def test_an_enrolment_begun_but_not_confirmed_is_reset_too(
    admin: User, factories: Factories, session: Session
) -> None:
    halfway = factories.user(totp_secret="JBSWY3DPEHPK3PXP")
    assert reset_two_factor(session, halfway, actor=admin) is True
    assert stored(session, halfway)[2] is None


def test_resetting_a_user_without_two_factor_changes_nothing(
    admin: User, editor: User, session: Session
) -> None:
    assert reset_two_factor(session, editor, actor=admin) is False
    assert reset_two_factor(session, admin, actor=admin) is False  # own, but nothing to reset
    assert audit(session) == []


def test_nobody_resets_their_own_two_factor_sign_in(
    factories: Factories, other_admin: User, session: Session
) -> None:
    admin = enrolled(factories, role=Role.ADMIN)

    with pytest.raises(UserError):
        reset_two_factor(session, admin, actor=admin)

    session.commit()
    session.expire_all()
    assert (admin.totp_secret, admin.totp_enabled_at) == ("JBSWY3DPEHPK3PXP", ENROLLED_AT)
    assert audit(session) == []


@pytest.mark.postgres
def test_two_admins_removing_each_other_at_once_leave_one(
    app: Flask, factories: Factories, backend: str
) -> None:
    # Each request counts the active admins; without a lock both would count two and both go on.
    first, second = factories.user(role=Role.ADMIN), factories.user(role=Role.ADMIN)
    sessions = database(app).sessionmaker
    with sessions() as one, sessions() as other:
        change_role(one, one.get_one(User, second.id), Role.EDITOR,
                    actor=one.get_one(User, first.id))
        one.flush()
        outcome: list[BaseException | bool] = []

        def deactivate() -> None:
            try:
                outcome.append(set_active(other, other.get_one(User, first.id), False,
                                          actor=other.get_one(User, second.id)))
                other.commit()
            except BaseException as error:
                other.rollback()
                outcome.append(error)

        worker = threading.Thread(target=deactivate)
        worker.start()
        worker.join(0.5)  # on PostgreSQL it waits for the first transaction's row locks
        one.commit()
        worker.join(15)
    assert len(outcome) == 1 and isinstance(outcome[0], LastAdmin), outcome
    with sessions() as fresh:
        admins = fresh.scalars(select(User).where(User.role == Role.ADMIN, User.active))
        assert [u.id for u in admins] == [first.id]
