from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import app_config
from webapp import create_app
from webapp.config import settings_of
from webapp.models import Delivery, Edition, Event, Item, Subscriber, utcnow


def _events(session: Session) -> list[Event]:
    session.expire_all()
    return list(session.scalars(select(Event).order_by(Event.id)))


@pytest.mark.postgres
def test_opens_and_clicks_are_recorded_per_delivery_and_item(
    client: FlaskClient, session: Session, sent_delivery: Delivery
) -> None:
    token = sent_delivery.token
    assert client.get(f"/o/{token}.gif").status_code == 200
    click = client.get(f"/c/{token}/2")
    assert click.status_code == 302 and click.headers["Location"] == "https://example.com/two"
    events = _events(session)
    assert [(e.kind, e.item_number, e.suspected_scanner) for e in events] == [
        ("open", None, False),
        ("click", 2, False),
    ]
    assert all(e.delivery_id == sent_delivery.id for e in events)
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.opened_at and delivery.clicked_at


def test_unknown_tokens_and_links_are_404_and_never_redirect_elsewhere(
    client: FlaskClient, session: Session, sent_delivery: Delivery
) -> None:
    assert client.get(f"/c/{sent_delivery.token}/3").status_code == 404
    assert client.get(f"/c/{sent_delivery.token}/0").status_code == 404
    assert client.get("/c/unknown/1?url=https://evil.example.com").status_code == 404
    assert client.get(f"/c/{sent_delivery.token}/1?url=https://evil.example.com").headers[
        "Location"
    ] == "https://example.com/one"
    assert _events(session)[-1].item_number == 1


def test_scanner_hits_are_flagged(
    client: FlaskClient, session: Session, sent_delivery: Delivery
) -> None:
    sent_delivery.sent_at = utcnow() - timedelta(seconds=2)
    session.commit()
    client.get(f"/o/{sent_delivery.token}.gif")
    client.get(f"/c/{sent_delivery.token}/1")
    assert all(e.suspected_scanner for e in _events(session))
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.opened_at is None and delivery.clicked_at is None


def test_a_burst_of_different_links_is_a_scanner(
    client: FlaskClient, session: Session, sent_delivery: Delivery
) -> None:
    edition = session.get(Edition, sent_delivery.edition_id)
    assert edition is not None
    edition.sections[0].items.append(Item(position=9, title="Third", url="https://example.com/3",
                                          published_on=date(2024, 7, 1)))
    session.commit()
    client.get(f"/c/{sent_delivery.token}/1")
    client.get(f"/c/{sent_delivery.token}/2")
    session.expire_all()
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.clicked_at is not None  # looks human so far
    assert [e.suspected_scanner for e in _events(session)] == [False, False]
    client.get(f"/c/{sent_delivery.token}/3")  # a third link within seconds: a scanner
    assert [e.suspected_scanner for e in _events(session)] == [True, True, True]
    session.expire_all()
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.clicked_at is None


def test_no_tracking_when_switched_off_or_opted_out(
    database_url: str, tmp_path: Path, session: Session, sent_delivery: Delivery, app: Flask
) -> None:
    off = create_app(app_config(database_url, tmp_path, TRACKING=False)).test_client()
    assert off.get(f"/o/{sent_delivery.token}.gif").status_code == 200
    assert off.get(f"/c/{sent_delivery.token}/1").status_code == 302
    assert _events(session) == []

    reader = session.get(Subscriber, sent_delivery.subscriber_id)
    assert reader is not None
    reader.tracking = False
    session.commit()
    on = app.test_client()
    assert on.get(f"/c/{sent_delivery.token}/1").status_code == 302
    assert _events(session) == []


def test_export_has_deliveries_and_events_and_erasure_redacts_event_payloads(
    app: Flask, client: FlaskClient, session: Session, sent_delivery: Delivery
) -> None:
    reader = session.get(Subscriber, sent_delivery.subscriber_id)
    assert reader is not None
    client.get(f"/c/{sent_delivery.token}/1", headers={"User-Agent": "Reader's Mail/1.0"})
    exported = client.get(f"/p/{reader.token}/export").get_json()
    assert [d["edition"] for d in exported["deliveries"]] == ["2024-07"]
    assert exported["deliveries"][0]["status"] == "sent"
    assert [(e["kind"], e["link"]) for e in exported["events"]] == [("click", 1)]
    assert exported["events"][0]["detail"]["user_agent"] == "Reader's Mail/1.0"

    from webapp.models import ConsentSource
    from webapp.readers.consent import Origin
    from webapp.readers.own_data import erase

    erase(session, settings_of(app), reader, Origin(ConsentSource.FORM))
    session.commit()
    (event,) = _events(session)
    assert event.kind == "click" and event.payload is None


@pytest.mark.postgres
@pytest.mark.parametrize("by", ["reader", "admin"])
def test_an_erased_readers_old_links_work_but_record_nothing_and_show_nothing(
    app: Flask, client: FlaskClient, session: Session, sent_delivery: Delivery, by: str
) -> None:
    reader = session.get(Subscriber, sent_delivery.subscriber_id)
    assert reader is not None
    token = sent_delivery.token
    assert client.get(f"/v/{token}").status_code == 200
    if by == "reader":
        erased = client.post(f"/p/{reader.token}/erase", data={"understood": "y"})
        assert erased.status_code == 303
    else:
        from webapp.models import ConsentSource
        from webapp.readers.consent import Origin
        from webapp.readers.own_data import erase

        erase(session, settings_of(app), reader, Origin(ConsentSource.ADMIN))
        session.commit()
    before = len(_events(session))
    browser = {"User-Agent": "ErasedReaderMail/2.0"}
    environ = {"REMOTE_ADDR": "198.51.100.23"}

    pixel = client.get(f"/o/{token}.gif", headers=browser, environ_base=environ)
    click = client.get(f"/c/{token}/2", headers=browser, environ_base=environ)
    view = client.get(f"/v/{token}?lang=en", headers=browser, environ_base=environ)

    assert pixel.status_code == 200 and pixel.mimetype == "image/gif"
    assert click.status_code == 302 and click.headers["Location"] == "https://example.com/two"
    assert len(_events(session)) == before  # no open, no click: no IP, no user agent
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.opened_at is None and delivery.clicked_at is None
    assert view.status_code == 410
    page = view.get_data(as_text=True)
    assert "Your data is erased" in page
    assert "reader@example.com" not in page and reader.token not in page
    assert client.get(f"/c/{token}/3").status_code == 404  # still no link beyond the edition's
