from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.conftest import app_config
from tests.factories import Factories
from webapp import create_app
from webapp.models import EditionStatus

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
