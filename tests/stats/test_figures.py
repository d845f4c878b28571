"""Stats: a small case worked out by hand, and the aggregates against a recount of raw rows."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.admin.conftest import Send, make_send
from tests.factories import Factories
from webapp.config import settings_of
from webapp.models import (
    ConsentRecord,
    ConsentSource,
    Delivery,
    DeliveryStatus,
    Event,
    ItemClick,
    ReaderMonth,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from webapp.models.base import new_token
from webapp.readers.consent import Origin
from webapp.readers.csv_values import Attestation, ConsentBasis
from webapp.readers.own_data import erase
from webapp.readers.subscribers_csv import ImportOptions, import_subscribers_csv
from webapp.readers.subscriptions import unsubscribe
from webapp.stats.figures import (
    Funnel,
    edition_funnel,
    edition_report,
    reader_growth,
    timeline,
)

pytestmark = pytest.mark.postgres  # upserts and time buckets are written per backend

READERS: dict[str, dict[str, object]] = {
    "ann": {"topics": ["ai"]},
    "bob": {"topics": ["data"], "language": "en"},
    "cat": {"topics": ["ai", "fintech"]},
    "dan": {"topics": ["investment"]},
    "eve": {"topics": ["ai"]},
    "fay": {"topics": ["data", "investment"], "language": "en"},
    "gus": {"topics": ["ai"], "language": "en"},
}


def july_send(app: Flask, factories: Factories, session: Session) -> Send:
    """What happened to the July edition, reader by reader (see the expected figures below)."""
    send = make_send(factories, session, READERS, failed=("fay",))
    for name in ("ann", "bob", "eve", "gus"):
        send.deliver(name)
    send.bounce("cat", "Permanent")
    send.bounce("dan", "Transient")
    send.complain("eve")
    send.open("ann")
    send.open("ann", minutes=50)  # a second open is not a second reader
    send.open("bob")
    send.open("gus", minutes=0)  # seconds after sending: a scanner
    send.click("ann", 1, minutes=21)
    send.click("ann", 3, minutes=22)
    send.click("ann", 1, minutes=40)
    for second, number in enumerate((1, 2, 3)):  # three links within seconds: a scanner
        send.click("gus", number, minutes=25 + second / 60)
    bob = send.deliveries["bob"].subscriber
    # Bob also got June's edition; his unsubscribe belongs to July, the last one he got.
    june = factories.edition("2024-06", items={"policy": [{"topics": ["data"]}]})
    session.add(Delivery(edition_id=june.id, subscriber_id=bob.id, variant_key="en:data",
                         token=new_token(), status=DeliveryStatus.SENT,
                         sent_at=send.sent_at - timedelta(days=30)))
    session.commit()
    unsubscribe(session, settings_of(app), bob, Origin(ConsentSource.ONE_CLICK))
    session.commit()
    return send


EXPECTED = Funnel(
    planned=7, sent=6, failed=1, delivered=4, bounced=2, hard_bounced=1, complained=1,
    opened=2, clicked=1, unsubscribed=1,
)


def recount(session: Session, edition_id: int) -> dict[str, Any]:
    """The same figures counted from the raw rows: deliveries, events and the consent ledger."""
    deliveries = list(session.scalars(select(Delivery).where(Delivery.edition_id == edition_id)))
    events = list(session.scalars(select(Event).where(Event.edition_id == edition_id)))

    def readers(kind: str, **match: object) -> int:
        return len({
            e.delivery_id for e in events
            if e.kind == kind and not e.suspected_scanner
            and all(getattr(e, k) == v for k, v in match.items())
        })

    statuses = Counter(d.status.value for d in deliveries)
    unsubscribed = 0
    leaving = select(ConsentRecord).where(ConsentRecord.action == "unsubscribe")
    for record in session.scalars(leaving):
        received = sorted(
            (d.sent_at, d.edition_id)
            for d in session.scalars(
                select(Delivery).where(Delivery.subscriber_id == record.subscriber_id)
            )
            if d.sent_at is not None and d.sent_at <= record.created_at
        )
        if received and received[-1][1] == edition_id:
            unsubscribed += 1
    clicks = [e for e in events if e.kind == "click" and not e.suspected_scanner]
    return {
        "funnel": Funnel(
            planned=len(deliveries),
            **{s.value: statuses[s.value] for s in DeliveryStatus},
            delivered=readers("delivery"),
            bounced=readers("bounce"),
            hard_bounced=readers("bounce", bounce_type="Permanent"),
            complained=readers("complaint"),
            opened=readers("open"),
            clicked=readers("click"),
            unsubscribed=unsubscribed,
        ),
        "items": {
            n: (len({e.delivery_id for e in clicks if e.item_number == n}),
                sum(1 for e in clicks if e.item_number == n))
            for n in {e.item_number for e in clicks}
        },
    }


def test_a_small_send_adds_up_to_the_hand_count_and_to_a_recount(
    app: Flask, factories: Factories, session: Session
) -> None:
    send = july_send(app, factories, session)
    report = edition_report(session, send.edition)

    assert report.funnel == EXPECTED
    assert report.funnel.soft_bounced == 1
    assert report.funnel.reached == 4
    rates = report.funnel.rates()
    assert rates["hard_bounced"] == pytest.approx(1 / 6)
    assert rates["opened"] == pytest.approx(2 / 4)
    assert rates["unsubscribed"] == pytest.approx(1 / 4)

    items = {i.number: (i.title, i.recipients, i.readers, i.clicks) for i in report.items}
    assert items == {
        1: ("AI rules", 4, 1, 2),  # ann twice; gus was a scanner
        2: ("Data rules", 1, 0, 0),  # fay's delivery failed, so bob alone got it
        3: ("Fintech news", 4, 1, 1),
        4: ('=HYPERLINK("x")', 1, 0, 0),
    }
    assert {slug: (f.planned, f.sent, f.clicked) for slug, f in report.topics.items()} == {
        "ai": (4, 4, 1), "fintech": (1, 1, 0), "data": (2, 1, 0), "investment": (2, 1, 0),
    }
    assert report.variants["zh-CN:ai"] == Funnel(
        planned=2, sent=2, delivered=2, complained=1, opened=1, clicked=1
    )
    assert report.languages["en"].planned == 3

    raw = recount(session, send.edition.id)
    assert report.funnel == raw["funnel"]
    assert {i.number: (i.readers, i.clicks) for i in report.items if i.clicks} == raw["items"]


def test_stats_cli_prints_the_send_progress_shape_plus_event_figures(
    app: Flask, factories: Factories, session: Session, runner: FlaskCliRunner
) -> None:
    july_send(app, factories, session)
    result = runner.invoke(args=["stats", "2024-07", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    progress_keys = ["month", "status", "planned", "queued", "sending", "in_doubt", "sent",
                     "failed", "skipped", "started_at", "finished_at", "rate_per_s"]
    assert list(data)[: len(progress_keys)] == progress_keys
    assert (data["month"], data["planned"], data["sent"], data["failed"]) == ("2024-07", 7, 6, 1)
    assert (data["delivered"], data["hard_bounced"], data["soft_bounced"]) == (4, 1, 1)
    assert (data["complained"], data["unique_opens"], data["unique_clicks"]) == (1, 2, 1)
    assert data["unique_opens_approximate"] is True and data["unsubscribed"] == 1
    assert data["rates"]["clicked"] == 0.25

    text = runner.invoke(args=["stats", "2024-07"])
    assert "unique opens (approximate)" in text.output and "16.7%" in text.output
    missing = runner.invoke(args=["stats", "1999-01"])
    assert missing.exit_code != 0 and "no edition" in missing.output


def test_a_scanner_burst_found_later_takes_back_the_clicks_it_counted(
    factories: Factories, session: Session
) -> None:
    send = make_send(factories, session, {"ann": {"topics": ["ai"]}})
    send.click("ann", 1, minutes=20)
    assert session.scalar(select(ItemClick.clicks)) == 1
    send.click("ann", 2, minutes=20 + 1 / 60)
    send.click("ann", 3, minutes=20 + 2 / 60)  # the third link in seconds: all were a scanner
    assert list(session.scalars(select(ItemClick))) == []
    assert edition_funnel(session, send.edition.id).clicked == 0
    send.click("ann", 1, minutes=30)  # a person, later
    assert edition_funnel(session, send.edition.id).clicked == 1
    assert recount(session, send.edition.id)["items"] == {1: (1, 1)}


def test_the_timeline_buckets_sends_and_deliveries(
    factories: Factories, session: Session
) -> None:
    send = make_send(factories, session, {"ann": {"topics": ["ai"]}, "bob": {"topics": ["ai"]}})
    send.deliver("ann", minutes=1)
    send.deliver("bob", minutes=90)
    line = timeline(session, send.edition.id)
    assert (line.unit, line.count) == ("minute", 1)  # 91 minutes: 91 points
    assert len(line.buckets) == 91
    assert sum(b[1] for b in line.buckets) == 2 and sum(b[2] for b in line.buckets) == 2
    assert line.buckets[0][1] == 2 and line.buckets[-1][2] == 1
    starts = [b[0] for b in line.buckets]
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(starts))


@pytest.mark.postgres  # seconds are truncated in SQL, differently per database
@pytest.mark.parametrize(
    ("readers", "spread", "unit", "count", "points"),
    [
        (22, timedelta(seconds=1), "second", 1, (21, 23)),  # a 21-second send
        (31, timedelta(seconds=10), "second", 5, (60, 62)),  # five minutes
        (61, timedelta(minutes=1), "minute", 1, (60, 62)),  # an hour
        (73, timedelta(hours=1), "hour", 1, (72, 74)),  # three days
        (100, timedelta(days=1), "day", 1, (99, 101)),  # a very slow send
    ],
    ids=["21s", "5min", "1h", "3d", "99d"],
)
def test_the_timeline_step_fits_the_length_of_the_send(
    factories: Factories, session: Session, readers: int, spread: timedelta, unit: str,
    count: int, points: tuple[int, int],
) -> None:
    start = datetime(2024, 7, 1, 2, 0, 0, tzinfo=UTC)
    send = make_send(factories, session, {f"r{n}": {"topics": ["ai"]} for n in range(readers)},
                     sent_at=start, spread=spread)
    line = timeline(session, send.edition.id)
    assert (line.unit, line.count) == (unit, count)
    assert points[0] <= len(line.buckets) <= points[1]
    assert sum(b[1] for b in line.buckets) == readers
    starts = [b[0] for b in line.buckets]
    assert all(b - a == line.step for a, b in itertools.pairwise(starts))


def test_readers_joining_and_leaving_are_counted_per_month_as_statuses_change(
    app: Flask, session: Session, factories: Factories
) -> None:
    csv = "email,topics,status\na@example.com,ai,active\nb@example.com,ai,active\n" \
          "c@example.com,ai,paused\nd@example.com,ai,pending\n"
    import_subscribers_csv(session, csv, erasure_key="k",
                           options=ImportOptions(Attestation(ConsentBasis.ASKED)))
    session.commit()
    readers = {s.email: s for s in session.scalars(select(Subscriber))}
    unsubscribe(session, settings_of(app), readers["a@example.com"], Origin(ConsentSource.ADMIN))
    session.commit()
    send = make_send(factories, session, {"bob": {"topics": ["ai"]}})  # joins (factory row)
    send.bounce("bob", "Permanent")
    erase(session, settings_of(app), readers["c@example.com"], Origin(ConsentSource.FORM))
    readers["d@example.com"].status = SubscriberStatus.ACTIVE  # pending → active: a join
    session.commit()
    session.expire_all()  # an unloaded status must be read before it changes, too
    readers["b@example.com"].status = SubscriberStatus.PAUSED  # still receiving: no change
    session.commit()

    month = utcnow().strftime("%Y-%m")
    row = session.get(ReaderMonth, month)
    assert row is not None
    counts = (row.joined, row.unsubscribed, row.bounced, row.complained, row.erased)
    assert counts == (5, 1, 1, 0, 1)
    growth = reader_growth(session, months=3)
    assert [g.month for g in growth][-1] == month
    assert growth[-1].readers == 2  # b (paused) and d
    assert growth[-2].readers == 0 and growth[-1].churned == 3
    assert session.scalar(select(Subscriber.status).where(Subscriber.email == "b@example.com")) \
        == SubscriberStatus.PAUSED
