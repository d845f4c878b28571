"""The console's page with the embeddable form's snippet, and the subscribe page the
snippet's no-JavaScript fallback opens."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, _signed_in, app_config
from tests.factories import Factories
from webapp import create_app
from webapp.db import database
from webapp.models import Role


def test_admins_get_the_snippet_with_its_fallback(admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/embed")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert (
        "&lt;script src=&#34;https://news.example.com/embed.js&#34; data-lang=&#34;zh-CN&#34; "
        "async&gt;&lt;/script&gt;" in text
    )
    assert "data-lang=&#34;en&#34;" in text
    # The fallback opens our page (GET): it never posts the subscription without our token.
    assert "&lt;form method=&#34;get&#34; action=&#34;https://news.example.com/&#34;&gt;" in text
    assert "name=&#34;topics&#34; value=&#34;ai&#34;" in text
    assert "EMBED_ORIGINS" in text
    assert page.headers["X-Frame-Options"] == "DENY"


def test_editors_may_not_see_it(editor_client: FlaskClient) -> None:
    assert editor_client.get("/admin/embed").status_code == 403


def test_the_page_lists_the_allowed_sites(database_url: str, tmp_path: Path) -> None:
    app = create_app(app_config(database_url, tmp_path, EMBED_ORIGINS="https://www.firm.example"))
    try:
        with database(app).sessionmaker() as session:
            admin = Factories(session).user(role=Role.ADMIN, password=PASSWORD)
            client = _signed_in(app, admin)
            assert "https://www.firm.example" in client.get("/admin/embed").get_data(as_text=True)
    finally:
        database(app).engine.dispose()


def test_the_fallback_opens_the_subscribe_page_with_the_topics_ticked(client: FlaskClient) -> None:
    page = client.get("/?lang=en&topics=ai&topics=nonsense").get_data(as_text=True)
    assert 'value="ai" data-topic checked' in page
    assert "nonsense" not in page


def test_the_script_is_served_cacheable(app: Flask) -> None:
    response = app.test_client().get("/embed.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert "attachShadow" in response.get_data(as_text=True)
