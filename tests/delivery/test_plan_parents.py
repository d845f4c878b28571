"""A delivery's edition and reader: checked once per statement on PostgreSQL (migration 0027),
by foreign keys on SQLite, with the same outcome on both."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.delivery import sending
from webapp.models import Delivery, Edition, Subscriber


def _plan(session: Session, factories: Factories, readers: int = 3) -> Edition:
    for _ in range(readers):
        factories.subscriber(topics=["ai"])
    session.commit()
    edition = sending.load_edition(session, "2024-07")
    sending.start_send(session, edition, actor="test")
    session.commit()
    return edition


def _row(edition_id: int, subscriber_id: int, token: str) -> dict[str, object]:
    return {"edition_id": edition_id, "subscriber_id": subscriber_id, "variant_key": "zh-CN:ai",
            "token": token, "status": "queued", "attempts": 0}


@pytest.mark.postgres
def test_a_delivery_for_a_reader_or_edition_that_does_not_exist_is_refused(
    session: Session, factories: Factories, approved: Edition
) -> None:
    edition = _plan(session, factories, readers=1)
    reader = session.scalars(select(Subscriber)).one()
    missing = reader.id + 1000
    for row in (_row(edition.id, missing, "t" * 40), _row(edition.id + 1000, reader.id, "u" * 40)):
        with pytest.raises(IntegrityError):
            session.execute(insert(Delivery), [row])
        session.rollback()
    # Several rows in one statement, one of them without its reader: none is written.
    other = factories.subscriber(topics=["ai"])
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(insert(Delivery), [_row(edition.id, other.id, "v" * 40),
                                           _row(edition.id, missing, "w" * 40)])
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Delivery)) == 1


@pytest.mark.postgres
def test_moving_a_delivery_to_a_reader_that_does_not_exist_is_refused(
    session: Session, factories: Factories, approved: Edition
) -> None:
    _plan(session, factories, readers=1)
    delivery = session.scalars(select(Delivery)).one()
    with pytest.raises(IntegrityError):
        session.execute(update(Delivery).where(Delivery.id == delivery.id)
                        .values(subscriber_id=delivery.subscriber_id + 1000))
    session.rollback()
    # Updates that leave edition and reader alone are not checked (the workers' many).
    session.execute(update(Delivery).values(attempts=Delivery.attempts + 1))
    session.commit()


@pytest.mark.postgres
def test_a_reader_or_edition_deleted_takes_its_deliveries_along(
    session: Session, factories: Factories, approved: Edition
) -> None:
    edition = _plan(session, factories, readers=3)
    first = session.scalars(select(Subscriber).order_by(Subscriber.id)).first()
    assert first is not None
    session.execute(delete(Subscriber).where(Subscriber.id == first.id))
    session.commit()
    left = set(session.scalars(select(Delivery.subscriber_id)))
    assert len(left) == 2 and first.id not in left

    session.execute(delete(Edition).where(Edition.id == edition.id))
    session.commit()
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0


@pytest.mark.postgres
def test_plan_tokens_are_unique_and_sort_in_plan_order_on_postgresql(
    session: Session, factories: Factories, approved: Edition, backend: str
) -> None:
    _plan(session, factories, readers=40)
    rows = session.execute(select(Delivery.id, Delivery.token).order_by(Delivery.id)).all()
    tokens = [token for _, token in rows]
    assert len(set(tokens)) == 40
    assert all(len(t) == 64 and int(t, 16) >= 0 for t in tokens)
    if backend == "postgresql":
        # Ties within a microsecond are broken by the random part: order, not strictness.
        prefixes = [t[:14] for t in tokens]
        assert prefixes == sorted(prefixes)


@pytest.mark.postgres
def test_a_reader_deleted_while_a_plan_is_in_flight_leaves_no_delivery_behind(
    session: Session, factories: Factories, approved: Edition, backend: str
) -> None:
    """The delete waits for the plan's commit, then removes what the plan wrote for them."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    import threading

    reader = factories.subscriber(topics=["ai"])
    session.commit()
    edition = sending.load_edition(session, "2024-07")
    engine = session.get_bind()
    plan = engine.connect()  # type: ignore[union-attr]
    plan_tx = plan.begin()
    plan.execute(insert(Delivery), [_row(edition.id, reader.id, "p" * 40)])
    deleted = threading.Event()

    def delete_reader() -> None:
        with engine.begin() as conn:  # type: ignore[union-attr]
            conn.execute(delete(Subscriber).where(Subscriber.id == reader.id))
        deleted.set()

    thread = threading.Thread(target=delete_reader)
    thread.start()
    assert not deleted.wait(1.0), "the delete waits for the plan in flight"
    plan_tx.commit()
    plan.close()
    thread.join(30)
    assert deleted.is_set()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0
