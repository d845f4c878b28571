"""Send progress as an editor reads it while the engine works: the six counts add up to
`planned` at every step, a chunk in its call is `sending` (never "in doubt"), and only what a
crash left behind is in doubt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from emails import Variant
from emails.transports.batch import BatchEntry, EntryResult
from tests.delivery.conftest import FakeBatch, make_engine, refresh, start_july
from webapp.db import database
from webapp.delivery import store
from webapp.delivery.heartbeat import beat
from webapp.models import Delivery, DeliveryStatus, Edition, utcnow
from webapp.stats.progress import send_progress

COUNTS = ("queued", "sending", "sent", "failed", "skipped", "in_doubt")


def _adds_up(progress: dict[str, Any]) -> bool:
    return sum(progress[name] for name in COUNTS) == progress["planned"]


@pytest.mark.postgres
@pytest.mark.usefixtures("approved")
def test_counts_add_up_mid_batch_and_a_chunk_in_its_call_is_sending(
    app: Flask, session: Session, readers: list[int]
) -> None:
    edition = start_july(session)
    beat(session, "test-worker")  # the engine's worker is alive
    session.commit()
    sessions = database(app).sessionmaker
    seen: list[tuple[int, dict[str, Any]]] = []

    def look_during_the_call(
        variant: Variant, entries: Sequence[BatchEntry], number: int
    ) -> list[EntryResult]:
        # The chunk is marked in doubt (committed) and its call has not answered yet.
        with sessions() as reader:
            loaded = reader.get(Edition, edition.id)
            assert loaded is not None
            seen.append((len(entries), send_progress(reader, loaded)))
        return [EntryResult("SUCCESS", f"msg-{e.delivery_id}") for e in entries]

    make_engine(app, FakeBatch(script=look_during_the_call), chunk=3).run(edition.id)

    assert len(seen) >= 4
    for in_call, progress in seen:
        assert _adds_up(progress), progress
        assert progress["planned"] == 10
        assert progress["in_doubt"] == 0  # a healthy send is never "in doubt"
        assert progress["sending"] >= in_call
    loaded = refresh(session).get(Edition, edition.id)
    assert loaded is not None
    final = send_progress(session, loaded)
    assert _adds_up(final) and (final["status"], final["sent"]) == ("sent", 10)
    assert final["eta_s"] is None  # finished: nothing left to wait for


@pytest.mark.postgres
@pytest.mark.usefixtures("approved")
def test_after_a_crash_only_what_was_handed_over_is_in_doubt(
    app: Flask, session: Session, readers: list[int]
) -> None:
    """A worker claimed six, handed three to the transport and died: three go back to the
    queue (never handed over), three are in doubt. A live worker's call in flight is
    `sending`; its chunk whose answer was lost is in doubt."""
    edition = start_july(session)
    ids = store.claim_batch(session, edition.id, 6, "gone:1")
    store.mark_in_doubt(session, ids[:3], "gone:1")
    session.commit()
    now = utcnow()
    with_dead = send_progress(session, edition, now=now)
    assert _adds_up(with_dead)
    assert (with_dead["queued"], with_dead["sending"], with_dead["in_doubt"]) == (7, 0, 3)

    # The same rows while their worker still beats: a batch in hand, not in doubt.
    beat(session, "gone:1", now=now)
    session.commit()
    alive = send_progress(session, edition, now=now)
    assert (alive["queued"], alive["sending"], alive["in_doubt"]) == (4, 6, 0)

    # A call whose answer was lost (AnswerUnknown) is in doubt although its worker lives.
    store.set_status(session, ids[:2], DeliveryStatus.IN_DOUBT, error="timeout")
    session.commit()
    lost = send_progress(session, edition, now=now)
    assert _adds_up(lost)
    assert (lost["queued"], lost["sending"], lost["in_doubt"]) == (4, 4, 2)

    # Its heartbeat goes stale: the worker is gone.
    later = send_progress(session, edition, now=now + timedelta(minutes=5))
    assert _adds_up(later)
    assert (later["queued"], later["sending"], later["in_doubt"]) == (7, 0, 3)


@pytest.mark.usefixtures("approved")
def test_an_unexpected_error_leaves_its_chunk_in_doubt_with_the_reason(
    app: Flask, session: Session, readers: list[int]
) -> None:
    """The send pauses and the worker lives on: its chunk must read "in doubt", not "sending"."""
    edition = start_july(session)
    beat(session, "test-worker")
    session.commit()

    def broken(variant: Variant, entries: Sequence[BatchEntry], number: int) -> list[EntryResult]:
        raise RuntimeError("an answer no one expected")

    make_engine(app, FakeBatch(script=broken), chunk=3).run(edition.id)
    loaded = refresh(session).get(Edition, edition.id)
    assert loaded is not None
    progress = send_progress(session, loaded)
    assert _adds_up(progress) and progress["status"] == "paused"
    assert progress["in_doubt"] >= 3 and progress["sending"] == 0
    errors = set(session.scalars(
        select(Delivery.error).where(Delivery.status == DeliveryStatus.IN_DOUBT)))
    assert errors == {"unexpected error while sending: RuntimeError: an answer no one expected"}
