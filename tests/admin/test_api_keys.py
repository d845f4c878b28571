"""The admin console's API keys: made with scopes, shown once after a redirect, revoked after a
confirmation; admins only, CSRF-checked, audited."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import _signed_in, app_config
from webapp import create_app
from webapp.accounts.api_keys import authenticate
from webapp.db import database
from webapp.models import ApiKey, AuditEntry, User

KEY = re.compile(r"yb_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


def test_an_admin_makes_a_key_that_is_shown_once(
    admin_client: FlaskClient, session: Session, admin: User
) -> None:
    page = admin_client.get("/admin/api-keys")
    assert page.status_code == 200
    assert "subscribers:erase" in page.get_data(as_text=True)
    made = admin_client.post(
        "/admin/api-keys", data={"name": "CRM", "scopes": ["subscribers:read", "stats:read"]}
    )
    assert made.status_code == 303
    assert KEY.search(made.headers["Location"]) is None  # never in a URL
    shown = admin_client.get(made.headers["Location"])
    assert shown.headers["Cache-Control"] == "no-store"
    found = KEY.findall(shown.get_data(as_text=True))
    assert len(found) == 1
    row = session.scalars(select(ApiKey)).one()
    assert authenticate(session, found[0]) == row
    assert row.created_by == admin.email and row.created_by_id == admin.id
    assert row.scopes == ["subscribers:read", "stats:read"]
    again = admin_client.get(made.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert KEY.search(again) is None and "cannot be shown again" in again
    listing = admin_client.get("/admin/api-keys").get_data(as_text=True)
    assert f"yb_{row.prefix}_…" in listing and KEY.search(listing) is None
    audit = session.scalars(select(AuditEntry)).one()
    assert (audit.action, audit.actor) == ("api_key.create", admin.email)


def test_a_key_needs_a_name_and_a_scope(admin_client: FlaskClient, session: Session) -> None:
    for data in ({"name": "CRM"}, {"name": "", "scopes": ["stats:read"]},
                 {"name": "CRM", "scopes": ["everything"]}):
        response = admin_client.post("/admin/api-keys", data=data)
        assert response.status_code == 200, data
        assert "field-error" in response.get_data(as_text=True)
    assert session.scalar(select(ApiKey)) is None


def test_revoking_asks_first_then_refuses_the_key(
    admin_client: FlaskClient, session: Session
) -> None:
    admin_client.post("/admin/api-keys", data={"name": "CRM", "scopes": ["stats:read"]})
    row = session.scalars(select(ApiKey)).one()
    ask = admin_client.get(f"/admin/api-keys/{row.id}/revoke?lang=en")
    assert ask.status_code == 200 and "cannot be undone" in ask.get_data(as_text=True)
    session.refresh(row)
    assert row.revoked_at is None
    done = admin_client.post(f"/admin/api-keys/{row.id}/revoke")
    assert done.status_code == 302
    session.refresh(row)
    assert row.revoked_at is not None
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["api_key.create", "api_key.revoke"]
    assert admin_client.get("/admin/api-keys/999/revoke").status_code == 404


def test_editors_cannot_see_or_make_keys(editor_client: FlaskClient, session: Session) -> None:
    assert editor_client.get("/admin/api-keys").status_code == 403
    made = editor_client.post("/admin/api-keys", data={"name": "x", "scopes": ["stats:read"]})
    assert made.status_code == 403
    assert session.scalar(select(ApiKey)) is None


def test_making_a_key_needs_the_csrf_token(
    database_url: str, tmp_path: Path, admin: User, session: Session
) -> None:
    app: Flask = create_app(app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True))
    try:
        client = _signed_in(app, admin)
        response = client.post("/admin/api-keys", data={"name": "x", "scopes": ["stats:read"]})
        assert response.status_code == 400
        assert session.scalar(select(ApiKey)) is None
    finally:
        database(app).engine.dispose()
