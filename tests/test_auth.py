from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, app_config
from tests.factories import Factories
from webapp import create_app
from webapp.models import AuditEntry, Role, User


@pytest.mark.postgres
def test_editor_signs_in_and_reaches_the_editor_console(
    client: FlaskClient, editor: User, session: Session
) -> None:
    response = client.post("/login", data={"email": editor.email.upper(), "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/editor/"
    page = client.get("/editor/")
    assert page.status_code == 200
    assert editor.email in page.get_data(as_text=True)
    session.refresh(editor)
    assert editor.last_login_at is not None


def test_admin_lands_on_the_admin_console(client: FlaskClient, admin: User) -> None:
    response = client.post("/login", data={"email": admin.email, "password": PASSWORD})
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/editor/").status_code == 200  # admins can do what editors do


def test_editor_is_refused_the_admin_console(editor_client: FlaskClient) -> None:
    assert editor_client.get("/admin/").status_code == 403


@pytest.mark.parametrize("path", ["/editor/", "/admin/"])
def test_consoles_send_strangers_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_wrong_password_and_unknown_address_get_the_same_answer(
    client: FlaskClient, editor: User
) -> None:
    wrong = client.post("/login", data={"email": editor.email, "password": "nope" * 4})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 200
    wrong_page = wrong.get_data(as_text=True).replace(editor.email, "ADDRESS")
    unknown_page = unknown.get_data(as_text=True).replace("nobody@example.com", "ADDRESS")
    assert "邮箱或密码不正确。" in wrong_page
    assert wrong_page == unknown_page


def test_disabled_user_cannot_sign_in(client: FlaskClient, factories: Factories) -> None:
    user = factories.user(role=Role.ADMIN, password=PASSWORD, active=False)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_logout_needs_post_and_ends_the_session(editor_client: FlaskClient) -> None:
    assert editor_client.get("/logout").status_code == 405
    assert editor_client.post("/logout").status_code == 302
    assert editor_client.get("/editor/").status_code == 302


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:x"])
def test_next_never_leaves_the_site(client: FlaskClient, editor: User, target: str) -> None:
    response = client.post(
        f"/login?next={target}", data={"email": editor.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/editor/"


def test_next_returns_to_a_console_page(client: FlaskClient, editor: User) -> None:
    response = client.post(
        "/login?next=/editor/", data={"email": editor.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/editor/"


def test_passwords_are_hashed_with_a_kdf(editor: User) -> None:
    assert PASSWORD not in editor.password_hash
    assert editor.password_hash.startswith("scrypt:")


def _strict_app(tmp_path: Path, database_url: str) -> Flask:
    return create_app(
        app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=True)
    )


def test_login_form_requires_a_csrf_token(
    tmp_path: Path, database_url: str, editor: User
) -> None:
    client = _strict_app(tmp_path, database_url).test_client()
    response = client.post("/login", data={"email": editor.email, "password": PASSWORD})
    assert response.status_code == 400


def test_login_is_rate_limited(tmp_path: Path, database_url: str, editor: User) -> None:
    app = create_app(app_config(database_url, tmp_path, RATELIMIT_ENABLED=True))
    client = app.test_client()
    codes = [
        client.post("/login", data={"email": editor.email, "password": "bad"}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [200] * 10
    assert codes[10] == 429
    page = client.post("/login?lang=en", data={"email": editor.email, "password": PASSWORD})
    assert page.status_code == 429
    assert "Too many requests" in page.get_data(as_text=True)


def test_users_cli_creates_lists_and_refuses_duplicates(runner: object, session: Session) -> None:
    from flask.testing import FlaskCliRunner

    assert isinstance(runner, FlaskCliRunner)
    result = runner.invoke(
        args=["users", "create", "Ed@Example.com", "--role", "editor", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    user = session.scalar(select(User).where(User.email == "ed@example.com"))
    assert user is not None and user.role == Role.EDITOR
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "user.create"))
    assert audit is not None and audit.target == "ed@example.com"

    again = runner.invoke(args=["users", "create", "ed@example.com", "--role", "admin"])
    assert again.exit_code != 0
    assert "already exists" in again.output

    short = runner.invoke(
        args=["users", "create", "x@example.com", "--role", "admin", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code != 0 and "12 characters" in short.output

    listed = runner.invoke(args=["users", "list"])
    assert "ed@example.com\teditor\tactive" in listed.output


def test_generated_password_is_printed_and_works(runner: object, client: FlaskClient) -> None:
    from flask.testing import FlaskCliRunner

    assert isinstance(runner, FlaskCliRunner)
    result = runner.invoke(args=["users", "create", "boss@example.com", "--role", "admin"])
    password = result.output.split("password: ")[1].strip()
    response = client.post("/login", data={"email": "boss@example.com", "password": password})
    assert response.headers["Location"] == "/admin/"


def test_ensure_admin_only_acts_on_an_empty_user_table(runner: object, session: Session) -> None:
    from flask.testing import FlaskCliRunner

    assert isinstance(runner, FlaskCliRunner)
    first = runner.invoke(args=["users", "ensure-admin"])
    assert "created admin" in first.output and "/login" in first.output
    second = runner.invoke(args=["users", "ensure-admin"])
    assert second.output == ""
    assert len(list(session.scalars(select(User)))) == 1
