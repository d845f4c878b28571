"""Readers in the admin console: find, look into, add, change, unsubscribe, CSV in and out."""

from __future__ import annotations

import csv
import io
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.admin.conftest import make_send
from tests.factories import Factories
from tests.mailbox import outbox, run_jobs
from webapp.models import (
    AuditEntry,
    ConsentRecord,
    ConsentSource,
    ReaderMonth,
    Subscriber,
    SubscriberStatus,
    SubscriberToken,
)
from webapp.readers.suppressions import suppress

ASKED = {"consent_basis": "asked"}  # how the readers agreed: asked to subscribe


def _reader(session: Session, address: str) -> Subscriber:
    session.expire_all()
    found = session.scalar(select(Subscriber).where(Subscriber.email_key == address))
    assert found is not None
    return found


def test_readers_are_found_by_text_status_topic_and_language(
    admin_client: FlaskClient, factories: Factories
) -> None:
    factories.subscriber(email="ann@firm.cn", name="Ann Wang", topics=["ai"], language="en")
    factories.subscriber(email="bob@firm.cn", topics=["data"], status=SubscriberStatus.PAUSED)
    factories.subscriber(email="cat@other.cn", company="Firm & Co", topics=["ai"])

    def found(query: str) -> set[str]:
        page = admin_client.get(f"/admin/subscribers?{query}").get_data(as_text=True)
        return {a for a in ("ann@firm.cn", "bob@firm.cn", "cat@other.cn") if a in page}

    assert found("") == {"ann@firm.cn", "bob@firm.cn", "cat@other.cn"}
    assert found("q=FIRM") == {"ann@firm.cn", "bob@firm.cn", "cat@other.cn"}  # address, company
    assert found("q=wang") == {"ann@firm.cn"}
    assert found("status=paused") == {"bob@firm.cn"}
    assert found("topic=ai") == {"ann@firm.cn", "cat@other.cn"}
    assert found("topic=ai&language=en") == {"ann@firm.cn"}
    assert found("q=%25") == set()  # LIKE wildcards are taken literally


def test_a_readers_page_shows_ledger_deliveries_and_events(
    admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    send = make_send(factories, session, {"ann": {"topics": ["ai"]}})
    send.deliver("ann")
    send.click("ann", 1)
    reader = send.deliveries["ann"].subscriber
    session.add(ConsentRecord(subscriber_id=reader.id, action="confirm",
                              source=ConsentSource.FORM, ip="203.0.113.9"))
    session.commit()
    page = admin_client.get(f"/admin/subscribers/{reader.id}?lang=en").get_data(as_text=True)
    assert "2024-07" in page and "203.0.113.9" in page
    assert "Delivered" in page and "Clicked" in page and "link 1" in page
    assert "Confirmed the subscription" in page and "Web form" in page
    assert admin_client.get("/admin/subscribers/999999").status_code == 404


def test_an_admin_adds_a_reader_with_a_note_on_their_consent(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.topic("ai")
    form = {"email": "New.Reader@Example.com", "name": "New", "topics": ["ai"],
            "language": "en", "consent_note": "signed up at the May seminar"}
    response = admin_client.post("/admin/subscribers/new", data=form)
    assert response.status_code == 302
    reader = _reader(session, "new.reader@example.com")
    assert reader.status == SubscriberStatus.ACTIVE and [t.slug for t in reader.topics] == ["ai"]
    record = session.scalar(select(ConsentRecord).where(ConsentRecord.subscriber_id == reader.id))
    assert record is not None and record.source == ConsentSource.ADMIN
    assert record.detail and record.detail["note"] == "signed up at the May seminar"
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.action == "subscriber.add"))
    assert outbox(app) == []  # no confirmation mail, not even queued for the worker

    again = admin_client.post("/admin/subscribers/new", data=form)
    assert again.headers["Location"].endswith(f"/admin/subscribers/{reader.id}")
    no_note = admin_client.post("/admin/subscribers/new", data={**form, "email": "x@example.com",
                                                                "consent_note": ""})
    assert no_note.status_code == 200
    suppress(session, "blocked@example.com", reason="complaint", source="ses")
    session.commit()
    blocked = admin_client.post("/admin/subscribers/new",
                                data={**form, "email": "blocked@example.com", "lang": "en"})
    assert "blocked@example.com 在禁发名单上" in blocked.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Subscriber).where(Subscriber.email_key == "x@example.com")) is None


def test_topics_change_unsubscribe_and_a_new_preferences_link(
    client: FlaskClient, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.topic("data")
    reader = factories.subscriber(email="ann@example.com", topics=["ai"])
    old_token = reader.token
    base = f"/admin/subscribers/{reader.id}"

    admin_client.post(f"{base}/topics", data={"topics": ["ai", "data"], "language": "en"})
    reader = _reader(session, "ann@example.com")
    assert sorted(t.slug for t in reader.topics) == ["ai", "data"] and reader.language == "en"
    actions = [r.action for r in session.scalars(
        select(ConsentRecord).where(ConsentRecord.subscriber_id == reader.id))]
    assert actions == ["topics", "language"]
    refused = admin_client.post(f"{base}/topics", data={"topics": [], "language": "en"})
    assert refused.status_code == 302 and len(_reader(session, "ann@example.com").topics) == 2

    admin_client.post(f"{base}/rotate-token")
    reader = _reader(session, "ann@example.com")
    assert reader.token != old_token
    assert session.scalar(select(SubscriberToken.token)) == old_token
    assert client.get(f"/p/{old_token}").status_code == 404
    assert client.get(f"/u/{old_token}").status_code == 200  # old emails still unsubscribe

    admin_client.post(f"{base}/unsubscribe")
    reader = _reader(session, "ann@example.com")
    assert reader.status == SubscriberStatus.UNSUBSCRIBED
    assert session.scalar(select(ReaderMonth.unsubscribed)) == 1
    audit = set(session.scalars(select(AuditEntry.action)))
    assert {"subscriber.edit", "subscriber.rotate_token", "subscriber.unsubscribe"} <= audit


CSV = (
    "email,name,topics,language,status\n"
    "new@example.com,New,ai,en,active\n"
    "ann@example.com,Ann Li,ai;data,zh-CN,active\n"
    "same@example.com,,ai,zh-CN,active\n"
    "not-an-address,,ai,,\n"
    "x@example.com,,nope,,\n"
)


def test_csv_import_shows_what_will_change_and_every_bad_line_before_importing(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.topic("data")
    factories.subscriber(email="ann@example.com", name="Ann", topics=["ai"])
    factories.subscriber(email="same@example.com", topics=["ai"])

    preview = admin_client.post("/admin/subscribers/import?lang=en", data={"text": CSV, **ASKED})
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "new@example.com" in page and "<ins>Ann Li</ins>" in page and "<del>Ann</del>" in page
    assert "<td>new@example.com</td>" in page
    assert "<td>same@example.com</td>\n        <td>Already there</td>" in page
    assert "Unknown topic “nope”" in page
    assert "<td>5</td><td>Email</td><td>“not-an-address” is not" in page  # line and column
    assert _reader(session, "ann@example.com").name == "Ann"  # a preview writes nothing

    refused = admin_client.post("/admin/subscribers/import",
                                data={"text": CSV, "confirm": "1", **ASKED})
    assert refused.status_code == 200
    session.expire_all()
    assert session.scalar(select(Subscriber).where(Subscriber.email_key == "new@example.com")) \
        is None

    done = admin_client.post("/admin/subscribers/import",
                             data={"text": CSV, "confirm": "1", "skip_invalid": "y", **ASKED})
    assert done.status_code == 303 and "/admin/jobs/" in done.headers["Location"]
    assert _reader(session, "ann@example.com").name == "Ann"  # the worker imports it
    run_jobs(app)
    assert _reader(session, "ann@example.com").name == "Ann Li"
    assert _reader(session, "new@example.com").status == SubscriberStatus.ACTIVE


def test_csv_import_takes_a_file_and_refuses_a_bad_header(admin_client: FlaskClient) -> None:
    upload = {**ASKED, "file": (io.BytesIO("\ufeffemail\nfile@example.com\n".encode()), "r.csv")}
    page = admin_client.post("/admin/subscribers/import?lang=en", data=upload,
                             content_type="multipart/form-data").get_data(as_text=True)
    # Read from the file (the preview keeps it on the server: the page does not carry it).
    assert "1 rows in the file." in page and 'name="staged"' in page
    bad = admin_client.post("/admin/subscribers/import?lang=en",
                            data={"text": "mail,name\n", **ASKED})
    assert "Line 1" in bad.get_data(as_text=True)


def test_reader_export_is_csv_with_formulas_neutralised(
    app: Flask, admin_client: FlaskClient, factories: Factories
) -> None:
    factories.subscriber(email="ann@example.com", name="=cmd|' /C calc'!A0", topics=["ai"])
    job_page = admin_client.post("/admin/subscribers/export").headers["Location"]
    run_jobs(app)
    response = admin_client.get(job_page + "/download")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["email", "name", "topics", "language", "status"]
    assert rows[1][1] == "'=cmd|' /C calc'!A0"


def test_a_refused_console_field_is_tied_to_its_error_and_hint(
    admin_client: FlaskClient, factories: Factories
) -> None:
    factories.topic("ai")
    form = {"email": "tied@example.com", "topics": ["ai"], "language": "en", "consent_note": ""}
    page = admin_client.post("/admin/subscribers/new", data=form).get_data(as_text=True)
    note = re.search(r'<textarea[^>]*id="consent_note"[^>]*>', page)
    assert note, "no note field"
    assert 'aria-invalid="true"' in note.group(0)
    assert 'aria-describedby="consent_note-hint consent_note-error"' in note.group(0)
    assert 'id="consent_note-hint"' in page and 'id="consent_note-error"' in page
    email = re.search(r'<input[^>]*id="email"[^>]*>', page)
    assert email and "aria-invalid" not in email.group(0)
    # The page opens on a summary naming the field, with a link to it.
    summary = re.search(r'<div class="error-summary"[^>]*autofocus[^>]*>(.*?)</ul>', page, re.S)
    assert summary and page.index("error-summary") < page.index('<form method="post" novalidate')
    assert re.findall(r'<a href="#([\w-]+)">', summary.group(1)) == ["consent_note"]
