"""webapp.accounts.users: console users are created with checked input and authenticated at the
same cost whether or not the address exists."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from tests.factories import Factories
from webapp.accounts import users
from webapp.accounts.users import UserError, authenticate, create_user
from webapp.models import Role


def test_the_unknown_address_hash_costs_what_a_real_one_costs() -> None:
    # Same method and scrypt parameters as a password hashed today: an unknown address and a
    # wrong password then take the same time, and a changed default shows up here.
    method = users._DUMMY_HASH.split("$")[0]
    assert method == generate_password_hash("x" * 12).split("$")[0]


def test_authenticate_refuses_unknown_wrong_and_inactive_alike(
    factories: Factories, session: Session
) -> None:
    user = factories.user(email="editor@example.com", password="right password 1")
    assert authenticate(session, "nobody@example.com", "right password 1") is None
    assert authenticate(session, "editor@example.com", "wrong password 1") is None
    found = authenticate(session, " Editor@Example.com ", "right password 1")
    assert found is not None and found.id == user.id and found.last_login_at is not None
    user.active = False
    session.commit()
    assert authenticate(session, "editor@example.com", "right password 1") is None


def test_create_user_normalises_and_refuses_bad_input(session: Session) -> None:
    user = create_user(session, "New.Editor@Example.COM", Role.EDITOR, "long enough pw")
    assert user.email == "new.editor@example.com"
    with pytest.raises(UserError, match="valid email"):
        create_user(session, "not an address", Role.EDITOR, "long enough pw")
    with pytest.raises(UserError, match="at least"):
        create_user(session, "short@example.com", Role.EDITOR, "short")
