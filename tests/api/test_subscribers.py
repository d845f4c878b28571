"""/api/v1/subscribers over HTTP: list with filters and keyset paging, read, add (double opt-in
or on a stated consent), change, unsubscribe, erase, consent ledger; with the bad inputs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import Api
from tests.factories import Factories
from tests.mailbox import BROWSER, link_in, outbox
from webapp.models import AuditEntry, ConsentRecord, Subscriber, SubscriberStatus, Suppression


def code(response: object) -> str:
    return response.get_json()["error"]["code"]  # type: ignore[attr-defined,no-any-return]


def test_topics_are_listed_in_order(api: Api) -> None:
    data = api.get("/topics").get_json()["data"]
    assert [t["slug"] for t in data][:2] == ["ai", "data"]
    assert {"slug", "name_zh", "name_en", "description_zh", "description_en"} == set(data[0])


@pytest.mark.postgres
def test_paging_sees_every_subscriber_exactly_once(api: Api, factories: Factories) -> None:
    ids = factories.many_subscribers(23, [["ai"], ["data", "fintech"]])
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "?limit=5" + (f"&after={cursor}" if cursor else "")
        body = api.get(f"/subscribers{query}").get_json()
        seen += [row["id"] for row in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # A reader added while paging comes at the end, and nobody is seen twice.
        if pages == 2:
            ids.append(factories.subscriber(topics=["ai"]).id)
    assert seen == sorted(ids) and pages == 5


@pytest.mark.postgres
def test_filters_narrow_the_list(api: Api, factories: Factories) -> None:
    with time_machine.travel(datetime(2026, 5, 1, tzinfo=UTC), tick=False):
        old = factories.subscriber(topics=["ai"], language="en")
    with time_machine.travel(datetime(2026, 7, 1, tzinfo=UTC), tick=False):
        new = factories.subscriber(topics=["data"])
        paused = factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)

    def ids(query: str) -> list[int]:
        return [row["id"] for row in api.get(f"/subscribers?{query}").get_json()["data"]]

    assert ids("topic=ai") == [old.id, paused.id]
    assert ids("language=en") == [old.id]
    assert ids("status=paused") == [paused.id]
    assert ids("created_since=2026-06-01T00:00:00Z") == [new.id, paused.id]
    assert ids("created_since=2026-06-01T00:00:00") == [new.id, paused.id]  # UTC
    assert ids("topic=ai&status=active") == [old.id]
    for bad in ("status=gone", "limit=0", "limit=201", "limit=x", "after=zzz",
                "created_since=yesterday", "status=active&status=paused"):
        response = api.get(f"/subscribers?{bad}")
        assert (response.status_code, code(response)) == (400, "validation_failed"), bad


def test_get_one_and_its_consent_ledger(api: Api, factories: Factories) -> None:
    reader = factories.subscriber(topics=["ai", "data"], name="Li Lei")
    body = api.get(f"/subscribers/{reader.id}").get_json()
    assert body["email"] == reader.email and body["topics"] == ["ai", "data"]
    assert body["status"] == "active" and body["name"] == "Li Lei"
    api.patch(f"/subscribers/{reader.id}", json={"language": "en"})
    ledger = api.get(f"/subscribers/{reader.id}/consents").get_json()["data"]
    assert [(e["action"], e["source"]) for e in ledger] == [("language", "api")]
    assert api.get("/subscribers/0/consents").status_code == 404


def test_adding_without_consent_is_double_opt_in(
    app: Flask, api: Api, session: Session
) -> None:
    response = api.post("/subscribers", json={
        "email": " New.Reader@Example.com", "topics": ["ai"], "language": "en",
    })
    assert response.status_code == 202
    assert response.get_json() == {"status": "confirmation_requested",
                                   "email": "New.Reader@example.com"}
    mails = outbox(app)
    assert len(mails) == 1 and mails[0]["To"] == "New.Reader@example.com"
    reader = session.scalars(select(Subscriber)).one()
    assert reader.status == SubscriberStatus.PENDING
    ledger = session.scalars(select(ConsentRecord)).all()
    assert [(r.action, r.source.value) for r in ledger] == [("subscribe", "api")]
    app.test_client().post(link_in(mails[0], "/confirm/"), headers=BROWSER)
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE
    # The same answer for an address already subscribed: nothing tells the caller.
    again = api.post("/subscribers", json={"email": "new.reader@example.com", "topics": ["ai"]})
    assert again.status_code == 202


@pytest.mark.postgres
def test_adding_with_a_stated_consent_is_recorded(
    app: Flask, api: Api, session: Session
) -> None:
    statement = "Ticked the newsletter box on the client intake form, 2026-07-01"
    response = api.post("/subscribers", json={
        "email": "client@example.com", "topics": ["ai", "data"], "name": "Han Meimei",
        "consent_attestation": statement,
    })
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "active" and body["topics"] == ["ai", "data"]
    record = session.scalars(select(ConsentRecord)).one()
    assert (record.action, record.source.value) == ("api-add", "api")
    assert record.detail is not None and record.detail["note"] == statement
    assert record.detail["by"].startswith("api-key:")
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "subscriber.add")).one()
    assert audit.actor.startswith("api-key:") and audit.actor.endswith("CRM")
    assert outbox(app) == []  # no confirmation: the caller vouched for the consent
    twice = api.post("/subscribers", json={
        "email": "Client@example.com", "topics": ["ai"], "consent_attestation": statement,
    })
    assert twice.status_code == 409 and code(twice) == "conflict"
    assert twice.get_json()["error"]["details"] == {"subscriber_id": body["id"]}


def test_bad_addresses_topics_and_languages_change_nothing(api: Api, session: Session) -> None:
    cases = [
        ({"email": "not-an-address", "topics": ["ai"]}, "email"),
        ({"email": "a@example.com", "topics": ["no-such-topic"]}, "topics"),
        ({"email": "a@example.com", "topics": []}, "topics"),
        ({"email": "a@example.com", "topics": ["ai"], "language": "fr"}, "language"),
        ({"email": "a@example.com"}, "topics"),
        ({"topics": ["ai"]}, "email"),
        ({"email": 42, "topics": ["ai"]}, "email"),
        ({"email": "not-an-address", "topics": ["ai"], "consent_attestation": "yes"}, "email"),
        ({"email": "a@example.com", "topics": ["ai"], "consent_attestation": ""},
         "consent_attestation"),
        ({"email": "a@example.com", "topics": ["nope"], "consent_attestation": "yes"}, "topics"),
    ]
    for body, field in cases:
        response = api.post("/subscribers", json=body)
        assert response.status_code == 422, body
        assert code(response) == "validation_failed"
        assert field in response.get_json()["error"]["details"]["fields"], body
    assert session.scalar(select(Subscriber)) is None


@pytest.mark.postgres
def test_suppressed_and_erased_addresses(
    api: Api, factories: Factories, session: Session, make_key: Callable[..., str]
) -> None:
    reader = factories.subscriber(topics=["ai"], email="gone@example.com")
    erased = api.post(f"/subscribers/{reader.id}/erase")
    assert erased.status_code == 200
    assert erased.get_json()["status"] == "erased" and erased.get_json()["email"] is None
    assert erased.get_json()["topics"] == []
    assert session.scalar(select(Suppression).where(Suppression.address_hash.is_not(None)))
    again = api.post(f"/subscribers/{reader.id}/erase")  # twice is harmless
    assert again.status_code == 200
    attested = api.post("/subscribers", json={
        "email": "gone@example.com", "topics": ["ai"], "consent_attestation": "on the phone",
    })
    assert attested.status_code == 409 and code(attested) == "address_erased"
    # Double opt-in stays open to them: only the person can come back, by confirming.
    assert api.post("/subscribers", json={"email": "gone@example.com", "topics": ["ai"]}
                    ).status_code == 202
    changed = api.patch(f"/subscribers/{reader.id}", json={"topics": ["data"]})
    assert changed.status_code == 409 and code(changed) == "subscriber_erased"
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "subscriber.erase"))
    assert len(audit.all()) == 1
    factories.subscriber(email="x@example.com")
    from webapp.readers.suppressions import suppress

    suppress(session, "bounced@example.com", reason="bounce", source="ses")
    session.commit()
    bounced = api.post("/subscribers", json={
        "email": "bounced@example.com", "topics": ["ai"], "consent_attestation": "form",
    })
    assert bounced.status_code == 409 and code(bounced) == "address_suppressed"


def test_changing_topics_and_language(api: Api, factories: Factories, session: Session) -> None:
    reader = factories.subscriber(topics=["ai"])
    response = api.patch(f"/subscribers/{reader.id}", json={"topics": ["data", "fintech"]})
    assert response.status_code == 200
    assert response.get_json()["topics"] == ["data", "fintech"]
    response = api.patch(f"/subscribers/{reader.id}", json={"language": "en"})
    assert response.get_json()["language"] == "en"
    assert response.get_json()["topics"] == ["data", "fintech"]
    for bad, field in (({}, "topics"), ({"topics": ["nope"]}, "topics"),
                       ({"language": "de"}, "language"), ({"email": "x@example.com"}, "email")):
        refused = api.patch(f"/subscribers/{reader.id}", json=bad)
        assert refused.status_code == 422, bad
        assert field in refused.get_json()["error"]["details"]["fields"], bad
    assert api.patch("/subscribers/999", json={"language": "en"}).status_code == 404
    ledger = session.scalars(
        select(ConsentRecord).where(ConsentRecord.subscriber_id == reader.id)
    ).all()
    assert [(r.action, r.source.value) for r in ledger] == [("topics", "api"), ("language", "api")]


def test_unsubscribing(api: Api, factories: Factories, session: Session) -> None:
    reader = factories.subscriber(topics=["ai"])
    response = api.post(f"/subscribers/{reader.id}/unsubscribe")
    assert response.status_code == 200 and response.get_json()["status"] == "unsubscribed"
    assert api.post(f"/subscribers/{reader.id}/unsubscribe").status_code == 200
    ledger = session.scalars(select(ConsentRecord)).all()
    assert [(r.action, r.source.value) for r in ledger] == [("unsubscribe", "api")]
    assert api.post("/subscribers/999/unsubscribe").status_code == 404


def test_the_erase_scope_is_needed_to_erase(
    api: Api, factories: Factories, make_key: Callable[..., str], session: Session
) -> None:
    reader = factories.subscriber(topics=["ai"])
    writer = make_key("subscribers:read", "subscribers:write", name="writer")
    refused = api.post(f"/subscribers/{reader.id}/erase", key=writer)
    assert refused.status_code == 403 and code(refused) == "missing_scope"
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE
    eraser = make_key("subscribers:erase", name="eraser")
    assert api.post(f"/subscribers/{reader.id}/erase", key=eraser).status_code == 200
