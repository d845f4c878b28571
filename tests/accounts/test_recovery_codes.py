"""Two-factor recovery codes (ten, shown once, kept as digests, each signing in once, renewable)
and the answer to an authenticator code typed again within its window."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import Factories
from webapp.accounts import sign_in, two_factor
from webapp.accounts.recovery_codes import COUNT, recovery_codes_left
from webapp.accounts.two_factor import CodeReused, TwoFactorError
from webapp.models import AuditEntry, RecoveryCode, Role, User

MOMENT = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
CODE = re.compile(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>")


def enrol(session: Session, user: User, at: datetime = MOMENT) -> tuple[pyotp.TOTP, list[str]]:
    totp = pyotp.TOTP(two_factor.begin_enrolment(user))
    codes = two_factor.confirm_enrolment(session, user, totp.at(at), now=at.timestamp())
    session.commit()
    return totp, codes


def sign_in_with(session: Session, user: User, code: str, now: datetime) -> User:
    key = sign_in.start_sign_in(session, user, now)
    session.commit()
    try:
        return sign_in.enter_code(session, key, code, now)
    finally:
        session.commit()


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# ---- the service --------------------------------------------------------------------------


@pytest.mark.postgres
def test_ten_codes_are_kept_only_as_digests_and_each_signs_in_once(
    factories: Factories, session: Session, backend: str
) -> None:
    user = factories.user()
    _, codes = enrol(session, user)
    assert len(codes) == len(set(codes)) == COUNT == 10

    stored = set(session.scalars(select(RecoveryCode.code_hash)))
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
    assert not any(c.replace("-", "") in h or c in h for c in codes for h in stored)

    later = MOMENT + timedelta(days=2)
    typed = f"  {codes[0].upper().replace('-', ' ')} "  # from paper: case and spaces do not matter
    assert sign_in_with(session, user, typed, later) == user
    assert recovery_codes_left(session, user) == 9
    with pytest.raises(sign_in.CodeNotCorrect):
        sign_in_with(session, user, codes[0], later)  # used once, never again
    assert sign_in_with(session, user, codes[1], later) == user
    assert recovery_codes_left(session, user) == 8
    assert actions(session).count("user.recovery_code_used") == 2


def test_a_recovery_code_spends_a_try_like_any_code(
    factories: Factories, session: Session
) -> None:
    user = factories.user()
    _, codes = enrol(session, user)
    later = MOMENT + timedelta(days=2)
    key = sign_in.start_sign_in(session, user, later)
    session.commit()
    for _ in range(sign_in.MAX_TRIES - 1):
        with pytest.raises(sign_in.CodeNotCorrect):
            sign_in.enter_code(session, key, "aaaa-bbbb-cccc-dddd", later)
        session.commit()
    with pytest.raises(sign_in.TooManyCodes):
        sign_in.enter_code(session, key, "aaaa-bbbb-cccc-dddd", later)
    session.commit()
    with pytest.raises(sign_in.SignInGone):
        sign_in.enter_code(session, key, codes[0], later)  # a sixth try: there is none
    session.commit()
    assert recovery_codes_left(session, user) == COUNT


@pytest.mark.postgres
def test_new_codes_void_the_old_ones_and_need_an_authenticator_code(
    factories: Factories, session: Session, backend: str
) -> None:
    user = factories.user()
    totp, old = enrol(session, user)
    later = MOMENT + timedelta(days=2)
    with pytest.raises(TwoFactorError):
        two_factor.renew_recovery_codes(session, user, "000000", now=later.timestamp())
    session.rollback()
    assert recovery_codes_left(session, user) == COUNT

    new = two_factor.renew_recovery_codes(session, user, totp.at(later), now=later.timestamp())
    session.commit()
    assert len(new) == COUNT and not set(new) & set(old)
    with pytest.raises(sign_in.CodeNotCorrect):
        sign_in_with(session, user, old[2], later)
    assert sign_in_with(session, user, new[2], later) == user
    assert "user.recovery_codes_renewed" in actions(session)


def test_switching_off_or_an_admin_reset_takes_the_codes_away(
    factories: Factories, session: Session
) -> None:
    from webapp.accounts.user_admin import reset_two_factor

    user = factories.user()
    enrol(session, user)
    reset_two_factor(session, user, actor=factories.user(role=Role.ADMIN))
    session.commit()
    assert session.scalars(select(RecoveryCode)).all() == []


# ---- a code typed again -------------------------------------------------------------------


@pytest.mark.postgres
def test_an_authenticator_code_typed_again_is_already_used_not_wrong(
    factories: Factories, session: Session, backend: str
) -> None:
    user = factories.user()
    totp, _ = enrol(session, user)
    later = MOMENT + timedelta(days=2)
    code = totp.at(later)
    assert sign_in_with(session, user, code, later) == user
    with pytest.raises(sign_in.CodeAlreadyUsed):
        sign_in_with(session, user, code, later + timedelta(seconds=20))
    with pytest.raises(sign_in.CodeNotCorrect) as wrong:
        sign_in_with(session, user, f"{(int(code) + 1) % 1_000_000:06d}", later)
    assert not isinstance(wrong.value, sign_in.CodeAlreadyUsed)
    with pytest.raises(CodeReused):
        two_factor.renew_recovery_codes(session, user, code, now=later.timestamp())


# ---- the pages ----------------------------------------------------------------------------


def test_codes_are_shown_once_at_enrolment_counted_and_renewed_on_the_account_page(
    app: Flask, editor_client: FlaskClient, editor: User, session: Session
) -> None:
    enrolled_at = datetime.now(UTC)  # only the steps between the codes count, not the date
    with time_machine.travel(enrolled_at, tick=False):
        editor_client.post("/account/two-factor/start")
        session.expire_all()
        totp = pyotp.TOTP(editor.totp_secret or "")
        shown = editor_client.post("/account/two-factor/confirm?lang=en",
                                   data={"code": totp.now()})
    page = shown.get_data(as_text=True)
    codes = CODE.findall(page)
    assert shown.status_code == 200 and len(set(codes)) == 10
    assert "shown only this once" in page and shown.headers["Cache-Control"] == "no-store"

    with time_machine.travel(enrolled_at + timedelta(minutes=5), tick=False):
        account = editor_client.get("/account/two-factor?lang=en").get_data(as_text=True)
        assert "10 recovery codes left." in account and not CODE.findall(account)
        wrong = editor_client.post("/account/two-factor/recovery-codes",
                                   data={"renew-code": "000000"})
        assert wrong.status_code == 200 and 'href="#renew-code"' in wrong.get_data(as_text=True)
        renewed = editor_client.post("/account/two-factor/recovery-codes",
                                     data={"renew-code": totp.now()})
    new = CODE.findall(renewed.get_data(as_text=True))
    assert len(set(new)) == 10 and not set(new) & set(codes)
    assert renewed.headers["Cache-Control"] == "no-store"
    assert actions(session).count("user.recovery_codes_renewed") == 1


def test_signing_in_with_a_recovery_code_and_a_code_typed_twice(
    app: Flask, factories: Factories, session: Session
) -> None:
    user = factories.user(role=Role.ADMIN, password=PASSWORD)
    totp, codes = enrol(session, user)
    later = MOMENT + timedelta(days=1)
    with time_machine.travel(later, tick=False):
        client = app.test_client()
        client.post("/login", data={"email": user.email, "password": PASSWORD})
        done = client.post("/login/code?lang=en", data={"code": codes[3]})
        assert done.status_code == 302
        home = client.get(done.headers["Location"] + "?lang=en").get_data(as_text=True)
        assert "9 recovery codes are left" in home
        account = client.get("/account/two-factor?lang=en").get_data(as_text=True)
        assert "9 recovery codes left." in account

        first = app.test_client()
        first.post("/login", data={"email": user.email, "password": PASSWORD})
        assert first.post("/login/code", data={"code": totp.now()}).status_code == 302
        again = app.test_client()
        again.post("/login", data={"email": user.email, "password": PASSWORD})
        answer = again.post("/login/code?lang=en", data={"code": totp.now()})
    assert answer.status_code == 200
    assert "This code was already used; wait for the next one." in answer.get_data(as_text=True)
