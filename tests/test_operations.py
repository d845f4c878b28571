from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import app_config
from webapp import create_app


@pytest.mark.postgres
def test_healthz_answers_when_the_database_does(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "up"}


def test_healthz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    # Nothing listens on port 9 of loopback: the connection is refused at once.
    app = create_app(app_config("postgresql://postgres@127.0.0.1:9/yuebao", tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json is not None and response.json["status"] == "unavailable"


def test_not_found_is_a_friendly_page_in_both_languages(client: FlaskClient) -> None:
    zh = client.get("/no-such-page", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 404
    assert "页面不存在" in zh.get_data(as_text=True)
    en = client.get("/no-such-page?lang=en")
    assert en.status_code == 404
    assert "This page does not exist." in en.get_data(as_text=True)


def test_server_errors_never_show_a_traceback(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    @app.get("/_boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/_boom?lang=en")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internals" not in body and "Traceback" not in body
    assert "Something went wrong" in body
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_language_choice_is_remembered(client: FlaskClient) -> None:
    client.get("/?lang=en")
    page = client.get("/", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in page.get_data(as_text=True)
    client.get("/?lang=zh-CN")
    assert '<html lang="zh-CN">' in client.get("/").get_data(as_text=True)


def test_accept_language_picks_the_default(client: FlaskClient) -> None:
    en = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in en.get_data(as_text=True)
    other = client.get("/", headers={"Accept-Language": "fr"})
    assert '<html lang="zh-CN">' in other.get_data(as_text=True)


def test_every_response_carries_a_request_id_and_security_headers(client: FlaskClient) -> None:
    response = client.get("/", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"]
    assert len(generated) == 32
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # development


def test_worker_starts_and_stops(runner: object) -> None:
    from flask.testing import FlaskCliRunner

    assert isinstance(runner, FlaskCliRunner)
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
