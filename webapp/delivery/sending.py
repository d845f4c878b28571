"""An edition's send as a state machine: approve, schedule or start, pause, resume, cancel.

States as in DESIGN.md: draft → approved → scheduled → sending → sent, or approved → sending;
sending ⇄ paused; scheduled/sending/paused → cancelled. Each function checks the state it
starts from and changes nothing when it is not allowed; the caller commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.delivery.plan import PlanResult, plan_deliveries
from webapp.editions.records import get_edition
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    ScheduleRule,
    User,
    utcnow,
)

Actor = User | str


class SendError(ValueError):
    """A send operation not allowed in the edition's state; nothing was changed."""


def load_edition(session: Session, month: str) -> Edition:
    edition = get_edition(session, month)
    if edition is None:
        raise SendError(f"there is no edition for {month}")
    return edition


def _require(edition: Edition, allowed: set[EditionStatus], action: str) -> None:
    if edition.status not in allowed:
        names = " or ".join(sorted(s.value for s in allowed))
        raise SendError(
            f"cannot {action} the {edition.month} edition: it is {edition.status.value}, "
            f"not {names}"
        )


def _item_count(edition: Edition) -> int:
    return sum(len(section.items) for section in edition.sections)


def approve(session: Session, edition: Edition, *, actor: Actor) -> None:
    _require(edition, {EditionStatus.DRAFT}, "approve")
    if _item_count(edition) == 0:
        raise SendError(f"the {edition.month} edition has no items")
    if not any(item.topics for section in edition.sections for item in section.items):
        raise SendError(
            f"no item of the {edition.month} edition has a topic; no reader would get it"
        )
    edition.status = EditionStatus.APPROVED
    edition.approved_at = utcnow()
    record_audit(session, "edition.approve", actor=actor, target=edition.month)


def schedule(session: Session, edition: Edition, at: datetime, *, actor: Actor) -> None:
    """Record when the edition goes out (the scheduler starts it then)."""
    _require(edition, {EditionStatus.APPROVED, EditionStatus.SCHEDULED}, "schedule")
    if at.tzinfo is None:
        raise SendError("the scheduled time needs a time zone")
    if at <= utcnow():
        raise SendError("the scheduled time is in the past")
    edition.status = EditionStatus.SCHEDULED
    edition.scheduled_at = at
    record_audit(session, "edition.schedule", actor=actor, target=edition.month,
                 detail={"at": at.isoformat()})


def start_send(session: Session, edition: Edition, *, actor: Actor) -> PlanResult:
    """Plan the deliveries and move to `sending`, in the caller's one transaction."""
    _require(edition, {EditionStatus.APPROVED, EditionStatus.SCHEDULED}, "send")
    now = utcnow()
    result = plan_deliveries(session, edition, now)
    edition.status = EditionStatus.SENDING
    edition.send_started_at = now
    edition.pause_reason = None
    record_audit(session, "edition.send", actor=actor, target=edition.month,
                 detail=result.as_json())
    if result.planned == 0:
        edition.status = EditionStatus.SENT
        edition.send_finished_at = now
    return result


def pause(session: Session, edition: Edition, *, actor: Actor, reason: str | None = None) -> None:
    _require(edition, {EditionStatus.SENDING}, "pause")
    edition.status = EditionStatus.PAUSED
    edition.pause_reason = reason
    record_audit(session, "edition.pause", actor=actor, target=edition.month,
                 detail={"reason": reason} if reason else None)


def resume(session: Session, edition: Edition, *, actor: Actor) -> None:
    _require(edition, {EditionStatus.PAUSED}, "resume")
    edition.status = EditionStatus.SENDING
    edition.pause_reason = None
    record_audit(session, "edition.resume", actor=actor, target=edition.month)


def cancel(session: Session, edition: Edition, *, actor: Actor) -> int:
    """Cancel; deliveries not yet handed over become `skipped`. Returns how many."""
    _require(
        edition,
        {EditionStatus.SCHEDULED, EditionStatus.SENDING, EditionStatus.PAUSED},
        "cancel",
    )
    updated = session.execute(
        update(Delivery)
        .where(Delivery.edition_id == edition.id, Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.SKIPPED, error="cancelled", updated_at=utcnow())
    )
    skipped: int = cast(CursorResult[Any], updated).rowcount
    edition.status = EditionStatus.CANCELLED
    edition.send_finished_at = utcnow()
    record_audit(session, "edition.cancel", actor=actor, target=edition.month,
                 detail={"skipped": skipped})
    return skipped


def delivery_counts(session: Session, edition_id: int) -> dict[str, int]:
    """Deliveries per status, every status present, in one grouped query."""
    counts = {status.value: 0 for status in DeliveryStatus}
    stmt = (
        select(Delivery.status, func.count(Delivery.id))
        .where(Delivery.edition_id == edition_id)
        .group_by(Delivery.status)
    )
    for status, count in session.execute(stmt).tuples():
        counts[status.value] = count
    return counts


def finish_if_done(session: Session, edition: Edition) -> bool:
    """`sending` becomes `sent` once nothing is queued, claimed or in doubt."""
    if edition.status != EditionStatus.SENDING:
        return False
    counts = delivery_counts(session, edition.id)
    if counts["queued"] or counts["sending"] or counts["in_doubt"]:
        return False
    edition.status = EditionStatus.SENT
    edition.send_finished_at = utcnow()
    return True


def set_schedule_rule(
    session: Session,
    *,
    day: int | None,
    time: str | None,
    enabled: bool = True,
    actor: Actor,
) -> ScheduleRule:
    """Create, change or switch off the one monthly rule (the scheduler picks it up)."""
    rule = session.scalar(select(ScheduleRule).limit(1))
    if enabled:
        if day is None or time is None:
            raise SendError("give both the day (1–28) and the time (HH:MM)")
        if not 1 <= day <= 28:
            raise SendError("the day must be between 1 and 28, so every month has it")
        try:
            hour, minute = (int(part) for part in time.split(":"))
        except ValueError:
            raise SendError("the time must be HH:MM") from None
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise SendError("the time must be HH:MM")
        time = f"{hour:02d}:{minute:02d}"
    if rule is None:
        if not enabled:
            raise SendError("there is no monthly rule to switch off")
        rule = ScheduleRule(day=day, time=time, enabled=True)
        session.add(rule)
    elif enabled:
        rule.day, rule.time, rule.enabled = day, time, True  # type: ignore[assignment]
    else:
        rule.enabled = False
    record_audit(session, "schedule.rule", actor=actor, target="monthly",
                 detail={"day": rule.day, "time": rule.time, "enabled": rule.enabled})
    return rule
