"""/api/v1/editions and /api/v1/suppressions over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import Api
from tests.factories import Factories
from webapp.delivery.sending import start_send
from webapp.models import AuditEntry, Edition, EditionStatus, Suppression
from webapp.readers.suppressions import suppress


def code(response: object) -> str:
    return response.get_json()["error"]["code"]  # type: ignore[attr-defined,no-any-return]


def test_editions_are_listed_and_read(api: Api, approved: Edition, factories: Factories) -> None:
    factories.edition("2024-08", items={"policy": [{"topics": ["ai"]}]})
    listed = api.get("/editions").get_json()["data"]
    assert [(e["month"], e["status"], e["items"]) for e in listed] == [
        ("2024-08", "draft", 1), ("2024-07", "approved", 4),
    ]
    body = api.get("/editions/2024-07").get_json()
    assert [s["key"] for s in body["sections"]] == ["policy", "industry", "deals"]
    first = body["sections"][0]["items"][0]
    assert (first["number"], first["title"], first["topics"]) == (1, "AI policy", ["ai"])
    assert body["sections"][2]["items"][0]["number"] == 4
    for month in ("2024-09", "2024-13", "x", "2024-07-01"):
        response = api.get(f"/editions/{month}")
        assert (response.status_code, code(response)) == (404, "not_found"), month


def test_send_status_and_stats(
    api: Api, approved: Edition, factories: Factories, make_key: Callable[..., str]
) -> None:
    approved.status = EditionStatus.SENT
    approved.send_started_at = datetime(2024, 7, 1, 2, 0, tzinfo=UTC)
    approved.send_finished_at = datetime(2024, 7, 1, 2, 10, tzinfo=UTC)
    factories.session.commit()
    factories.sent_to(approved, 10, hard_bounced=1, complained=1)
    progress = api.get("/editions/2024-07/send-status").get_json()
    assert progress["month"] == "2024-07" and progress["status"] == "sent"
    assert progress["planned"] == progress["sent"] == 10
    stats = api.get("/editions/2024-07/stats").get_json()
    assert stats["hard_bounced"] == 1 and stats["complained"] == 1
    assert stats["rates"]["complained"] == 0.1
    assert [i["number"] for i in stats["items"]] == [1, 2, 3, 4]
    assert "ai" in stats["topics"]
    editions_only = make_key("editions:read", name="editions")
    refused = api.get("/editions/2024-07/stats", key=editions_only)
    assert refused.status_code == 403 and code(refused) == "missing_scope"
    assert api.get("/editions/2024-07/send-status", key=editions_only).status_code == 200
    assert api.get("/editions", key=make_key("stats:read")).status_code == 403


def test_send_status_while_queued(
    api: Api, approved: Edition, factories: Factories, session: Session
) -> None:
    factories.subscriber(topics=["ai"])
    factories.subscriber(topics=["data"], language="en")
    edition = session.get(Edition, approved.id)
    assert edition is not None
    start_send(session, edition, actor="cli")
    session.commit()
    progress = api.get("/editions/2024-07/send-status").get_json()
    assert progress["status"] == "sending" and progress["queued"] == progress["planned"] >= 1


def test_suppressions_are_added_listed_and_lifted(api: Api, session: Session) -> None:
    suppress(session, "bounced@example.com", reason="bounce", source="ses")
    session.commit()
    added = api.post("/suppressions", json={"email": "Stop@Example.com", "note": "asked by phone"})
    assert added.status_code == 200
    row = added.get_json()
    assert (row["email"], row["reason"], row["source"], row["note"]) == (
        "stop@example.com", "manual", "api", "asked by phone"
    )
    again = api.post("/suppressions", json={"email": "stop@example.com"})
    assert again.get_json()["id"] == row["id"]

    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=1" + (f"&after={cursor}" if cursor else "")
        body = api.get(f"/suppressions{query}").get_json()
        seen += [r["email"] for r in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["bounced@example.com", "stop@example.com"]

    for bad, field in (({"email": "nope"}, "email"), ({"email": "a@example.com", "x": 1}, "x")):
        refused = api.post("/suppressions", json=bad)
        assert refused.status_code == 422 and field in refused.get_json()["error"]["details"][
            "fields"]
    no_reason = api.post(f"/suppressions/{row['id']}/remove", json={"reason": "   "})
    assert no_reason.status_code == 422 and code(no_reason) == "validation_failed"
    assert api.post(f"/suppressions/{row['id']}/remove", json={}).status_code == 422
    lifted = api.post(f"/suppressions/{row['id']}/remove", json={"reason": "wrong address"})
    assert lifted.status_code == 200 and lifted.get_json()["email"] == "stop@example.com"
    assert session.scalar(select(Suppression).where(Suppression.id == row["id"])) is None
    gone = api.post(f"/suppressions/{row['id']}/remove", json={"reason": "again"})
    assert gone.status_code == 404
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("suppression.%"))
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["suppression.add", "suppression.remove"]
    for bad in ("after=abc", "after=" + "czo0Mg", "limit=0"):
        assert api.get(f"/suppressions?{bad}").status_code == 400, bad


def test_suppressions_need_the_subscriber_scopes(
    api: Api, make_key: Callable[..., str]
) -> None:
    reader = make_key("subscribers:read", name="reader")
    assert api.get("/suppressions", key=reader).status_code == 200
    refused = api.post("/suppressions", key=reader, json={"email": "a@example.com"})
    assert refused.status_code == 403 and code(refused) == "missing_scope"


def test_approving_a_draft(
    api: Api, factories: Factories, make_key: Callable[..., str], session: Session
) -> None:
    factories.edition("2024-07", items={"policy": [{"topics": ["ai"]}, {"title": "Loose"}]})
    not_ready = api.post("/editions/2024-07/approve", json={})
    assert not_ready.status_code == 409 and code(not_ready) == "edition_not_ready"
    assert not_ready.get_json()["error"]["details"] == {"items_without_topic": ["Loose"]}

    factories.edition("2024-08", items={"policy": [{"topics": ["ai"]}]})
    factories.subscriber(topics=["ai"], language="en")
    refused = api.post("/editions/2024-08/approve", json={})
    assert refused.status_code == 409 and code(refused) == "untranslated_items"
    assert refused.get_json()["error"]["details"] == {"readers": 1, "items": 1}
    reader_only = make_key("editions:read", name="reader")
    assert api.post("/editions/2024-08/approve", key=reader_only, json={}).status_code == 403
    approved = api.post("/editions/2024-08/approve", json={"allow_untranslated": True})
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    twice = api.post("/editions/2024-08/approve", json={"allow_untranslated": True})
    assert twice.status_code == 409 and code(twice) == "edition_state"
    assert twice.get_json()["error"]["details"] == {"status": "approved", "allowed": ["draft"]}
    assert api.post("/editions/2024-08/approve", json={"allow": True}).status_code == 422
    assert api.post("/editions/2099-01/approve", json={}).status_code == 404
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "edition.approve"))
    assert [a.actor for a in audit] == [approved_actor(session)]


def approved_actor(session: Session) -> str:
    from webapp.accounts.api_keys import key_actor
    from webapp.models import ApiKey

    return key_actor(session.scalars(select(ApiKey).where(ApiKey.name == "CRM")).one())


def test_scheduling_and_unscheduling(api: Api, approved: Edition) -> None:
    with time_machine.travel(datetime(2024, 7, 1, 0, 0, tzinfo=UTC), tick=False):
        for at in ("2024-06-30T09:00:00+08:00", "2024-07-02T09:00:00", "soon"):
            refused = api.post("/editions/2024-07/schedule", json={"at": at})
            assert refused.status_code == 422, at
            assert "at" in refused.get_json()["error"]["details"]["fields"]
        done = api.post("/editions/2024-07/schedule", json={"at": "2024-07-02T09:00:00+08:00"})
        assert done.status_code == 200
        assert done.get_json()["status"] == "scheduled"
        assert done.get_json()["scheduled_at"] == "2024-07-02T01:00:00+00:00"
        back = api.post("/editions/2024-07/unschedule")
        assert back.status_code == 200 and back.get_json()["status"] == "approved"
        again = api.post("/editions/2024-07/unschedule")
        assert again.status_code == 409 and code(again) == "edition_state"


REPORT = (Path(__file__).parents[2] / "webapp" / "data" / "2024-07-report.txt").read_bytes()


def test_a_report_file_is_imported_as_a_draft(api: Api, session: Session) -> None:
    response = api.post("/editions/import", data=REPORT, content_type="text/plain")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["month"] == "2024-07" and body["status"] == "draft" and body["items"] > 10
    assert all(item["topics"] for s in body["sections"] for item in s["items"][:1])
    again = api.post("/editions/import", data=REPORT, content_type="text/plain")
    assert again.status_code == 409 and code(again) == "edition_exists"
    assert again.get_json()["error"]["details"] == {"status": "draft"}
    replaced = api.post("/editions/import?replace=true", data=REPORT, content_type="text/plain")
    assert replaced.status_code == 201
    audit = session.scalars(select(AuditEntry.actor).where(AuditEntry.action.like("edition.%")))
    assert all(actor.startswith("api-key:") for actor in audit)


def test_a_report_that_cannot_be_read_changes_nothing(
    api: Api, session: Session, make_key: Callable[..., str]
) -> None:
    cases = [
        (b"%PDF-1.4 not really a pdf", "application/pdf", 422, "report_unreadable"),
        (b"just some words\n", "text/plain", 422, "report_unreadable"),
        (b"x" * (20 * 1024 * 1024 + 2), "text/plain", 413, "payload_too_large"),
    ]
    for data, content_type, status, expected in cases:
        response = api.post("/editions/import", data=data, content_type=content_type)
        assert (response.status_code, code(response)) == (status, expected), data[:20]
    for query in ("month=2024-13", "replace=maybe", "allow_incomplete="):
        response = api.post(f"/editions/import?{query}", data=REPORT, content_type="text/plain")
        assert response.status_code == 400, query
    reader = make_key("editions:read", name="reader")
    refused = api.post("/editions/import", key=reader, data=REPORT, content_type="text/plain")
    assert refused.status_code == 403
    assert session.scalar(select(Edition)) is None
