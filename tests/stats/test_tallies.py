"""The stats tallies the database triggers keep, against a recount of the rows they stand for."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from emails.ses_events import SesEvent
from tests.admin.conftest import make_send
from tests.conftest import app_config, new_postgres_database
from tests.factories import Factories
from tests.tools.postgres import PostgresServer
from webapp import create_app, migrate
from webapp.config import settings_of
from webapp.db import database, make_engine
from webapp.delivery import heartbeat, in_doubt, sending, store
from webapp.events.ses import record_ses_event
from webapp.events.tracking import record_click, record_open
from webapp.models import (
    ConsentSource,
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    Edition,
    EditionMinute,
    EditionMinuteChange,
    EditionStatus,
    EditionTally,
    EditionTallyChange,
    ItemClick,
    ItemTally,
    ItemTallyChange,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from webapp.models.base import new_token
from webapp.models.stats import DEPARTURES, MONTH_FIGURES, RECEIVING, TALLY_FIGURES
from webapp.readers.consent import Origin
from webapp.readers.own_data import erase
from webapp.readers.subscriptions import unsubscribe
from webapp.stats import tallies
from webapp.stats.aggregates import reader_months
from webapp.stats.figures import Funnel, edition_funnel

pytestmark = pytest.mark.postgres  # the triggers are written once per backend

ITEMS = {
    "policy": [
        {"title": "AI rules", "topics": ["ai"]},
        {"title": "Data rules", "topics": ["data"]},
    ],
    "industry": [{"title": "Fintech news", "topics": ["fintech", "ai"]}],
}
TOPIC_SETS = (["ai"], ["data"], ["ai", "fintech"], ["fintech"], ["ai", "data", "fintech"])


def assert_tallies_match(session: Session, edition_ids: list[int]) -> None:
    assert tallies.tallies(session, edition_ids, by_variant=True) == tallies.recount(
        session, edition_ids
    )
    for edition_id in edition_ids:
        assert tallies.minutes(session, edition_id) == tallies.recount_minutes(session, edition_id)
        assert tallies.items(session, edition_id) == tallies.recount_items(session, edition_id)


def reader_statuses(session: Session) -> dict[int, SubscriberStatus]:
    """Every reader's status as stored (selecting flushes the session's pending changes)."""
    return dict(session.execute(select(Subscriber.id, Subscriber.status)).tuples().all())


def joins_and_departures(
    before: dict[int, SubscriberStatus], after: dict[int, SubscriberStatus]
) -> Counter[str]:
    """What reader_months should count for the changes between two snapshots (each reader
    changes at most once between them); readers deleted meanwhile count nothing."""
    counted: Counter[str] = Counter()
    for reader, status in after.items():
        old = before.get(reader)
        was = old in RECEIVING
        if status in RECEIVING and not was:
            counted["joined"] += 1
        elif was and status in DEPARTURES:
            counted[DEPARTURES[status]] += 1
    return counted


def reader_month_totals(session: Session) -> Counter[str]:
    """reader_months over all months (a run may cross midnight at a month's end)."""
    totals: Counter[str] = Counter()
    for figures in reader_months(session).values():
        totals.update(figures)
    return Counter({name: totals[name] for name in MONTH_FIGURES if totals[name]})


def test_the_funnel_figures_and_the_tallied_ones_are_the_same_list() -> None:
    assert tuple(f.name for f in Funnel.__dataclass_fields__.values()) == TALLY_FIGURES


class Operations:
    """What happens to deliveries in a send's life, through the services that do it."""

    def __init__(self, app: Flask, session: Session, chance: random.Random) -> None:
        self.app, self.session, self.chance = app, session, chance
        self.moment = utcnow() - timedelta(days=1)
        self.status_changes = Counter[str]()  # by how they were made

    def editions(self, *statuses: EditionStatus) -> list[Edition]:
        stmt = select(Edition).where(Edition.status.in_(statuses)).order_by(Edition.id)
        return list(self.session.scalars(stmt))

    def deliveries(self, *statuses: DeliveryStatus) -> list[Delivery]:
        stmt = select(Delivery).where(Delivery.status.in_(statuses)).order_by(Delivery.id)
        return list(self.session.scalars(stmt))

    def some(self, rows: list[Delivery], most: int = 5) -> list[Delivery]:
        return self.chance.sample(rows, min(len(rows), self.chance.randint(1, most)))

    def later(self) -> None:
        self.moment += timedelta(minutes=self.chance.choice((0, 1, 3, 17)))

    # -- the operations -------------------------------------------------------------------

    def plan(self) -> None:
        for edition in self.editions(EditionStatus.APPROVED)[:1]:
            sending.start_send(self.session, edition, actor="test")

    def claim(self) -> None:
        for edition in self.editions(EditionStatus.SENDING):
            worker = self.chance.choice(("gone-worker", "live-worker"))
            store.claim_batch(self.session, edition.id, self.chance.randint(1, 8), worker)

    def hand_over(self) -> None:
        ids = [d.id for d in self.some(self.deliveries(DeliveryStatus.SENDING))]
        store.set_status(self.session, ids, DeliveryStatus.IN_DOUBT)

    def settle(self) -> None:
        doubtful = self.some(self.deliveries(DeliveryStatus.IN_DOUBT, DeliveryStatus.SENDING), 8)
        sent = [(d.id, f"ses-{d.id}") for d in doubtful if self.chance.random() < 0.7]
        failed = [d.id for d in doubtful if d.id not in dict(sent)]
        store.mark_sent_many(self.session, sent)
        if failed:
            outcome = self.chance.choice((DeliveryStatus.FAILED, DeliveryStatus.QUEUED))
            store.set_status(self.session, failed, outcome, error="no", failed_attempt=True)

    def return_stale_claims(self) -> None:
        heartbeat.requeue_stale_claims(self.session, utcnow())

    def resolve_in_doubt(self) -> None:
        for edition in self.editions(EditionStatus.SENDING, EditionStatus.PAUSED):
            in_doubt.resolve_in_doubt(
                self.session, edition, resend=self.chance.random() < 0.5, actor="test"
            )

    def ses_event(self) -> None:
        statuses = (DeliveryStatus.SENT, DeliveryStatus.IN_DOUBT, DeliveryStatus.SENDING)
        readers: set[int] = set()
        for delivery in self.some(self.deliveries(*statuses), 3):
            if delivery.subscriber_id in readers:
                continue  # one status change per reader and operation (see the recount)
            readers.add(delivery.subscriber_id)
            kind, bounce_type = self.chance.choice((
                ("send", None), ("delivery", None), ("delivery", None), ("complaint", None),
                ("bounce", "Permanent"), ("bounce", "Transient"),
            ))
            self.later()
            email = delivery.subscriber.email
            event = SesEvent(
                kind=kind, message_id=delivery.message_id or f"ses-{delivery.id}",
                delivery_id=delivery.id, recipients=(email,) if email else (),
                occurred_at=self.moment, bounce_type=bounce_type,
                bounce_subtype="General" if bounce_type else None,
            )
            record_ses_event(self.session, event, {"eventType": kind}, bounce_suppress_after=2)

    def open_or_click(self) -> None:
        for delivery in self.some(self.deliveries(DeliveryStatus.SENT), 3):
            at = (delivery.sent_at or utcnow()) + timedelta(minutes=self.chance.randint(0, 90))
            if self.chance.random() < 0.5:
                record_open(self.session, delivery.token, now=at, enabled=True)
            else:
                number = self.chance.randint(1, 3)
                record_click(self.session, delivery.token, number, now=at, enabled=True)

    def leave(self) -> None:
        stmt = select(Subscriber).where(Subscriber.status == SubscriberStatus.ACTIVE)
        readers = list(self.session.scalars(stmt.order_by(Subscriber.id)))
        if readers:
            origin = Origin(ConsentSource.ONE_CLICK)
            unsubscribe(self.session, settings_of(self.app), self.chance.choice(readers), origin)

    def erase(self) -> None:
        readers = list(self.session.scalars(select(Subscriber).order_by(Subscriber.id)))
        if readers:
            origin = Origin(ConsentSource.FORM)
            erase(self.session, settings_of(self.app), self.chance.choice(readers), origin)

    def status_readers(self) -> list[Subscriber]:
        stmt = select(Subscriber).where(Subscriber.status != SubscriberStatus.ERASED)
        return list(self.session.scalars(stmt.order_by(Subscriber.id)))

    def change_status_in_core(self) -> None:
        """A status changed without the ORM (another process, a script, psql): still counted."""
        readers = self.status_readers()
        if readers:
            reader, status = self.chance.choice(readers), self.chance.choice(list(SubscriberStatus))
            table = Subscriber.__table__
            self.session.connection().execute(
                update(table)  # type: ignore[arg-type]
                .where(table.c.id == reader.id)  # type: ignore[attr-defined]
                .values(status=status)
            )
            self.status_changes["core"] += reader.status != status
            self.session.expire(reader)

    def change_status_through_the_orm(self) -> None:
        readers = self.status_readers()
        if readers:
            reader, status = self.chance.choice(readers), self.chance.choice(list(SubscriberStatus))
            self.status_changes["orm"] += reader.status != status
            reader.status = status

    def cancel(self) -> None:
        for edition in self.editions(EditionStatus.SENDING, EditionStatus.PAUSED)[:1]:
            sending.cancel(self.session, edition, actor="test")

    def delete_reader(self) -> None:
        ids = list(self.session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        if ids:  # their deliveries and outcomes go by ON DELETE CASCADE
            doomed = self.chance.choice(ids)
            self.session.execute(delete(Subscriber).where(Subscriber.id == doomed))
            self.session.expire_all()

    def delete_deliveries(self) -> None:
        ids = [d.id for d in self.some(self.deliveries(*DeliveryStatus), 3)]
        self.session.execute(delete(Delivery).where(Delivery.id.in_(ids)))
        self.session.expire_all()

    def all(self) -> list[tuple[Callable[[], None], int]]:
        return [
            (self.plan, 1), (self.claim, 6), (self.hand_over, 5), (self.settle, 6),
            (self.return_stale_claims, 2), (self.resolve_in_doubt, 1), (self.ses_event, 6),
            (self.open_or_click, 5), (self.leave, 2), (self.erase, 1), (self.cancel, 1),
            (self.delete_reader, 1), (self.delete_deliveries, 1),
            (self.change_status_in_core, 3), (self.change_status_through_the_orm, 3),
        ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_after_any_mix_of_operations_the_counters_equal_a_recount(
    app: Flask, factories: Factories, session: Session, seed: int
) -> None:
    chance = random.Random(seed)
    for n in range(30):
        factories.subscriber(topics=chance.choice(TOPIC_SETS),
                             language=chance.choice(("zh-CN", "en")), email=f"r{n}@example.com")
    months = ("2024-07", "2024-08", "2024-09")
    ids = [factories.edition(m, status=EditionStatus.APPROVED, items=ITEMS).id for m in months]
    operations = Operations(app, session, chance)
    choices, weights = zip(*operations.all(), strict=True)
    operations.plan()
    session.commit()
    # reader_months against the status changes seen between operations, however made.
    expected = reader_month_totals(session)
    assert expected["joined"] == 30
    for _ in range(70):
        operation = chance.choices(choices, weights)[0]
        before = reader_statuses(session)
        operation()
        changed = joins_and_departures(before, reader_statuses(session))
        ending = chance.random()
        if ending < 0.3:  # a transaction sees its own changes before it commits
            assert_tallies_match(session, ids)
            assert reader_month_totals(session) == expected + changed, operation.__name__
        if ending < 0.9:
            session.commit()
            expected += changed
        else:
            session.rollback()
        assert_tallies_match(session, ids)
        assert reader_month_totals(session) == expected, operation.__name__
    assert sum(expected[name] for name in DEPARTURES.values()) > 0
    assert operations.status_changes["core"] > 0 and operations.status_changes["orm"] > 0

    figures = tallies.tallies(session, ids, by_variant=False)
    assert sum(f["planned"] for f in figures.values()) > 0
    assert sum(f["sent"] for f in figures.values()) > 0
    assert session.scalar(select(func.count()).select_from(EditionTallyChange)) == 0
    assert session.scalar(select(func.count()).select_from(EditionMinuteChange)) == 0
    assert session.scalar(select(func.count()).select_from(ItemTallyChange)) == 0

    # An edition deleted with its deliveries takes its tallies along.
    edition = session.get(Edition, ids[0])
    assert edition is not None
    session.delete(edition)
    session.commit()
    assert session.scalar(select(func.count()).where(EditionTally.edition_id == ids[0])) == 0
    assert session.scalar(select(func.count()).where(EditionMinute.edition_id == ids[0])) == 0
    assert session.scalar(select(func.count()).where(ItemTally.edition_id == ids[0])) == 0
    assert_tallies_match(session, ids)


def test_clicks_per_item_are_counted_through_repeats_erasure_and_deletions(
    app: Flask, factories: Factories, session: Session
) -> None:
    ai = {"topics": ["ai"]}
    send = make_send(factories, session, {"ann": ai, "bob": ai, "cat": ai, "dan": ai})
    edition_id = send.edition.id

    def counted() -> dict[int, tuple[int, int]]:
        figures = tallies.items(session, edition_id)
        assert figures == tallies.recount_items(session, edition_id)
        return figures

    send.click("ann", 1, minutes=20)
    send.click("ann", 1, minutes=30)  # the same reader again: one reader, two clicks
    send.click("bob", 1, minutes=21)
    send.click("bob", 2, minutes=40)
    send.click("cat", 2, minutes=22)
    send.click("dan", 3, minutes=23)
    assert counted() == {1: (2, 3), 2: (2, 2), 3: (1, 1)}
    assert session.scalar(select(func.count()).select_from(ItemTallyChange)) == 0

    # Erasure keeps what happened (deliveries and clicks), only the personal data goes.
    bob = send.deliveries["bob"].subscriber
    erase(session, settings_of(app), bob, Origin(ConsentSource.FORM))
    session.commit()
    assert counted() == {1: (2, 3), 2: (2, 2), 3: (1, 1)}

    # A delivery deleted, a reader deleted: their clicks go by ON DELETE CASCADE.
    session.execute(delete(Delivery).where(Delivery.id == send.deliveries["ann"].id))
    assert counted() == {1: (1, 1), 2: (2, 2), 3: (1, 1)}  # before the commit too
    session.commit()
    session.execute(delete(Subscriber).where(Subscriber.id == send.deliveries["cat"].subscriber_id))
    session.commit()
    assert counted() == {1: (1, 1), 2: (1, 1), 3: (1, 1)}
    session.execute(delete(Delivery).where(Delivery.id == send.deliveries["dan"].id))
    session.rollback()  # nothing counted for a rollback
    assert counted() == {1: (1, 1), 2: (1, 1), 3: (1, 1)}

    session.delete(send.edition)
    session.commit()
    assert session.scalar(select(func.count()).select_from(ItemTally)) == 0


def test_a_hard_bounce_and_an_unsubscribe_count_under_the_delivery_variant(
    app: Flask, factories: Factories, session: Session
) -> None:
    reader = factories.subscriber(topics=["ai"], language="en")
    edition = factories.edition("2024-07", status=EditionStatus.SENT, items=ITEMS)
    delivery = Delivery(edition_id=edition.id, subscriber_id=reader.id, variant_key="en:ai",
                        token=new_token(), status=DeliveryStatus.SENT, message_id="ses-1",
                        sent_at=utcnow() - timedelta(minutes=5))
    session.add(delivery)
    session.commit()
    unsubscribe(session, settings_of(app), reader, Origin(ConsentSource.ONE_CLICK))
    event = SesEvent(kind="bounce", message_id="ses-1", delivery_id=delivery.id,
                     recipients=(), occurred_at=utcnow(), bounce_type="Permanent")
    record_ses_event(session, event, {}, bounce_suppress_after=3)
    session.commit()
    assert tallies.tallies(session, [edition.id], by_variant=True) == {
        (edition.id, "en:ai"): {
            **dict.fromkeys(TALLY_FIGURES, 0),
            "planned": 1, "sent": 1, "bounced": 1, "hard_bounced": 1, "unsubscribed": 1,
        }
    }
    assert edition_funnel(session, edition.id).hard_bounced == 1

    session.execute(delete(Delivery).where(Delivery.id == delivery.id))
    session.commit()
    assert tallies.tallies(session, [edition.id], by_variant=True) == {}
    row = session.get(EditionTally, (edition.id, "en:ai"))
    assert row is not None
    assert {name: getattr(row, name) for name in TALLY_FIGURES} == dict.fromkeys(TALLY_FIGURES, 0)


def test_a_delivery_moved_to_another_edition_and_variant_takes_its_figures_along(
    app: Flask, factories: Factories, session: Session
) -> None:
    """Nothing moves a delivery today; the triggers keep the counts right if something does."""
    reader = factories.subscriber(topics=["ai"], language="en")
    july = factories.edition("2024-07", status=EditionStatus.SENT, items=ITEMS)
    august = factories.edition("2024-08", status=EditionStatus.SENT, items=ITEMS)
    delivery = Delivery(edition_id=july.id, subscriber_id=reader.id, variant_key="en:ai",
                        token=new_token(), status=DeliveryStatus.SENT, message_id="ses-1",
                        sent_at=utcnow() - timedelta(minutes=5), opened_at=utcnow())
    session.add(delivery)
    session.flush()
    session.add(DeliveryOutcome(delivery_id=delivery.id, edition_id=july.id,
                                hard_bounced_at=utcnow(), unsubscribed_at=utcnow()))
    session.commit()
    ids = [july.id, august.id]
    session.execute(update(Delivery).where(Delivery.id == delivery.id)
                    .values(variant_key="en:ai,data"))
    assert_tallies_match(session, ids)
    session.execute(update(Delivery).where(Delivery.id == delivery.id)
                    .values(edition_id=august.id, status=DeliveryStatus.FAILED))
    session.commit()
    assert_tallies_match(session, ids)
    assert edition_funnel(session, july.id) == Funnel()
    assert edition_funnel(session, august.id) == Funnel(
        planned=1, failed=1, opened=1, hard_bounced=1, unsubscribed=1
    )


# ---- PostgreSQL's commit-time fold ----------------------------------------------------------


@pytest.fixture
def pg_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """The app on PostgreSQL only: SQLite has one writer at a time, so no lock order to keep."""
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = new_postgres_database(server, request.getfixturevalue("postgres_template"))
    application = create_app(app_config(url, tmp_path))
    yield application
    database(application).engine.dispose()


@pytest.fixture
def pg_sessions(pg_app: Flask) -> Iterator[tuple[Session, Session, Session]]:
    """Three sessions: one to arrange and check, two to race."""
    sessions = database(pg_app).sessionmaker
    with sessions() as own, sessions() as first, sessions() as second:
        yield own, first, second


def wait_at_most_seconds(session: Session, seconds: int) -> None:
    """A lock wait in this transaction fails after `seconds` instead of hanging the test."""
    session.execute(text(f"SET LOCAL lock_timeout = '{seconds}s'"))


def planned_edition(session: Session, readers: int) -> tuple[Edition, list[Subscriber]]:
    factories = Factories(session)
    subscribers = [factories.subscriber(topics=["ai"]) for _ in range(readers)]
    edition = factories.edition("2024-07", status=EditionStatus.APPROVED, items=ITEMS)
    return edition, subscribers


def test_a_settling_worker_and_an_event_for_its_chunk_never_deadlock(
    pg_sessions: tuple[Session, Session, Session],
) -> None:
    """The worker marks its chunk sent a row at a time while SES reports on a later row of
    it. Were the counters updated in place, the worker would hold the variant's counter from
    its first row and the event would hold the later row: each waiting for the other."""
    session, worker, hook = pg_sessions
    edition, readers = planned_edition(session, 2)
    sending.start_send(session, edition, actor="test")
    session.commit()
    first, later = store.claim_batch(session, edition.id, 2, "worker")
    store.set_status(session, [first, later], DeliveryStatus.IN_DOUBT)
    session.commit()

    wait_at_most_seconds(worker, 5)
    store.mark_sent(worker, first, "ses-first")
    event_stored, errors = threading.Event(), []

    def hook_receives_a_delivery_event() -> None:
        try:
            wait_at_most_seconds(hook, 3)
            event = SesEvent(kind="delivery", message_id="ses-later", delivery_id=later,
                             recipients=(readers[1].email or "",), occurred_at=utcnow())
            record_ses_event(hook, event, {}, bounce_suppress_after=3)
            hook.flush()
            event_stored.set()
            threading.Event().wait(0.3)  # the worker is waiting for this row by now
            hook.commit()
        except Exception as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=hook_receives_a_delivery_event)
    thread.start()
    if not event_stored.wait(5):
        thread.join(10)
        pytest.fail(f"the event's update waited for the worker's counter lock: {errors}")
    store.mark_sent(worker, later, "ses-later")  # waits for the hook's commit, then goes on
    worker.commit()
    thread.join(10)
    assert errors == []
    assert_tallies_match(session, [edition.id])
    assert edition_funnel(session, edition.id).sent == 2


def test_change_rows_are_folded_at_commit_and_vanish_with_a_rollback(
    pg_sessions: tuple[Session, Session, Session],
) -> None:
    session, mine, other = pg_sessions
    edition, _ = planned_edition(session, 1)
    mine_edition = mine.get(Edition, edition.id)
    assert mine_edition is not None
    sending.start_send(mine, mine_edition, actor="test")
    mine.flush()
    assert edition_funnel(mine, edition.id).queued == 1  # its own changes, not folded yet
    assert mine.scalar(select(func.count()).select_from(EditionTallyChange)) == 1
    assert edition_funnel(other, edition.id) == Funnel()  # nothing another can see
    other.rollback()
    mine.rollback()
    assert mine.scalar(select(func.count()).select_from(EditionTallyChange)) == 0
    assert edition_funnel(mine, edition.id) == Funnel()

    mine_edition = mine.get(Edition, edition.id)
    assert mine_edition is not None
    sending.start_send(mine, mine_edition, actor="test")
    mine.commit()
    assert other.scalar(select(func.count()).select_from(EditionTallyChange)) == 0
    assert edition_funnel(other, edition.id).queued == 1
    other.rollback()


def test_truncating_the_deliveries_empties_the_tallies(
    pg_sessions: tuple[Session, Session, Session],
) -> None:
    session, _, _ = pg_sessions
    edition, _ = planned_edition(session, 3)
    sending.start_send(session, edition, actor="test")
    session.commit()
    session.execute(text("TRUNCATE deliveries CASCADE"))  # outcomes, clicks and events too
    session.commit()
    assert_tallies_match(session, [edition.id])
    assert session.scalar(select(func.count()).select_from(EditionTally)) == 0


# ---- the migration's backfill ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0009(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = new_postgres_database(server, None)
    else:
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrate.upgrade(url, "0009")
    return url


def test_upgrading_counts_the_deliveries_already_there(database_at_0009: str) -> None:
    engine = make_engine(database_at_0009)
    sent_at = utcnow().replace(second=5, microsecond=0) - timedelta(hours=2)
    with Session(engine) as session:  # the other tables written here are the same at 0009
        # Editions have gained columns since 0009: written as they were then.
        session.execute(text(
            "INSERT INTO editions (month, title, subject, preheader, intro, status, created_at, "
            "updated_at) VALUES ('2024-07', 't', '', '', '', 'sent', '2024-07-01 00:00:00', "
            "'2024-07-01 00:00:00')"
        ))
        edition_id = session.scalar(text("SELECT id FROM editions"))
        for n in range(6):
            reader = Subscriber(email=f"r{n}@example.com", email_key=f"r{n}@example.com",
                                status=SubscriberStatus.ACTIVE)
            session.add(reader)
            session.flush()
            delivery = Delivery(
                edition_id=edition_id, subscriber_id=reader.id, token=new_token(),
                variant_key="en:ai" if n % 2 else "en:data",
                status=DeliveryStatus.SENT if n < 4 else DeliveryStatus.QUEUED,
                sent_at=sent_at + timedelta(minutes=n) if n < 4 else None,
                delivered_at=sent_at + timedelta(minutes=n + 1) if n < 2 else None,
            )
            session.add(delivery)
            session.flush()
            if n % 2 and n < 4:
                session.add(DeliveryOutcome(delivery_id=delivery.id, edition_id=edition_id,
                                            hard_bounced_at=utcnow()))
        session.commit()
    engine.dispose()

    migrate.upgrade(database_at_0009)
    engine = make_engine(database_at_0009)
    with Session(engine) as session:
        assert_tallies_match(session, [edition_id])
        assert edition_funnel(session, edition_id) == Funnel(
            planned=6, queued=2, sent=4, delivered=2, hard_bounced=2
        )
        minutes = tallies.minutes(session, edition_id)
        assert [pair for _, pair in sorted(minutes.items())] == [(1, 0), (1, 1), (1, 1), (1, 0)]
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_at_0028(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = new_postgres_database(server, None)
    else:
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrate.upgrade(url, "0028")
    return url


def test_upgrading_counts_the_clicks_already_there(database_at_0028: str) -> None:
    engine = make_engine(database_at_0028)
    with Session(engine) as session:  # every table written here is the same at 0028
        edition = Edition(month="2024-07", title="t", status=EditionStatus.SENT)
        session.add(edition)
        session.flush()
        for n in range(4):
            reader = Subscriber(email=f"r{n}@example.com", email_key=f"r{n}@example.com",
                                status=SubscriberStatus.ACTIVE)
            session.add(reader)
            session.flush()
            delivery = Delivery(edition_id=edition.id, subscriber_id=reader.id, token=new_token(),
                                variant_key="en:ai", status=DeliveryStatus.SENT, sent_at=utcnow())
            session.add(delivery)
            session.flush()
            for number in range(1, n + 1):  # the link n: readers n..3, reader n clicks it n times
                session.add(ItemClick(delivery_id=delivery.id, item_number=number,
                                      edition_id=edition.id, clicks=n, first_clicked_at=utcnow()))
        session.commit()
        edition_id = edition.id
    engine.dispose()

    migrate.upgrade(database_at_0028)
    engine = make_engine(database_at_0028)
    with Session(engine) as session:
        assert tallies.items(session, edition_id) == {1: (3, 6), 2: (2, 5), 3: (1, 3)}
        assert tallies.items(session, edition_id) == tallies.recount_items(session, edition_id)
    engine.dispose()
