"""Every editor page needs a signed-in editor (or admin), and every form its CSRF token."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, app_config
from tests.factories import Factories
from webapp import create_app
from webapp.db import database
from webapp.models import Edition, EditionStatus, Role


def _editor_urls(app: Flask) -> list[tuple[str, str]]:
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("editor."):
            values = {"month": "2024-07", "item_id": 1, "name": "x.eml"}
            path = rule.rule
            for key, value in values.items():
                path = path.replace(f"<{key}>", str(value)).replace(f"<int:{key}>", str(value))
            methods = rule.methods or set()
            method = "POST" if "POST" in methods and "GET" not in methods else "GET"
            urls.append((method, path))
    return urls


def test_every_editor_route_sends_strangers_to_sign_in(app: Flask, client: FlaskClient) -> None:
    urls = _editor_urls(app)
    assert len(urls) >= 17
    for method, path in urls:
        response = client.open(path, method=method)
        assert response.status_code == 302, (method, path)
        assert "/login" in response.headers["Location"], (method, path)


def test_admins_may_use_the_editor_console(
    admin_client: FlaskClient, approved: Edition
) -> None:
    assert admin_client.get("/editor/editions/2024-07").status_code == 200


def test_posts_without_a_csrf_token_are_refused(
    database_url: str, tmp_path: Path, factories: Factories, approved: Edition
) -> None:
    app = create_app(app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True))
    editor = factories.user(role=Role.EDITOR, password=PASSWORD)
    client = app.test_client()
    login = client.get("/login")
    token = login.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    token = token.split('"')[0]
    signed_in = client.post("/login", data={"email": editor.email, "password": PASSWORD,
                                            "csrf_token": token})
    assert signed_in.status_code == 302
    refused = client.post("/editor/editions/2024-07/send")
    assert refused.status_code == 400
    page = client.get("/editor/editions/2024-07/send").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    with database(app).sessionmaker() as session:
        edition = session.get(Edition, approved.id)
        assert edition is not None and edition.status == EditionStatus.APPROVED
    database(app).engine.dispose()
