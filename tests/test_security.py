"""Who may do what, and the headers every page and every email shown as a page carries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

from tests.conftest import _signed_in, app_config
from tests.factories import Factories
from webapp import create_app
from webapp.models import EditionStatus, Role
from webapp.security import email_document, load_user, role_required

TEMPLATES = Path(__file__).resolve().parents[1] / "webapp" / "templates"


@pytest.fixture
def token(factories: Factories) -> str:
    factories.edition(status=EditionStatus.SENT, items={"policy": [{"topics": ["ai"]}]})
    return factories.subscriber(topics=["ai"]).token


def _public_pages(token: str) -> list[str]:
    return [
        "/", "/preferences/link", "/archive", "/archive/2024-07", "/archive/feed.xml",
        f"/p/{token}", f"/p/{token}/erase", f"/u/{token}", "/confirm/not-a-link", "/login",
        "/no-such-page",
    ]


def test_every_page_has_a_policy_without_inline_scripts_and_denies_framing(
    client: FlaskClient, token: str
) -> None:
    for path in _public_pages(token):
        headers = client.get(path).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy and headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "Strict-Transport-Security" not in headers  # development


def test_token_pages_send_no_referrer(client: FlaskClient, token: str) -> None:
    for path in (f"/p/{token}", f"/p/{token}/export", f"/u/{token}", "/confirm/x.y.z", "/v/x"):
        response = client.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert response.headers["Cache-Control"] == "no-store", path
    for path in ("/c/x/1", "/o/x.gif"):  # a click and the open pixel keep their own caching
        response = client.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert "no-store" in response.headers["Cache-Control"], path
    assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).headers[
        "Referrer-Policy"
    ] == "no-referrer"
    for path in ("/", "/archive"):
        assert client.get(path).headers["Referrer-Policy"] == "same-origin"


def test_production_adds_hsts(tmp_path: Path, database_url: str) -> None:
    app = create_app(
        app_config(
            database_url,
            tmp_path,
            YUEBAO_ENV="production",
            WEB_CONCURRENCY="1",  # one web process: in-memory rate limits are the real count
            MAIL_FROM="report@news.example.com",
            ORG_POSTAL_ADDRESS="1 Example Street",
        )
    )
    response = app.test_client().get("/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_rendered_pages_carry_no_inline_script_or_style(client: FlaskClient, token: str) -> None:
    for path in _public_pages(token):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\sstyle\s*=", page), path
        assert not re.search(r"\son[a-z]+\s*=", page), path  # no inline event handlers
        assert "http://" not in page.replace("http://www.w3.org", ""), path  # no outside assets


def test_templates_carry_no_inline_script_or_style() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\sstyle\s*=", text), template


# Signing in and roles


def test_a_session_loads_only_an_active_user_it_names(app: Flask, factories: Factories) -> None:
    active = factories.user(role=Role.EDITOR)
    gone = factories.user(role=Role.ADMIN, active=False)
    with app.app_context():
        loaded = load_user(f"{active.id}:1")
        assert loaded is not None and loaded.id == active.id
        assert load_user(f"{gone.id}:1") is None  # deactivated: signed out at the next request
        assert load_user("999999:1") is None
        assert load_user(f"{active.id}:2") is None  # not (or no longer) its session version
        assert load_user(str(active.id)) is None  # a cookie from before session versions
        forgeries = ("", "1 ", "-1", "1.0", "abc", "1; DROP TABLE users", f"{active.id}:",
                     f"{active.id}:1:1", f"{active.id}:-1", f"{active.id}:١", "١:1")
        for forged in forgeries:
            assert load_user(forged) is None, forged


@pytest.fixture
def guarded(app: Flask) -> Flask:
    """Two views behind the role guard, added before the app serves its first request."""

    @app.get("/_editors")
    @role_required(Role.EDITOR)
    def for_editors() -> str:
        return "editors' page"

    @app.get("/_admins")
    @role_required(Role.ADMIN)
    def for_admins() -> str:
        return "admins' page"

    return app


def test_the_role_guard_sends_strangers_to_sign_in(guarded: Flask) -> None:
    client = guarded.test_client()
    for path in ("/_editors", "/_admins"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")


def test_the_role_guard_refuses_editors_what_only_admins_may_do(
    guarded: Flask, factories: Factories
) -> None:
    editor = _signed_in(guarded, factories.user(role=Role.EDITOR))
    assert editor.get("/_editors").get_data(as_text=True) == "editors' page"
    assert editor.get("/_admins").status_code == 403


def test_admins_pass_every_role_guard(guarded: Flask, factories: Factories) -> None:
    admin = _signed_in(guarded, factories.user(role=Role.ADMIN))
    assert admin.get("/_editors").get_data(as_text=True) == "editors' page"
    assert admin.get("/_admins").get_data(as_text=True) == "admins' page"


def test_a_user_deactivated_while_signed_in_is_stopped_at_the_guard(
    guarded: Flask, factories: Factories
) -> None:
    user = factories.user(role=Role.ADMIN)
    client = _signed_in(guarded, user)
    user.active = False
    factories.session.commit()
    assert client.get("/_admins").status_code == 302


# An email shown as a page


def _served(app: Flask, **options: bool) -> Response:
    @app.get("/_email")
    def email() -> Response:
        return email_document("<p style=\"color:red\">你好</p>", **options)

    return app.test_client().get("/_email")  # type: ignore[return-value]


def test_an_email_page_runs_nothing_fetches_no_images_and_is_framed_only_by_our_pages(
    app: Flask,
) -> None:
    response = _served(app)
    assert response.get_data(as_text=True) == '<p style="color:red">你好</p>'
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]  # not the site-wide one
    assert policy == ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                      "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_readers_web_version_may_load_our_own_images(app: Flask) -> None:
    policy = _served(app, own_images=True).headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in policy and "script-src" not in policy
