"""A reader's own data: export as JSON, and erasure that leaves nothing personal behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import JSON, String, Text, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import BROWSER, link_in, outbox, run_jobs, subscribe
from webapp.config import settings_of
from webapp.models import (
    AuditEntry,
    Base,
    ConsentRecord,
    Subscriber,
    SubscriberStatus,
    Suppression,
    TestSend,
)
from webapp.readers.suppressions import address_hash, is_suppressed

ADDRESS = "Erin.Private@Example.com"
PERSONAL = ("erin.private@example.com", "林可欣", "保密科技有限公司", "203.0.113.7", "ErinBrowser")


def _everything_stored(session: Session) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every text and JSON value in every table."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        if not columns:
            continue
        for row in session.execute(select(*columns)).all():
            for column, value in zip(columns, row, strict=True):
                if value is not None:
                    found.append((table.name, column.name, value))
    return found


def _mentions(value: Any, needle: str) -> bool:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return needle.lower() in text.lower()


@pytest.fixture
def erin(app: Flask, client: FlaskClient, session: Session, factories: Factories) -> Subscriber:
    """A confirmed reader with a history: ledger entries, mails, an audit entry, a test send."""
    headers = {"User-Agent": "ErinBrowser/1.0"}
    environ = {"REMOTE_ADDR": "203.0.113.7"}
    client.post(
        "/",
        data={"email": ADDRESS, "topics": ["ai"], "language": "zh-CN", "consent": "y",
              "name": "林可欣", "company": "保密科技有限公司"},
        headers=headers, environ_base=environ,
    )
    client.post(link_in(outbox(app)[-1], "/confirm/"), headers=headers, environ_base=environ)
    reader = session.scalar(select(Subscriber))
    assert reader is not None
    client.post(f"/p/{reader.token}", data={"topics": ["ai", "data"], "language": "zh-CN",
                                            "name": "林可欣", "company": "保密科技有限公司",
                                            "tracking": "y"},
                headers=headers, environ_base=environ)
    edition = factories.edition(items={"policy": [{"topics": ["ai"]}]})
    session.add(TestSend(edition_id=edition.id, to_address=ADDRESS, topics=["ai"],
                         language="zh-CN", transport="outbox", actor="editor@example.com"))
    session.add(AuditEntry(actor="editor@example.com", action="edition.test_send",
                           target="2024-07", detail={"to": [ADDRESS]}))
    session.commit()
    session.refresh(reader)
    return reader


def test_export_downloads_profile_topics_and_consent_records(
    client: FlaskClient, erin: Subscriber
) -> None:
    response = client.get(f"/p/{erin.token}/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    data = response.get_json()
    assert data["profile"]["email"] == "Erin.Private@example.com"
    assert data["profile"]["name"] == "林可欣" and data["profile"]["status"] == "active"
    assert [t["slug"] for t in data["topics"]] == ["ai", "data"]
    assert [r["action"] for r in data["consent_records"]] == ["subscribe", "confirm", "topics"]
    assert data["consent_records"][0]["ip"] == "203.0.113.7"
    assert data["consent_records"][0]["text_version"]


@pytest.mark.postgres
def test_erasure_leaves_no_personal_data_in_the_database_or_the_outbox(
    app: Flask, client: FlaskClient, session: Session, erin: Subscriber
) -> None:
    stranger = subscribe(client, "someone.else@example.com")
    assert stranger.status_code == 200
    run_jobs(app)  # the worker has sent every mail so far
    before = _everything_stored(session)
    for needle in PERSONAL:
        assert any(_mentions(value, needle) for _, _, value in before), needle
    outbox_dir = Path(settings_of(app).outbox_dir)
    other_file = sorted(outbox_dir.glob("*.eml"))[-1]
    other_bytes = other_file.read_bytes()

    page = client.get(f"/p/{erin.token}/erase")
    assert page.status_code == 200 and "删除我的数据" in page.get_data(as_text=True)
    refused = client.post(f"/p/{erin.token}/erase", data={})  # the box must be ticked
    assert refused.status_code == 400
    done = client.post(f"/p/{erin.token}/erase", data={"understood": "y"}, headers=BROWSER)
    assert done.status_code == 303  # Post/Redirect/Get: reloading the answer erases nothing
    answer = client.get(done.headers["Location"])
    assert answer.status_code == 200 and "您的数据已删除" in answer.get_data(as_text=True)
    assert client.get(done.headers["Location"]).status_code == 410  # gone, on a later visit
    assert run_jobs(app).done == 1  # the worker redacts Erin's outbox files

    session.expire_all()
    leftovers = [
        (table, column)
        for table, column, value in _everything_stored(session)
        for needle in PERSONAL
        if _mentions(value, needle)
    ]
    assert leftovers == []
    for path in outbox_dir.glob("*.eml"):
        raw = path.read_bytes().lower()
        assert b"erin.private" not in raw and b"203.0.113.7" not in raw, path.name
    assert other_file.read_bytes() == other_bytes  # someone else's mail is untouched
    # Erin's confirmation and welcome are redacted in place, not deleted.
    notes = [m for m in outbox(app) if m["X-Yuebao-Redacted"] == "erased"]
    assert len(notes) == 2 and len(outbox(app)) == 3
    assert all(m["Subject"] == "[redacted]" and m["Message-ID"] for m in notes)

    reader = session.get(Subscriber, erin.id)
    assert reader is not None and reader.status == SubscriberStatus.ERASED
    assert reader.topics == [] and reader.email is None and reader.email_key is None
    # The ledger keeps what happened and when, and nothing about who or from where.
    records = list(session.scalars(select(ConsentRecord).where(
        ConsentRecord.subscriber_id == reader.id).order_by(ConsentRecord.id)))
    assert [r.action for r in records] == ["subscribe", "confirm", "topics", "erase"]
    assert all(r.ip is None and r.user_agent is None and r.detail is None for r in records)
    assert all(r.created_at is not None for r in records)
    # Never mailed again, and the keyed hash is all that is left of the address.
    hashed = address_hash(settings_of(app).erasure_key, ADDRESS)
    kept = session.scalar(select(Suppression).where(Suppression.address_hash == hashed))
    assert kept is not None and (kept.reason, kept.source, kept.email_key) == (
        "erased", "reader", None
    )
    assert is_suppressed(session, ADDRESS, settings_of(app).erasure_key)
    assert client.get(f"/p/{erin.token}").status_code == 410


def test_a_form_request_not_yet_answered_goes_with_the_erasure(
    app: Flask, client: FlaskClient, session: Session, erin: Subscriber
) -> None:
    """The public forms leave the address in a job for the worker to answer; an erasure that
    comes first takes those requests along, and leaves other addresses' requests alone."""
    run_jobs(app)
    for address in (ADDRESS.upper(), "someone.else@example.com"):
        asked = client.post("/preferences/link", data={"email": address})
        assert asked.status_code == 303
    erased = client.post(f"/p/{erin.token}/erase", data={"understood": "y"}, headers=BROWSER)
    assert erased.status_code == 303

    session.expire_all()
    jobs = [(table, value) for table, _, value in _everything_stored(session)
            if table == "background_jobs"]
    assert not [value for _, value in jobs if _mentions(value, "erin.private")]
    assert [value for _, value in jobs if _mentions(value, "someone.else@example.com")]


def test_an_existing_suppression_keeps_its_reason_but_loses_the_address(
    app: Flask, client: FlaskClient, factories: Factories, session: Session
) -> None:
    reader = factories.subscriber(email="bounced@example.com", status=SubscriberStatus.BOUNCED)
    session.add(Suppression(email_key="bounced@example.com", reason="bounce", source="ses",
                            note="550 bounced@example.com unknown"))
    session.commit()
    client.post(f"/p/{reader.token}/erase", data={"understood": "y"})
    session.expire_all()
    [row] = session.scalars(select(Suppression))
    assert row.email_key is None and row.note is None and row.reason == "bounce"
    assert row.address_hash == address_hash(settings_of(app).erasure_key, "bounced@example.com")
    # Subscribing anew and confirming (which proves the mailbox) lifts it.
    subscribe(client, "bounced@example.com")
    assert [m["To"] for m in outbox(app)] == ["bounced@example.com"]
    assert is_suppressed(session, "bounced@example.com", settings_of(app).erasure_key)
    client.post(link_in(outbox(app)[-1], "/confirm/"))
    session.expire_all()
    assert session.scalar(select(Suppression)) is None
    lifted = session.scalar(select(ConsentRecord).where(ConsentRecord.action == "unsuppress"))
    assert lifted is not None and lifted.detail == {"reasons": ["bounce"]}


def test_a_console_user_who_erases_their_reader_data_keeps_their_account(
    client: FlaskClient, factories: Factories, session: Session
) -> None:
    from webapp.models import Role, User

    editor = factories.user(role=Role.EDITOR, email="ed@example.com")
    session.add(AuditEntry(actor_id=editor.id, actor="ed@example.com", action="edition.import",
                           detail={"note": "ed@example.com imported it"}))
    reader = factories.subscriber(email="Ed@Example.com")
    client.post(f"/p/{reader.token}/erase", data={"understood": "y"})
    session.expire_all()
    assert session.scalar(select(User.email)) == "ed@example.com"
    audit = session.scalar(select(AuditEntry))
    assert audit is not None and audit.actor == "ed@example.com"
    assert audit.detail == {"note": "[erased] imported it"}
