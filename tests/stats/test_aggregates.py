"""webapp.stats.aggregates: readers joining and leaving per month, as the triggers count them and
as a transaction that has just changed statuses sees them.

The month is the database's clock (the triggers write it), which no test can freeze; so these
tests either store `reader_months` rows for months of their own or add up every month.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import ReaderMonth, Subscriber, SubscriberStatus
from webapp.models.stats import MONTH_FIGURES
from webapp.stats.aggregates import reader_months


def month_totals(session: Session) -> Counter[str]:
    """reader_months over every month (a run may cross midnight at a month's end)."""
    totals: Counter[str] = Counter()
    for figures in reader_months(session).values():
        totals.update(figures)
    return totals


def test_no_reader_ever_joined_no_month_is_reported(session: Session) -> None:
    assert reader_months(session) == {}


def test_stored_months_are_reported_with_every_figure(session: Session) -> None:
    session.add_all([
        ReaderMonth(month="2024-05", joined=12, unsubscribed=1, bounced=2, complained=0, erased=0),
        ReaderMonth(month="2024-06", joined=3, unsubscribed=0, bounced=0, complained=1, erased=4),
    ])
    session.commit()

    months = reader_months(session)

    assert months == {
        "2024-05": {"joined": 12, "unsubscribed": 1, "bounced": 2, "complained": 0, "erased": 0},
        "2024-06": {"joined": 3, "unsubscribed": 0, "bounced": 0, "complained": 1, "erased": 4},
    }
    assert all(tuple(figures) == MONTH_FIGURES for figures in months.values())
    assert all(type(n) is int for figures in months.values() for n in figures.values())


@pytest.mark.postgres  # PostgreSQL keeps a transaction's changes apart until it commits
def test_a_transaction_sees_its_own_joins_before_it_commits_and_loses_them_with_a_rollback(
    session: Session, factories: Factories
) -> None:
    factories.subscriber()
    assert month_totals(session)["joined"] == 1

    session.add(Subscriber(email="new@example.com", email_key="new@example.com",
                           status=SubscriberStatus.ACTIVE))
    session.flush()
    # The committed month and this transaction's change to it, added up in one figure.
    assert month_totals(session)["joined"] == 2
    session.rollback()
    assert month_totals(session)["joined"] == 1


@pytest.mark.postgres
def test_pending_and_refused_readers_have_not_joined_until_they_become_active(
    session: Session, factories: Factories
) -> None:
    pending = factories.subscriber(status=SubscriberStatus.PENDING)
    factories.subscriber(status=SubscriberStatus.UNSUBSCRIBED)
    assert month_totals(session)["joined"] == 0

    pending.status = SubscriberStatus.ACTIVE
    session.commit()
    pending.status = SubscriberStatus.PAUSED  # still receiving: neither a join nor a departure
    session.commit()

    assert month_totals(session) == Counter(joined=1)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "status", [s for s in SubscriberStatus if s.value in MONTH_FIGURES], ids=str
)
def test_each_departure_is_counted_under_its_own_figure(
    session: Session, factories: Factories, status: SubscriberStatus
) -> None:
    reader = factories.subscriber()
    reader.status = status
    session.commit()

    assert month_totals(session) == Counter({"joined": 1, status.value: 1})


@pytest.mark.postgres  # the triggers are written once per backend
def test_a_status_changed_in_core_counts_like_one_changed_through_the_orm(
    session: Session, factories: Factories
) -> None:
    # No process-wide flush listener does the counting (the database does, migration 0012).
    assert not session.dispatch.before_flush
    ann, bob, cat = (factories.subscriber(topics=["ai"], email=f"{name}@example.com")
                     for name in ("ann", "bob", "cat"))
    session.commit()
    before = month_totals(session)
    table = Subscriber.__table__
    session.connection().execute(
        update(table)  # type: ignore[arg-type]
        .where(table.c.id.in_([ann.id, cat.id]))
        .values(status=SubscriberStatus.UNSUBSCRIBED)
    )
    bob.status = SubscriberStatus.UNSUBSCRIBED
    session.flush()
    assert month_totals(session)["unsubscribed"] == before["unsubscribed"] + 3
    session.commit()
    session.connection().execute(
        update(table).where(table.c.id == cat.id)  # type: ignore[arg-type]
        .values(status=SubscriberStatus.ACTIVE)
    )
    session.commit()
    after = month_totals(session)
    assert (after["joined"], after["unsubscribed"]) == (
        before["joined"] + 1, before["unsubscribed"] + 3
    )
