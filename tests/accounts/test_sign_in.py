"""Two-factor sign-in: the code step is counted in the database, per pending sign-in."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import Factories
from tests.mailbox import link_in, outbox
from webapp.accounts import sign_in, two_factor
from webapp.accounts.sign_in import CODE_STEP
from webapp.db import database
from webapp.models import PendingSignIn, Role, User

MOMENT = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def enrolled(factories: Factories) -> User:
    return factories.user(
        role=Role.EDITOR, password=PASSWORD, totp_secret=SECRET, totp_enabled_at=MOMENT
    )


def password_step(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert answer.headers["Location"].endswith("/login/code")
    return client


def replayed(app: Flask, cookie: str) -> FlaskClient:
    """A fresh browser holding the cookie the password step gave."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 1_000_000:06d}"


@pytest.mark.postgres
def test_replaying_the_password_step_cookie_gets_five_guesses_in_all(
    app: Flask, enrolled: User, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    checked: list[str] = []
    check = two_factor.check_sign_in_code

    def counting(user: User, code: str, now: float | None = None) -> two_factor.CodeCheck:
        checked.append(code)
        return check(user, code, now)

    monkeypatch.setattr(two_factor, "check_sign_in_code", counting)
    totp = pyotp.TOTP(SECRET)
    with time_machine.travel(MOMENT + timedelta(days=1), tick=False):
        cookie = session_cookie(password_step(app, enrolled))
        answers = [
            replayed(app, cookie).post("/login/code?lang=en", data={"code": wrong_code(totp.now())})
            for _ in range(12)
        ]
        assert len(checked) == 5
        assert [a.status_code for a in answers[:4]] == [200] * 4
        assert all("The code is not correct" in a.get_data(as_text=True) for a in answers[:4])
        assert all(a.status_code == 302 for a in answers[4:])
        assert all(a.headers["Location"].endswith("/login") for a in answers[4:])

        # Dead for good: not even the right code brings it back; only a new password step.
        late = replayed(app, cookie)
        assert late.post("/login/code", data={"code": totp.now()}).status_code == 302
        assert late.get("/editor/").status_code == 302
        assert len(checked) == 5
        again = password_step(app, enrolled)
        assert again.post("/login/code", data={"code": totp.now()}).status_code == 302
        assert again.get("/editor/").status_code == 200


def test_the_fifth_wrong_code_says_so(app: Flask, enrolled: User) -> None:
    totp = pyotp.TOTP(SECRET)
    with time_machine.travel(MOMENT + timedelta(days=1), tick=False):
        client = password_step(app, enrolled)
        for _ in range(4):
            client.post("/login/code", data={"code": wrong_code(totp.now())})
        last = client.post("/login/code?lang=en", data={"code": wrong_code(totp.now())})
        assert last.headers["Location"].endswith("/login")
        page = client.get("/login?lang=en").get_data(as_text=True)
        assert "Too many wrong codes" in page


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("wait", "signed_in"), [(CODE_STEP - timedelta(seconds=1), True), (CODE_STEP, False)]
)
def test_a_pending_sign_in_expires(
    app: Flask, enrolled: User, wait: timedelta, signed_in: bool, backend: str
) -> None:
    start = MOMENT + timedelta(days=1)
    with time_machine.travel(start, tick=False):
        client = password_step(app, enrolled)
    with time_machine.travel(start + wait, tick=False):
        answer = client.post("/login/code", data={"code": pyotp.TOTP(SECRET).now()})
        assert answer.status_code == 302
        assert client.get("/editor/").status_code == (200 if signed_in else 302)


def test_a_used_pending_sign_in_cannot_be_replayed(app: Flask, enrolled: User) -> None:
    totp = pyotp.TOTP(SECRET)
    start = MOMENT + timedelta(days=1)
    with time_machine.travel(start, tick=False):
        client = password_step(app, enrolled)
        cookie = session_cookie(client)
        assert client.post("/login/code", data={"code": totp.now()}).status_code == 302
    with time_machine.travel(start + timedelta(seconds=30), tick=False):  # a fresh code
        thief = replayed(app, cookie)
        assert thief.post("/login/code", data={"code": totp.now()}).status_code == 302
        assert thief.get("/editor/").status_code == 302


def test_a_password_reset_ends_a_pending_sign_in(
    app: Flask, enrolled: User, session: Session
) -> None:
    client = password_step(app, enrolled)
    assert session.scalar(select(func.count()).select_from(PendingSignIn)) == 1
    app.test_client().post("/password-reset", data={"email": enrolled.email})
    path = link_in(outbox(app)[0], "/password-reset/")
    new = "a brand new long passphrase"
    app.test_client().post(path, data={"password": new, "repeat": new})
    assert session.scalar(select(func.count()).select_from(PendingSignIn)) == 0
    answer = client.post("/login/code", data={"code": pyotp.TOTP(SECRET).now()})
    assert answer.headers["Location"].endswith("/login")
    assert client.get("/editor/").status_code == 302


@pytest.mark.postgres
def test_parallel_codes_for_one_pending_sign_in_get_five_guesses(
    app: Flask, enrolled: User, session: Session, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """A burst of requests with one cookie: each spends its try before the code is checked."""
    checked: list[str] = []
    check = two_factor.check_sign_in_code

    def counting(user: User, code: str, now: float | None = None) -> two_factor.CodeCheck:
        checked.append(code)
        return check(user, code, now)

    monkeypatch.setattr(two_factor, "check_sign_in_code", counting)
    now = MOMENT + timedelta(days=1)
    key = sign_in.start_sign_in(session, enrolled, now)
    session.commit()
    wrong = wrong_code(pyotp.TOTP(SECRET).at(now))
    start, refusals = threading.Barrier(8), []

    def guess() -> None:
        with database(app).sessionmaker() as own:
            start.wait()
            try:
                sign_in.enter_code(own, key, wrong, now)
            except sign_in.SignInRefused as refused:
                refusals.append(type(refused).__name__)
            own.commit()

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) == 5
    assert sorted(refusals) == sorted(
        ["CodeNotCorrect"] * 4 + ["TooManyCodes"] + ["SignInGone"] * 3
    )
    assert session.scalar(select(func.count()).select_from(PendingSignIn)) == 0


def test_the_table_holds_no_key_a_browser_could_use(
    app: Flask, enrolled: User, session: Session
) -> None:
    client = password_step(app, enrolled)
    with client.session_transaction() as cookie:
        key = cookie["pending_login"]["key"]
    (row,) = session.scalars(select(PendingSignIn))
    assert row.user_id == enrolled.id and row.tries == 0
    assert key not in row.id
