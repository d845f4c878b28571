"""`--stats-only` and its set-based event load: end to end, and the counters the load leaves
equal to what the events' own triggers make of the same events. No timing asserts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from tests.tools.bench.population import populate
from tests.tools.bench.report import text_report
from tests.tools.bench.run import BenchOptions, run_bench
from tests.tools.bench.statsload import load_events
from webapp.cli.content import read_report
from webapp.cli.demo import SAMPLE_REPORT
from webapp.delivery import sending
from webapp.editions.records import import_report, suggest_report_topics
from webapp.models import Delivery, DeliveryOutcome, DeliveryStatus, Event, ItemClick
from webapp.stats import tallies

NOW = datetime(2026, 7, 3, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_stats_only_loads_a_sent_edition_and_times_its_dashboard(postgres: bool) -> None:
    figures = run_bench(BenchOptions(readers=2000, stats_only=True, postgres=postgres,
                                     sized_server=False))
    assert figures["planned"] + figures["excluded"] == 2000
    # ~2.5 events per delivery: a Send each, a Delivery or a Bounce, some opens and clicks.
    assert 2.4 * figures["planned"] < figures["events_loaded"] < 2.7 * figures["planned"]
    assert figures["tallies_match_recount"] and figures["item_tallies_match_recount"]
    assert figures["stats_queries"] and "stats_10m_ms" not in figures  # only at 10,000,000
    report = text_report(figures)
    assert "dashboard stats" in report and "populate / load events / VACUUM" in report
    if postgres:
        assert figures["database_mb"] > 0


def _figures(session: Session, edition_id: int) -> dict[str, Any]:
    session.rollback()
    return {
        "clicks": set(session.execute(select(
            ItemClick.delivery_id, ItemClick.item_number, ItemClick.clicks,
            ItemClick.first_clicked_at)).tuples()),
        "outcomes": set(session.execute(select(
            DeliveryOutcome.delivery_id, DeliveryOutcome.hard_bounced_at,
            DeliveryOutcome.unsubscribed_at)).tuples()),
        "tallies": tallies.tallies(session, [edition_id], by_variant=True),
        "items": tallies.items(session, edition_id),
    }


@pytest.mark.postgres
def test_the_set_based_load_leaves_what_the_event_triggers_make(session: Session) -> None:
    populate(session, 1000, NOW)
    edition = import_report(session, suggest_report_topics(session, read_report(
        SAMPLE_REPORT, None)), actor="test")
    sending.approve(session, edition, actor="test", allow_untranslated=True)
    sending.start_send(session, edition, actor="test")
    session.commit()
    edition_id = edition.id
    # Sent as a worker would leave them (the full bench's path; --stats-only passes sent_at).
    session.execute(update(Delivery).values(status=DeliveryStatus.SENT, sent_at=NOW,
                                            message_id=Delivery.token))
    session.commit()
    assert load_events(session, edition_id) > 0
    loaded = _figures(session, edition_id)
    assert len(loaded["clicks"]) > 50 and sum(1 for o in loaded["outcomes"] if o[1]) > 5

    # The same events through the triggers of migration 0012: each click recounted (flagged a
    # scanner, then not), each permanent bounce arriving again after its outcome was cleared.
    clicks = Event.kind == "click"
    session.execute(update(Event).where(clicks).values(suspected_scanner=True))
    assert not session.scalar(select(ItemClick.delivery_id).limit(1))
    session.execute(update(Event).where(clicks).values(suspected_scanner=False))
    session.execute(update(DeliveryOutcome).values(hard_bounced_at=None))
    columns = ["kind", "source", "delivery_id", "subscriber_id", "edition_id",
               "ses_message_id", "occurred_at", "received_at", "suspected_scanner",
               "item_number", "bounce_type"]
    bounces = select(*(getattr(Event, c) for c in columns)).where(
        Event.kind == "bounce", Event.bounce_type == "Permanent")
    session.execute(insert(Event).from_select(columns, bounces))
    session.commit()

    assert _figures(session, edition_id) == loaded
    assert tallies.tallies(session, [edition_id], by_variant=True) == tallies.recount(
        session, [edition_id])
    assert tallies.items(session, edition_id) == tallies.recount_items(session, edition_id)
