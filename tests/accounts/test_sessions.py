"""Sessions that end: a copied session cookie stops working once its user's sessions end."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from flask import session as flask_session
from flask.testing import FlaskClient
from flask_login import login_user
from flask_login.utils import encode_cookie
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, app_config
from tests.factories import Factories
from tests.mailbox import link_in, outbox
from webapp import create_app
from webapp.db import database
from webapp.models import AuditEntry, Role, User, utcnow

NEW_PASSWORD = "a brand new long passphrase"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding the same session cookie (stolen, or left on a shared computer)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def signed_in(app: Flask, user: User, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/login", data={"email": user.email, "password": password})
    assert answer.status_code == 302
    return client


@pytest.mark.postgres
def test_signing_out_ends_a_copy_of_the_session_cookie(
    app: Flask, editor: User, backend: str
) -> None:
    client = signed_in(app, editor)
    thief = copy_of(app, client)
    assert thief.get("/editor/").status_code == 200
    client.post("/logout")
    assert thief.get("/editor/").status_code == 302
    assert client.get("/editor/").status_code == 302
    assert signed_in(app, editor).get("/editor/").status_code == 200  # signing in again works


@pytest.mark.postgres
def test_a_password_reset_ends_every_session(app: Flask, editor: User, backend: str) -> None:
    client = signed_in(app, editor)
    thief = copy_of(app, client)
    stranger = app.test_client()
    stranger.post("/password-reset", data={"email": editor.email})
    path = link_in(outbox(app)[0], "/password-reset/")
    stranger.post(path, data={"password": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert thief.get("/editor/").status_code == 302
    assert client.get("/editor/").status_code == 302
    assert signed_in(app, editor, NEW_PASSWORD).get("/editor/").status_code == 200


def test_a_role_change_ends_the_sessions_of_the_user(
    app: Flask, admin_client: FlaskClient, editor: User, factories: Factories
) -> None:
    promoted = signed_in(app, editor)
    other = signed_in(app, factories.user(role=Role.EDITOR, password=PASSWORD))
    admin_client.post(f"/admin/users/{editor.id}/role", data={"role": "admin"})
    assert promoted.get("/editor/").status_code == 302
    assert other.get("/editor/").status_code == 200  # nobody else's
    assert admin_client.get("/admin/").status_code == 200
    assert signed_in(app, editor).get("/admin/").status_code == 200


def test_deactivation_ends_sessions_for_good(
    app: Flask, admin_client: FlaskClient, editor: User
) -> None:
    client = signed_in(app, editor)
    admin_client.post(f"/admin/users/{editor.id}/deactivate")
    assert client.get("/editor/").status_code == 302
    admin_client.post(f"/admin/users/{editor.id}/activate")
    assert client.get("/editor/").status_code == 302  # reactivation brings no old cookie back
    assert signed_in(app, editor).get("/editor/").status_code == 200


def test_an_admin_resetting_two_factor_ends_the_sessions_of_the_user(
    app: Flask, admin_client: FlaskClient, factories: Factories
) -> None:
    user = factories.user(
        role=Role.EDITOR, password=PASSWORD, totp_secret=SECRET, totp_enabled_at=utcnow()
    )
    client = app.test_client()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    client.post("/login/code", data={"code": pyotp.TOTP(SECRET).now()})
    assert client.get("/editor/").status_code == 200
    admin_client.post(f"/admin/users/{user.id}/reset-two-factor")
    assert client.get("/editor/").status_code == 302


def test_switching_two_factor_off_ends_the_other_sessions_not_this_one(
    app: Flask, factories: Factories, session: Session
) -> None:
    user = factories.user(
        role=Role.EDITOR, password=PASSWORD, totp_secret=SECRET, totp_enabled_at=utcnow()
    )
    totp = pyotp.TOTP(SECRET)
    client = app.test_client()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    client.post("/login/code", data={"code": totp.at(time.time() - 30)})
    thief = copy_of(app, client)
    assert thief.get("/editor/").status_code == 200
    client.post("/account/two-factor/off", data={"code": totp.now()})
    session.expire_all()
    assert not user.two_factor
    assert thief.get("/editor/").status_code == 302
    assert client.get("/editor/").status_code == 200


def test_switching_two_factor_on_ends_the_sessions_opened_with_the_password_alone(
    app: Flask, editor: User, session: Session
) -> None:
    client = signed_in(app, editor)
    thief = copy_of(app, client)
    client.post("/account/two-factor/start")
    session.expire_all()
    assert editor.totp_secret is not None
    code = pyotp.TOTP(editor.totp_secret).now()
    shown = client.post("/account/two-factor/confirm", data={"code": code})
    assert shown.status_code == 200  # the page with the recovery codes
    session.expire_all()
    assert editor.two_factor
    assert thief.get("/editor/").status_code == 302
    assert client.get("/editor/").status_code == 200


def test_sign_out_everywhere_ends_every_session_this_one_too(
    app: Flask, editor: User, session: Session
) -> None:
    client = signed_in(app, editor)
    elsewhere = signed_in(app, editor)
    thief = copy_of(app, client)
    page = client.get("/account/two-factor?lang=en").get_data(as_text=True)
    assert "Sign out everywhere" in page and "/account/sign-out-everywhere" in page
    answer = client.post("/account/sign-out-everywhere?lang=en")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    for browser in (client, elsewhere, thief):
        assert browser.get("/editor/").status_code == 302
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target == editor.email))
    assert list(actions) == ["user.sign_out_everywhere"]


def test_sign_out_everywhere_needs_the_csrf_token(
    tmp_path: Path, database_url: str, editor: User
) -> None:
    app = create_app(app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    data = {"email": editor.email, "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=data).status_code == 302
    forged = client.post("/account/sign-out-everywhere")  # from another site: no token
    assert forged.status_code == 400
    assert client.get("/editor/").status_code == 200
    database(app).engine.dispose()


def test_a_remember_me_cookie_ends_with_the_sessions(app: Flask, editor: User) -> None:
    """Sign-in sets no remember-me cookie; were one made, it names the session version too."""
    client = signed_in(app, editor)
    with app.test_request_context():
        remembered = encode_cookie(editor.get_id())
    returning = app.test_client()
    returning.set_cookie("remember_token", remembered)
    assert returning.get("/editor/").status_code == 200
    client.post("/logout")
    stale = app.test_client()
    stale.set_cookie("remember_token", remembered)
    assert stale.get("/editor/").status_code == 302


def test_a_cookie_without_a_session_version_signs_nobody_in(app: Flask, editor: User) -> None:
    """What cookies made before session versions hold: the bare user id."""
    client = app.test_client()
    with app.test_request_context(environ_base=client.environ_base):
        login_user(editor)
        made = dict(flask_session)
    with client.session_transaction() as cookie:
        cookie.update(made)
    assert client.get("/editor/").status_code == 200  # as made today
    with client.session_transaction() as cookie:
        cookie["_user_id"] = str(editor.id)  # as made before
    assert client.get("/editor/").status_code == 302
