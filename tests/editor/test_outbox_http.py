"""The outbox viewer: list and open what the outbox transport wrote; nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, _signed_in
from tests.factories import Factories
from tests.mailbox import link_in, outbox, subscribe
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.editions.outbox import MASK
from webapp.models import Delivery, Edition, Role, Subscriber, User


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
    assert "[测试] " in listing and "｜元宇宙与数字经济月报" in listing  # the hook first
    name = sorted(p.name for p in Path(settings_of(app).outbox_dir).glob("*.eml"))[-1]
    page = editor_client.get(f"/editor/outbox/{name}?lang=en").get_data(as_text=True)
    assert "List-Unsubscribe-Post" in page and "second@example.com" in page
    assert f'src="/editor/outbox/{name}/html"' in page and 'sandbox="' in page
    assert "Plain-text part" in page
    frame = editor_client.get(f"/editor/outbox/{name}/html")
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    assert "<html" in frame.get_data(as_text=True).lower()


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


@pytest.fixture
def live_mail(
    app: Flask,
    client: FlaskClient,
    session: Session,
    runner: FlaskCliRunner,
    admin: User,
    approved: Edition,
) -> dict[str, str]:
    """What a real month leaves in the outbox: a reader's confirmation, welcome and edition, and
    an admin's password-reset mail; returns every token those messages carry, by what it is."""
    subscribe(client, "live.reader@example.com")
    confirm = link_in(outbox(app)[-1], "/confirm/")
    client.post(confirm)
    sent = runner.invoke(args=["send", "2024-07", "--now", "--wait"])
    assert sent.exit_code == 0, sent.output
    client.post("/password-reset", data={"email": admin.email})
    reset = link_in(outbox(app)[-1], "/password-reset/")
    reader = session.scalar(select(Subscriber))
    delivery = session.scalar(select(Delivery))
    assert reader is not None and delivery is not None
    return {
        "reader": reader.token,
        "delivery": delivery.token,
        "confirm": confirm.rsplit("/", 1)[1],
        "reset": reset.rsplit("/", 1)[1],
    }


def _every_view(client: FlaskClient, name: str) -> str:
    page = client.get(f"/editor/outbox/{name}?lang=en")
    frame = client.get(f"/editor/outbox/{name}/html")
    assert page.status_code == 200 and frame.status_code in (200, 404)
    return page.get_data(as_text=True) + frame.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMIN])
def test_the_viewer_masks_every_token_and_only_admins_get_the_file(
    app: Flask, factories: Factories, live_mail: dict[str, str], role: Role
) -> None:
    client = _signed_in(app, factories.user(role=role, password=PASSWORD))
    names = sorted(p.name for p in Path(settings_of(app).outbox_dir).glob("*.eml"))
    assert len(names) == 4  # confirmation, welcome, the edition, the password reset
    shown = client.get("/editor/outbox?lang=en").get_data(as_text=True)
    for what, token in live_mail.items():
        assert token not in shown, f"{what} token shown in the list"
    for name in names:
        seen = _every_view(client, name)
        for what, token in live_mail.items():
            assert token not in seen, f"{what} token shown in {name}"
        shown += seen
    for path in ("/p/", "/u/", "/v/", "/o/", "/c/", "/confirm/", "/password-reset/"):
        assert f"{path}{MASK}" in shown, path  # masked, where the link was
    header = re.search(r"List-Unsubscribe</th><td>([^<]*)</td>", shown)
    assert header and f"/u/{MASK}&gt;" in header.group(1)  # the one-click URL too

    raw = [client.get(f"/editor/outbox/{name}/raw") for name in names]
    if role == Role.EDITOR:
        assert [r.status_code for r in raw] == [403] * 4
        assert "/raw" not in client.get(f"/editor/outbox/{names[0]}").get_data(as_text=True)
    else:
        assert [r.status_code for r in raw] == [200] * 4
        assert raw[0].headers["Content-Disposition"] == f'attachment; filename="{names[0]}"'
        files = b"".join(r.get_data() for r in raw)
        assert files == b"".join((Path(settings_of(app).outbox_dir) / n).read_bytes()
                                 for n in names)
        assert live_mail["reader"].encode() in files  # the file as written, for admins only
        assert f"/editor/outbox/{names[0]}/raw" in client.get(
            f"/editor/outbox/{names[0]}").get_data(as_text=True)
