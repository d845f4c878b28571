"""Password reset by emailed link, and TOTP two-factor sign-in."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, app_config
from tests.factories import Factories
from tests.mailbox import link_in, outbox, text_of
from webapp import create_app
from webapp.accounts import password_reset
from webapp.db import database
from webapp.models import Role, User, utcnow

NEW_PASSWORD = "a brand new long passphrase"


def _reset_path(app: Flask) -> str:
    (mail,) = outbox(app)
    return link_in(mail, "/password-reset/")


def test_a_reset_link_is_mailed_only_to_a_known_address_and_the_page_never_tells(
    app: Flask, client: FlaskClient, editor: User
) -> None:
    pages = []
    for address in (editor.email.upper(), "nobody@example.com"):
        asked = client.post("/password-reset?lang=en", data={"email": address})
        assert asked.status_code == 303
        assert asked.headers["Location"].endswith("/password-reset/sent")
        pages.append(client.get("/password-reset/sent?lang=en"))  # as a browser follows it
    known, unknown = pages
    assert known.status_code == unknown.status_code == 200
    strip = re.compile(r"[\w.+-]+@example\.com|csrf_token[^>]*>", re.I)
    assert strip.sub("", known.get_data(as_text=True)) == strip.sub(
        "", unknown.get_data(as_text=True))
    mails = outbox(app)
    assert len(mails) == 1 and mails[0]["To"] == editor.email
    assert "/password-reset/" in text_of(mails[0])


def test_a_reset_link_sets_a_new_password_once(
    app: Flask, client: FlaskClient, editor: User, session: Session
) -> None:
    client.post("/password-reset", data={"email": editor.email})
    path = _reset_path(app)
    assert client.get(path).status_code == 200
    mismatch = client.post(path, data={"password": NEW_PASSWORD, "repeat": "something else"})
    assert mismatch.status_code == 200
    done = client.post(path, data={"password": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": editor.email, "password": PASSWORD}) \
        .status_code == 200  # the old password no longer works
    assert fresh.post("/login", data={"email": editor.email, "password": NEW_PASSWORD}) \
        .status_code == 302
    assert client.get(path).status_code == 410  # used: the password it was made for changed
    assert client.get("/password-reset/forged.token.value").status_code == 410


def test_a_reset_link_expires_after_an_hour(
    app: Flask, client: FlaskClient, editor: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post("/password-reset", data={"email": editor.email})
    path = _reset_path(app)
    later = utcnow() + timedelta(hours=1, minutes=1)
    monkeypatch.setattr(password_reset, "utcnow", lambda: later)
    assert client.get(path).status_code == 410


def test_reset_requests_are_rate_limited_per_address(
    database_url: str, tmp_path: Path, editor: User
) -> None:
    app = create_app(app_config(database_url, tmp_path, RATELIMIT_ENABLED=True))
    client = app.test_client()
    answers = [
        client.post("/password-reset", data={"email": editor.email},
                    environ_base={"REMOTE_ADDR": f"198.51.100.{n}"}).status_code
        for n in range(4)
    ]
    assert answers == [303, 303, 303, 429]  # from four different clients, one address
    assert len(outbox(app)) == 3
    database(app).engine.dispose()


def _enrol(client: FlaskClient, session: Session, user: User) -> pyotp.TOTP:
    client.post("/account/two-factor/start")
    session.expire_all()
    assert user.totp_secret is not None and not user.two_factor
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page and " ".join(re.findall(".{1,4}", user.totp_secret)) in page
    totp = pyotp.TOTP(user.totp_secret)
    wrong = client.post("/account/two-factor/confirm?lang=en", data={"code": "000000"})
    assert wrong.status_code == 200  # the page again, the code refused at its field
    assert 'href="#code"' in wrong.get_data(as_text=True)
    session.expire_all()
    assert not user.two_factor
    client.post("/account/two-factor/confirm", data={"code": totp.at(time.time() - 30)})
    session.expire_all()
    assert user.two_factor
    return totp


def test_two_factor_enrolment_then_sign_in_asks_for_a_fresh_code(
    app: Flask, editor_client: FlaskClient, editor: User, session: Session
) -> None:
    totp = _enrol(editor_client, session, editor)
    client = app.test_client()
    step = client.post("/login?next=/editor/", data={"email": editor.email, "password": PASSWORD})
    assert step.headers["Location"].endswith("/login/code")
    assert client.get("/editor/").status_code == 302  # not signed in yet
    assert client.post("/login/code", data={"code": "123456"}).status_code == 200
    code = totp.now()  # one code for both attempts, whenever the 30-second window turns
    signed_in = client.post("/login/code", data={"code": code})
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/editor/")
    assert client.get("/editor/").status_code == 200

    replay = app.test_client()  # the same code, overheard, a second later
    replay.post("/login", data={"email": editor.email, "password": PASSWORD})
    assert replay.post("/login/code", data={"code": code}).status_code == 200
    assert replay.get("/editor/").status_code == 302

    editor_client.post("/account/two-factor/off", data={"code": "000000"})
    session.expire_all()
    assert editor.two_factor  # a wrong code switches nothing off


def test_too_many_wrong_codes_end_the_sign_in(
    app: Flask, editor_client: FlaskClient, editor: User, session: Session
) -> None:
    _enrol(editor_client, session, editor)
    client = app.test_client()
    client.post("/login", data={"email": editor.email, "password": PASSWORD})
    for _ in range(4):
        assert client.post("/login/code", data={"code": "000000"}).status_code == 200
    assert client.post("/login/code", data={"code": "000000"}).headers["Location"] \
        .endswith("/login")
    assert client.get("/login/code").headers["Location"].endswith("/login")


def test_admins_keep_two_factor_and_another_admin_resets_it(
    app: Flask, admin_client: FlaskClient, admin: User, factories: Factories, session: Session
) -> None:
    totp = _enrol(admin_client, session, admin)
    admin_client.post("/account/two-factor/off", data={"code": totp.now()})
    session.expire_all()
    assert admin.two_factor  # admins cannot switch it off

    other = factories.user(role=Role.ADMIN, password=PASSWORD)
    client = app.test_client()
    client.post("/login", data={"email": other.email, "password": PASSWORD})
    client.post(f"/admin/users/{admin.id}/reset-two-factor")
    session.expire_all()
    assert not admin.two_factor and admin.totp_secret is None
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": admin.email, "password": PASSWORD}) \
        .headers["Location"].endswith("/admin/")
