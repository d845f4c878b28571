"""webapp.accounts.password_reset: a signed link for one user that works for an hour (three days
for an invitation mailed as a reset link before invitations had their own), once, and only for
an active user; a new password of enough length."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from tests.factories import Factories
from webapp.accounts.password_reset import (
    INVITE_MAX_AGE,
    MAX_AGE,
    SALT,
    ResetLinkError,
    read_reset,
    request_reset,
    reset_mail,
    set_password,
    sign_reset,
)
from webapp.accounts.users import MIN_PASSWORD_LENGTH, UserError
from webapp.config import Settings, settings_of
from webapp.models import AuditEntry, User

KEY = "secret key for reset links"
SIGNED_AT = datetime(2030, 3, 1, 9, tzinfo=UTC)
NEW_PASSWORD = "a brand new long passphrase"


@pytest.fixture
def user(factories: Factories) -> User:
    return factories.user(email="editor@example.com")


@pytest.fixture
def settings(app: Flask) -> Settings:
    return settings_of(app)


def signed_at_noon(user: User, *, invite: bool = False) -> str:
    with time_machine.travel(SIGNED_AT, tick=False):
        return sign_reset(KEY, user, invite=invite)


def read_at(session: Session, signed: str, moment: datetime) -> User:
    with time_machine.travel(moment, tick=False):
        return read_reset(session, KEY, signed)


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# ---- the link -----------------------------------------------------------------------------


def test_a_reset_link_works_for_an_hour(user: User, session: Session) -> None:
    signed = signed_at_noon(user)

    assert read_at(session, signed, SIGNED_AT + MAX_AGE) == user
    with pytest.raises(ResetLinkError):
        read_at(session, signed, SIGNED_AT + MAX_AGE + timedelta(seconds=1))


def test_an_invitation_mailed_as_a_reset_link_works_for_its_three_days(
    user: User, session: Session
) -> None:
    signed = signed_at_noon(user, invite=True)

    assert read_at(session, signed, SIGNED_AT + MAX_AGE + timedelta(hours=1)) == user
    assert read_at(session, signed, SIGNED_AT + INVITE_MAX_AGE) == user
    with pytest.raises(ResetLinkError):
        read_at(session, signed, SIGNED_AT + INVITE_MAX_AGE + timedelta(seconds=1))


def test_a_link_works_once_the_password_it_replaces_is_gone(
    user: User, session: Session
) -> None:
    used, other = signed_at_noon(user), signed_at_noon(user)  # two requests, one mailbox
    moment = SIGNED_AT + timedelta(minutes=5)

    set_password(session, read_at(session, used, moment), NEW_PASSWORD)
    session.commit()

    for signed in (used, other):
        with pytest.raises(ResetLinkError):
            read_at(session, signed, moment)


def test_setting_the_same_password_again_still_uses_the_link_up(
    factories: Factories, session: Session
) -> None:
    user = factories.user(password=NEW_PASSWORD)
    signed = signed_at_noon(user)
    set_password(session, read_at(session, signed, SIGNED_AT), NEW_PASSWORD)
    session.commit()
    with pytest.raises(ResetLinkError):
        read_at(session, signed, SIGNED_AT)


def test_a_link_for_a_deactivated_or_deleted_user_is_refused(
    factories: Factories, session: Session
) -> None:
    gone, off = factories.user(), factories.user()
    links = [signed_at_noon(gone), signed_at_noon(off)]
    session.delete(gone)
    off.active = False
    session.commit()

    for signed in links:
        with pytest.raises(ResetLinkError):
            read_at(session, signed, SIGNED_AT)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda signed, user: signed[:-3] + ("AAA" if signed[-3:] != "AAA" else "BBB"),
                     id="tampered"),
        pytest.param(lambda signed, user: sign_reset("another key", user), id="another-key"),
        pytest.param(lambda signed, user: URLSafeTimedSerializer(KEY, salt="yuebao.subscribe")
                     .dumps({"u": user.id, "h": "", "i": 1}), id="another-salt"),
        pytest.param(lambda signed, user: URLSafeTimedSerializer(KEY, salt=SALT).dumps([user.id]),
                     id="not-a-reset-payload"),
        pytest.param(lambda signed, user: URLSafeTimedSerializer(KEY, salt=SALT)
                     .dumps({"u": user.id, "h": "0" * 20, "i": 1}), id="wrong-digest"),
        pytest.param(lambda signed, user: "not.a.link", id="garbage"),
    ],
)
def test_a_link_not_signed_for_this_user_is_refused_and_changes_nothing(
    user: User, session: Session, forge: Callable[[str, User], str]
) -> None:
    before = user.password_hash
    signed = forge(signed_at_noon(user), user)

    with pytest.raises(ResetLinkError):
        read_at(session, signed, SIGNED_AT)

    session.expire_all()
    assert user.password_hash == before and user.active
    assert audit_actions(session) == []


# ---- asking for a link ----------------------------------------------------------------------


def test_an_active_user_asking_gets_one_mail_whose_link_is_theirs(
    user: User, session: Session, settings: Settings
) -> None:
    with time_machine.travel(SIGNED_AT, tick=False):
        (mail,) = request_reset(session, settings, "  Editor@Example.COM ", "en")
    assert mail.to == "editor@example.com"

    prefix = f"{settings.base_url}/password-reset/"
    (url,) = [word for word in mail.text.split() if word.startswith(prefix)]
    with time_machine.travel(SIGNED_AT + MAX_AGE, tick=False):
        assert read_reset(session, settings.secret_key, url.removeprefix(prefix)) == user
    with time_machine.travel(SIGNED_AT + MAX_AGE + timedelta(seconds=1), tick=False), \
            pytest.raises(ResetLinkError):
        read_reset(session, settings.secret_key, url.removeprefix(prefix))  # not an invitation


def test_nobody_else_is_mailed(factories: Factories, session: Session, settings: Settings) -> None:
    factories.user(email="off@example.com", active=False)

    assert request_reset(session, settings, "nobody@example.com", "en") == []
    assert request_reset(session, settings, "off@example.com", "zh-CN") == []
    assert audit_actions(session) == []


def test_a_reset_mail_is_still_the_reset_mail_with_an_hour_link(
    user: User, session: Session, settings: Settings
) -> None:
    with time_machine.travel(SIGNED_AT, tick=False):
        mail = reset_mail(settings, user, "zh-CN")
    assert mail.to == user.email and mail.tags == {"kind": "password_reset"}
    assert mail.subject == f"重置{settings.org_name}月报后台密码"
    prefix = f"{settings.base_url}/password-reset/"
    (url,) = [word for word in mail.text.split() if word.startswith(prefix)]

    with time_machine.travel(SIGNED_AT + MAX_AGE - timedelta(minutes=1), tick=False):
        assert read_reset(session, settings.secret_key, url.removeprefix(prefix)) == user
    later = SIGNED_AT + MAX_AGE + timedelta(minutes=1)
    with time_machine.travel(later, tick=False), pytest.raises(ResetLinkError, match="expired"):
        read_reset(session, settings.secret_key, url.removeprefix(prefix))


# ---- the new password -----------------------------------------------------------------------


def test_a_new_password_replaces_the_old_one_and_is_audited(
    factories: Factories, session: Session
) -> None:
    user = factories.user(password="the old long password")
    exactly_long_enough = "p" * MIN_PASSWORD_LENGTH

    set_password(session, user, exactly_long_enough)
    session.commit()

    session.expire_all()
    assert check_password_hash(user.password_hash, exactly_long_enough)
    entry = session.scalar(select(AuditEntry))
    assert entry is not None
    assert (entry.action, entry.actor_id, entry.target) == (
        "user.password_reset", user.id, user.email
    )


def test_a_short_password_is_refused_and_nothing_changes(
    user: User, session: Session
) -> None:
    before = user.password_hash

    with pytest.raises(UserError):
        set_password(session, user, "p" * (MIN_PASSWORD_LENGTH - 1))
    session.commit()  # even a caller that commits after the refusal stores nothing

    session.expire_all()
    assert user.password_hash == before
    assert audit_actions(session) == []
