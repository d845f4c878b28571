"""The outbox viewer: list and open what the outbox transport wrote; nothing else."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, _signed_in
from tests.factories import Factories
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.models import Edition, Role


def _test_send(client: FlaskClient, *addresses: str) -> None:
    response = client.post("/editor/editions/2024-07/test-send",
                           data={"addresses": ",".join(addresses), "all_topics": "y",
                                 "language": "zh-CN"})
    assert response.status_code == 302


def test_messages_are_listed_newest_first_and_open_with_headers_html_and_text(
    app: Flask, editor_client: FlaskClient, approved: Edition
) -> None:
    _test_send(editor_client, "first@example.com")
    _test_send(editor_client, "second@example.com")
    listing = editor_client.get("/editor/outbox?lang=en").get_data(as_text=True)
    listing = listing.split("<tbody>", 1)[1]
    assert listing.index("second@example.com") < listing.index("first@example.com")
    assert "[测试] 元宇宙与数字经济月报" in listing
    name = sorted(p.name for p in Path(settings_of(app).outbox_dir).glob("*.eml"))[-1]
    page = editor_client.get(f"/editor/outbox/{name}?lang=en").get_data(as_text=True)
    assert "List-Unsubscribe-Post" in page and "second@example.com" in page
    assert f'src="/editor/outbox/{name}/html"' in page and 'sandbox="' in page
    assert "Plain-text part" in page
    frame = editor_client.get(f"/editor/outbox/{name}/html")
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    assert "<html" in frame.get_data(as_text=True).lower()


def test_the_outbox_is_paginated(app: Flask, editor_client: FlaskClient) -> None:
    directory = Path(settings_of(app).outbox_dir)
    directory.mkdir(parents=True)
    for n in range(55):
        (directory / f"20240701T0000{n:02d}000000Z-m{n}.eml").write_text(
            f"To: r{n}@example.com\nSubject: message {n}\n\nbody\n"
        )
    first = editor_client.get("/editor/outbox?lang=en").get_data(as_text=True)
    assert "message 54" in first and "message 4<" not in first and "Page 1 of 2" in first
    second = editor_client.get("/editor/outbox?page=2&lang=en").get_data(as_text=True)
    assert "message 4<" in second and "message 54" not in second


def test_no_path_leaves_the_outbox(app: Flask, editor_client: FlaskClient, tmp_path: Path) -> None:
    Path(settings_of(app).outbox_dir).mkdir(parents=True)
    (tmp_path / "var" / "secret.eml").write_text("Subject: secret\n\nsecret")
    for name in ("..%2Fsecret.eml", "%2E%2E%2Fsecret.eml", ".secret.eml", "secret.txt"):
        assert editor_client.get(f"/editor/outbox/{name}").status_code == 404, name
        assert editor_client.get(f"/editor/outbox/{name}/html").status_code == 404, name
    assert editor_client.get("/editor/outbox/../secret.eml").status_code == 404


def test_with_ses_there_is_no_outbox_to_view(
    database_url: str, tmp_path: Path, factories: Factories
) -> None:
    app = create_app({**_config(database_url, tmp_path), "MAIL_TRANSPORT": "ses"})
    client = _signed_in(app, factories.user(role=Role.EDITOR, password=PASSWORD))
    assert client.get("/editor/outbox").status_code == 404
    assert "/editor/outbox" not in client.get("/editor/").get_data(as_text=True)
    database(app).engine.dispose()


def _config(database_url: str, tmp_path: Path) -> dict[str, object]:
    from tests.conftest import app_config

    return app_config(database_url, tmp_path)
