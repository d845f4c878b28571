"""Suppressions, topics, console users and the audit log, as an admin changes them."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import Factories
from tests.mailbox import run_jobs
from webapp.config import settings_of
from webapp.models import AuditEntry, Role, Suppression, Topic, User
from webapp.readers.suppressions import address_hash, suppress
from webapp.readers.topics import active_topics, keyword_rules


def _audit(session: Session, action: str) -> AuditEntry:
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
    )
    assert entry is not None, action
    return entry


def test_suppressions_are_searched_added_and_lifted_only_with_a_reason(
    admin_client: FlaskClient, session: Session
) -> None:
    suppress(session, "bounced@example.com", reason="bounce", source="ses")
    session.add(Suppression(address_hash=address_hash("test-erasure-key", "gone@example.com"),
                            reason="erased", source="reader"))
    session.commit()
    listing = admin_client.get("/admin/suppressions?q=bounced&lang=en").get_data(as_text=True)
    assert "bounced@example.com" in listing
    by_hash = admin_client.get("/admin/suppressions?q=Gone@Example.com&lang=en")
    assert "erased; kept as a keyed hash" in by_hash.get_data(as_text=True)

    admin_client.post("/admin/suppressions", data={"email": "Typo@Example.com", "note": "asked"})
    added = session.scalar(select(Suppression).where(Suppression.email_key == "typo@example.com"))
    assert added is not None and (added.reason, added.source, added.note) == (
        "manual", "admin", "asked")
    assert _audit(session, "suppression.add").target == "typo@example.com"

    added_id = added.id
    remove = f"/admin/suppressions/{added_id}/remove"
    assert "Why may this address" in admin_client.get(remove + "?lang=en").get_data(as_text=True)
    admin_client.post(remove, data={"reason": "   "})
    session.expire_all()
    assert session.get(Suppression, added_id) is not None  # no reason, no removal
    admin_client.post(remove, data={"reason": "the reader wrote to us from this address"})
    session.expire_all()
    assert session.get(Suppression, added_id) is None
    entry = _audit(session, "suppression.remove")
    assert entry.detail is not None
    assert entry.detail["reason"] == "the reader wrote to us from this address"
    assert entry.detail["was"]["reason"] == "manual"


def test_topics_are_added_renamed_reordered_retired_and_restored(
    client: FlaskClient, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    reader = factories.subscriber(topics=["ai", "data"])
    created = admin_client.post("/admin/topics", data={
        "slug": "green-finance", "name_zh": "绿色金融", "name_en": "Green finance",
        "keywords": "绿色债券\nESG, 碳中和"})
    topic = session.scalar(select(Topic).where(Topic.slug == "green-finance"))
    assert created.status_code == 302 and topic is not None
    assert keyword_rules(session)["green-finance"] == ["绿色债券", "ESG", "碳中和"]
    bad = admin_client.post("/admin/topics", data={"slug": "Not a slug", "name_zh": "x",
                                                   "name_en": "x"})
    assert bad.status_code == 200 and session.scalar(select(Topic).where(Topic.name_zh == "x")) \
        is None

    admin_client.post(f"/admin/topics/{topic.id}", data={
        "name_zh": "绿色金融与ESG", "name_en": "Green finance & ESG",
        "description_en": "Sustainable finance", "keywords": "ESG"})
    session.expire_all()
    assert (topic.name_zh, topic.name_en, topic.keywords) == (
        "绿色金融与ESG", "Green finance & ESG", ["ESG"])

    admin_client.post(f"/admin/topics/{topic.id}/move", data={"direction": "up"})
    session.expire_all()
    order = [t.slug for t in active_topics(session)]
    assert order.index("green-finance") == len(order) - 2

    ai = factories.topic("ai")
    page = admin_client.get(f"/admin/topics/{ai.id}?lang=en").get_data(as_text=True)
    assert "1 readers receiving the report chose it" in page
    admin_client.post(f"/admin/topics/{ai.id}/retire")
    session.expire_all()
    assert "ai" not in [t.slug for t in active_topics(session)]
    assert 'value="ai"' not in client.get("/?lang=en").get_data(as_text=True)
    assert sorted(t.slug for t in session.get(type(reader), reader.id).topics) == ["ai", "data"]
    admin_client.post(f"/admin/topics/{ai.id}/restore")
    session.expire_all()
    assert "ai" in [t.slug for t in active_topics(session)]
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.target.in_(
        ["ai", "green-finance"]))))
    assert actions == {"topic.create", "topic.edit", "topic.move", "topic.retire",
                       "topic.restore"}


def test_users_are_added_invited_given_roles_and_deactivated(
    app: Flask, admin_client: FlaskClient, admin: User, session: Session
) -> None:
    shown = admin_client.post("/admin/users?lang=en", data={
        "email": "ed@example.com", "role": "editor", "mode": "password"})
    page = shown.get_data(as_text=True)
    assert "shown only this once" in page
    password = page.split('<p class="secret"><code>')[1].split("</code>")[0]
    fresh = app.test_client()
    assert fresh.post("/login", data={"email": "ed@example.com",
                                      "password": password}).status_code == 302

    invited = admin_client.post("/admin/users", data={
        "email": "boss@example.com", "role": "admin", "mode": "invite"})
    assert invited.status_code == 302
    run_jobs(app)  # the worker sends the invitation
    mails = list(Path(settings_of(app).outbox_dir).glob("*.eml"))
    assert len(mails) == 1 and "/invitation/" in mails[0].read_text()

    ed = session.scalar(select(User).where(User.email == "ed@example.com"))
    assert ed is not None
    admin_client.post(f"/admin/users/{ed.id}/role", data={"role": "admin"})
    session.expire_all()
    assert ed.role == Role.ADMIN
    admin_client.post(f"/admin/users/{ed.id}/deactivate")
    session.expire_all()
    assert not ed.active
    assert fresh.get("/editor/").status_code == 302  # signed out at once
    admin_client.post(f"/admin/users/{ed.id}/activate")
    session.expire_all()
    assert ed.active

    # Nobody locks the console: not yourself, not the last admin.
    admin_client.post(f"/admin/users/{admin.id}/deactivate")
    admin_client.post(f"/admin/users/{admin.id}/role", data={"role": "editor"})
    session.expire_all()
    assert admin.active and admin.role == Role.ADMIN
    assert {"user.create", "user.invite", "user.role", "user.deactivate", "user.activate"} <= set(
        session.scalars(select(AuditEntry.action)))


def test_the_audit_log_is_filtered_by_kind_actor_and_target(
    admin_client: FlaskClient, admin: User, factories: Factories
) -> None:
    admin_client.post("/admin/suppressions", data={"email": "a@example.com"})
    admin_client.post("/admin/topics", data={"slug": "new-topic", "name_zh": "新", "name_en": "N"})
    everything = admin_client.get("/admin/audit?lang=en").get_data(as_text=True)
    assert "Suppressed an address" in everything and "Added a topic" in everything
    topics_only = admin_client.get("/admin/audit?kind=topic").get_data(as_text=True)
    assert "Added a topic" in topics_only and "Suppressed an address" not in topics_only
    by_target = admin_client.get("/admin/audit?target=a@example").get_data(as_text=True)
    assert "Suppressed an address" in by_target and "Added a topic" not in by_target
    assert admin.email in admin_client.get(f"/admin/audit?actor={admin.email}").get_data(
        as_text=True)
    assert "Nothing recorded" in admin_client.get("/admin/audit?actor=nobody&lang=en").get_data(
        as_text=True)
    assert PASSWORD not in everything
