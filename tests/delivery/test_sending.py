"""The send state machine's refusals: each reason its own exception, carrying what a page or
the CLI needs to say it, and nothing changed in the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.delivery import sending
from webapp.delivery.sending import (
    EditionHasNoItems,
    EditionNotFound,
    ItemsWithoutTopic,
    NoItemHasTopic,
    NoScheduleRule,
    NotScheduled,
    ScheduleInPast,
    ScheduleRuleInvalid,
    ScheduleWithoutTimeZone,
    SendError,
    WrongEditionState,
)
from webapp.models import AuditEntry, Delivery, Edition, EditionStatus, ScheduleRule

NOW = datetime(2030, 1, 10, 4, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def _footprint(session: Session) -> tuple[list[tuple[str, EditionStatus]], int, int, int]:
    """What a refusal must leave as it was: every edition's status, audit entries, deliveries
    and schedule rules, as committed."""
    session.commit()  # a refused call left nothing pending that this would store
    session.expire_all()
    editions = list(session.execute(select(Edition.month, Edition.status)).tuples())
    count = {model: session.scalar(select(func.count()).select_from(model)) or 0
             for model in (AuditEntry, Delivery, ScheduleRule)}
    return editions, count[AuditEntry], count[Delivery], count[ScheduleRule]


def test_an_unknown_month_is_edition_not_found(session: Session) -> None:
    with pytest.raises(EditionNotFound) as refused:
        sending.load_edition(session, "1999-01")
    assert refused.value.month == "1999-01"
    assert str(refused.value) == "there is no edition for 1999-01"


@pytest.mark.parametrize(
    ("status", "action", "allowed"),
    [
        (EditionStatus.APPROVED, "approve", {EditionStatus.DRAFT}),
        (EditionStatus.DRAFT, "schedule", {EditionStatus.APPROVED, EditionStatus.SCHEDULED}),
        (EditionStatus.DRAFT, "send", {EditionStatus.APPROVED, EditionStatus.SCHEDULED}),
        (EditionStatus.APPROVED, "pause", {EditionStatus.SENDING}),
        (EditionStatus.SENT, "resume", {EditionStatus.PAUSED}),
        (EditionStatus.SENT, "cancel",
         {EditionStatus.SCHEDULED, EditionStatus.SENDING, EditionStatus.PAUSED}),
    ],
)
@pytest.mark.usefixtures("frozen")
def test_an_action_from_the_wrong_state_names_the_state_and_the_allowed_ones(
    session: Session, factories: Factories, status: EditionStatus, action: str,
    allowed: set[EditionStatus],
) -> None:
    edition = factories.edition(status=status, items={"policy": [{"topics": ["ai"]}]})
    before = _footprint(session)
    calls = {
        "approve": lambda: sending.approve(session, edition, actor="test"),
        "schedule": lambda: sending.schedule(session, edition, datetime(2030, 2, 1, tzinfo=UTC),
                                             actor="test"),
        "send": lambda: sending.start_send(session, edition, actor="test"),
        "pause": lambda: sending.pause(session, edition, actor="test"),
        "resume": lambda: sending.resume(session, edition, actor="test"),
        "cancel": lambda: sending.cancel(session, edition, actor="test"),
    }
    with pytest.raises(WrongEditionState) as refused:
        calls[action]()
    error = refused.value
    assert (error.month, error.status, error.action) == ("2024-07", status, action)
    assert error.allowed == allowed
    assert f"cannot {action} the 2024-07 edition: it is {status.value}" in str(error)
    assert _footprint(session) == before


def test_approving_an_edition_without_items_is_refused_as_such(
    session: Session, factories: Factories
) -> None:
    edition = factories.edition()
    before = _footprint(session)
    with pytest.raises(EditionHasNoItems) as refused:
        sending.approve(session, edition, actor="test")
    assert refused.value.month == "2024-07"
    assert str(refused.value) == "the 2024-07 edition has no items"
    assert _footprint(session) == before


def test_approving_an_edition_whose_items_have_no_topic_is_refused_as_such(
    session: Session, factories: Factories
) -> None:
    edition = factories.edition(items={"policy": [{}, {}]})
    before = _footprint(session)
    with pytest.raises(NoItemHasTopic) as refused:
        sending.approve(session, edition, actor="test")
    assert refused.value.month == "2024-07"
    assert _footprint(session) == before


def test_approving_an_edition_with_one_item_without_a_topic_is_refused(
    session: Session, factories: Factories
) -> None:
    # No reader would get that item: an editor never means that, so it is chosen first.
    partly = factories.edition(
        "2024-08", items={"policy": [{"title": "无主题条目"}, {"topics": ["ai"]}]}
    )
    before = _footprint(session)
    with pytest.raises(ItemsWithoutTopic) as refused:
        sending.approve(session, partly, actor="test")
    assert (refused.value.month, refused.value.count) == ("2024-08", 1)
    assert "无主题条目" in str(refused.value)
    assert partly.status == EditionStatus.DRAFT and _footprint(session) == before


@pytest.mark.usefixtures("frozen")
def test_a_schedule_in_the_past_carries_the_time_asked_for(
    session: Session, approved: Edition
) -> None:
    before = _footprint(session)
    for at in (datetime(2030, 1, 9, tzinfo=UTC), NOW):
        with pytest.raises(ScheduleInPast) as refused:
            sending.schedule(session, approved, at, actor="test")
        assert (refused.value.at, refused.value.now) == (at, NOW)
    assert _footprint(session) == before


@pytest.mark.usefixtures("frozen")
def test_a_schedule_without_a_time_zone_is_refused(session: Session, approved: Edition) -> None:
    before = _footprint(session)
    naive = datetime(2030, 2, 1, 9, 30)
    with pytest.raises(ScheduleWithoutTimeZone) as refused:
        sending.schedule(session, approved, naive, actor="test")
    assert refused.value.at == naive
    assert _footprint(session) == before


@pytest.mark.parametrize(
    ("day", "time", "reason", "text"),
    [
        (None, "09:00", "incomplete", "give both the day (1–28) and the time (HH:MM)"),
        (5, None, "incomplete", "give both the day (1–28) and the time (HH:MM)"),
        (29, "09:00", "day", "the day must be between 1 and 28, so every month has it"),
        (0, "09:00", "day", "the day must be between 1 and 28, so every month has it"),
        (5, "nine", "time", "the time must be HH:MM"),
        (5, "24:00", "time", "the time must be HH:MM"),
    ],
)
def test_a_schedule_rule_that_cannot_be_used_says_why(
    session: Session, day: int | None, time: str | None, reason: str, text: str
) -> None:
    session.add(ScheduleRule(day=1, time="08:00", enabled=False))
    before = _footprint(session)
    with pytest.raises(ScheduleRuleInvalid) as refused:
        sending.set_schedule_rule(session, day=day, time=time, actor="test", zone=SHANGHAI)
    error = refused.value
    assert (error.reason, error.day, error.time, str(error)) == (reason, day, time, text)
    assert _footprint(session) == before
    rule = session.scalar(select(ScheduleRule))
    assert rule is not None and (rule.day, rule.time, rule.enabled) == (1, "08:00", False)


def test_switching_off_a_rule_that_does_not_exist_is_refused(session: Session) -> None:
    before = _footprint(session)
    with pytest.raises(NoScheduleRule):
        sending.set_schedule_rule(session, day=None, time=None, enabled=False, actor="test",
                                  zone=SHANGHAI)
    assert _footprint(session) == before


def test_every_refusal_the_module_defines_is_a_send_error() -> None:
    """The CLI, the scheduler and the worker catch SendError; no reason may slip past them."""
    refusals = [value for value in vars(sending).values()
                if isinstance(value, type) and issubclass(value, Exception)
                and value.__module__ == sending.__name__]
    assert len(refusals) == 13
    assert all(issubclass(kind, SendError) for kind in refusals)


@pytest.mark.usefixtures("frozen")
def test_unscheduling_returns_a_scheduled_edition_to_approved_and_audits_it(
    session: Session, factories: Factories
) -> None:
    at = datetime(2030, 2, 1, 1, 30, tzinfo=UTC)
    edition = factories.edition(status=EditionStatus.APPROVED,
                                items={"policy": [{"topics": ["ai"]}]})
    sending.schedule(session, edition, at, actor="test")
    session.commit()
    sending.unschedule(session, edition, actor="test")
    session.commit()
    session.expire_all()
    assert (edition.status, edition.scheduled_at) == (EditionStatus.APPROVED, None)
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    assert (entry.action, entry.target, entry.detail) == (
        "edition.unschedule", "2024-07", {"was": at.isoformat()})
    # Approved again: it can be scheduled or sent as before.
    sending.schedule(session, edition, at, actor="test")
    assert edition.status == EditionStatus.SCHEDULED


@pytest.mark.parametrize("status", [EditionStatus.DRAFT, EditionStatus.APPROVED,
                                    EditionStatus.SENDING, EditionStatus.PAUSED,
                                    EditionStatus.SENT, EditionStatus.CANCELLED])
@pytest.mark.usefixtures("frozen")
def test_unscheduling_anything_but_a_scheduled_edition_is_refused_as_such(
    session: Session, factories: Factories, status: EditionStatus
) -> None:
    edition = factories.edition(status=status, items={"policy": [{"topics": ["ai"]}]})
    before = _footprint(session)
    with pytest.raises(NotScheduled) as refused:
        sending.unschedule(session, edition, actor="test")
    error = refused.value
    assert isinstance(error, WrongEditionState)  # callers that catch the general refusal
    assert (error.status, error.action, error.allowed) == (
        status, "unschedule", {EditionStatus.SCHEDULED})
    assert _footprint(session) == before


@pytest.mark.usefixtures("frozen")
def test_unscheduling_after_the_scheduler_started_the_send_is_refused(
    session: Session, factories: Factories
) -> None:
    """The scheduler commits its start between the page's read and the editor's click."""
    edition = factories.edition(status=EditionStatus.SCHEDULED,
                                scheduled_at=datetime(2030, 1, 10, 3, tzinfo=UTC),
                                items={"policy": [{"topics": ["ai"]}]})
    session.commit()
    session.execute(Edition.__table__.update().values(status=EditionStatus.SENDING))
    session.commit()
    # `edition` still says scheduled in memory, as a page that read it a moment ago would.
    edition.status = EditionStatus.SCHEDULED
    with pytest.raises(NotScheduled) as refused:
        sending.unschedule(session, edition, actor="test")
    assert refused.value.status == EditionStatus.SENDING
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
