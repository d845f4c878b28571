"""webapp.accounts.two_factor: TOTP codes of the current 30-second step (and its neighbours)
are accepted once; the clock is passed in, never read from the real date."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.accounts import two_factor
from webapp.accounts.two_factor import TwoFactorError
from webapp.models import User

MOMENT = 1_780_000_000.0  # a fixed instant; TOTP works on Unix time


def _enrolled(factories: Factories, session: Session) -> tuple[User, pyotp.TOTP]:
    user = factories.user()
    secret = two_factor.begin_enrolment(user)
    totp = pyotp.TOTP(secret)
    two_factor.confirm_enrolment(session, user, totp.at(MOMENT), now=MOMENT)
    session.commit()
    return user, totp


def test_enrolment_needs_a_right_code(factories: Factories, session: Session) -> None:
    user = factories.user()
    secret = two_factor.begin_enrolment(user)
    with pytest.raises(TwoFactorError):
        two_factor.confirm_enrolment(session, user, "000000", now=MOMENT)
    assert not user.two_factor
    two_factor.confirm_enrolment(session, user, pyotp.TOTP(secret).at(MOMENT), now=MOMENT)
    assert user.two_factor


def test_a_code_works_once_and_only_near_its_time(factories: Factories, session: Session) -> None:
    user, totp = _enrolled(factories, session)
    stale = MOMENT + 60  # a step after enrolment's, never used: refused only for its age
    assert not two_factor.verify(user, totp.at(stale), now=stale + 600)
    later = MOMENT + 900
    assert two_factor.verify(user, totp.at(later), now=later)
    assert not two_factor.verify(user, totp.at(later), now=later)  # replayed
