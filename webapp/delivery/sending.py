"""An edition's send as a state machine: approve, schedule or start, pause, resume, cancel.

States as in DESIGN.md: draft → approved → scheduled → sending → sent, or approved → sending;
scheduled → approved (unschedule); sending ⇄ paused; scheduled/sending/paused → cancelled.
Each function checks the state it starts from and changes nothing when it is not allowed; the
caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.delivery.plan import PlanResult, plan_deliveries
from webapp.delivery.variants import english_exposure
from webapp.editions.items import require_safe_content
from webapp.editions.records import get_edition
from webapp.models import (
    AuditEntry,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    EnglishStatus,
    ScheduleRule,
    User,
    utcnow,
)
from webapp.webhook_queue import enqueue_event

Actor = User | str
RULE_ACTOR = "schedule rule"  # who starts the monthly rule's sends, in the audit log
SendAction = Literal[
    "approve", "schedule", "unschedule", "send", "pause", "resume", "cancel", "settle"
]


class SendError(ValueError):
    """A send operation refused; nothing was changed.

    Each reason is a subclass carrying what a page needs to say it; `str()` is an English
    sentence for the CLI and the logs.
    """


class EditionNotFound(SendError):
    def __init__(self, month: str) -> None:
        self.month = month
        super().__init__(f"there is no edition for {month}")


class WrongEditionState(SendError):
    """The action is not allowed from the edition's current status."""

    def __init__(
        self, edition: Edition, allowed: Set[EditionStatus], action: SendAction
    ) -> None:
        self.month = edition.month
        self.status = edition.status
        self.allowed = frozenset(allowed)
        self.action = action
        names = " or ".join(sorted(s.value for s in allowed))
        super().__init__(
            f"cannot {action} the {edition.month} edition: it is {edition.status.value}, "
            f"not {names}"
        )


class NotScheduled(WrongEditionState):
    """Only a scheduled edition can be unscheduled (a send that started is paused or
    cancelled instead)."""

    def __init__(self, edition: Edition) -> None:
        super().__init__(edition, {EditionStatus.SCHEDULED}, "unschedule")


class EditionHasNoItems(SendError):
    def __init__(self, month: str) -> None:
        self.month = month
        super().__init__(f"the {month} edition has no items")


class NoItemHasTopic(SendError):
    """Readers get the items of their topics, so an edition without any topic reaches nobody."""

    def __init__(self, month: str) -> None:
        self.month = month
        super().__init__(f"no item of the {month} edition has a topic; no reader would get it")


class ItemsWithoutTopic(SendError):
    """Some items have no topic: no reader would get them, which is never what an editor means."""

    def __init__(self, month: str, titles: Sequence[str]) -> None:
        self.month = month
        self.titles = tuple(titles)
        self.count = len(self.titles)
        super().__init__(
            f"{self.count} item(s) of the {month} edition have no topic, so no reader would get "
            f"them ({'; '.join(t[:40] for t in self.titles[:3])}): choose topics for them first"
        )


class UntranslatedForEnglishReaders(SendError):
    """English readers would get items without English text (in Chinese, marked): approving
    needs the editor's explicit confirmation."""

    def __init__(self, month: str, readers: int, items: int) -> None:
        self.month = month
        self.readers = readers
        self.items = items
        super().__init__(
            f"{readers} English reader(s) would get {items} item(s) of the {month} edition "
            f"without English text, shown in Chinese"
        )


class MachineDraftsPending(SendError):
    """English an editor has not accepted yet: machine drafts are reviewed before approval."""

    def __init__(self, month: str, items: int, texts: int) -> None:
        self.month = month
        self.items = items
        self.texts = texts
        super().__init__(
            f"the {month} edition has machine-drafted English no editor accepted yet "
            f"({items} item(s), {texts} edition text(s)): accept or edit each first"
        )


class ScheduleWithoutTimeZone(SendError):
    def __init__(self, at: datetime) -> None:
        self.at = at
        super().__init__("the scheduled time needs a time zone")


class ScheduleInPast(SendError):
    def __init__(self, at: datetime, now: datetime) -> None:
        self.at = at
        self.now = now
        super().__init__("the scheduled time is in the past")


RuleProblem = Literal["incomplete", "day", "time"]
_RULE_PROBLEMS: dict[RuleProblem, str] = {
    "incomplete": "give both the day (1–28) and the time (HH:MM)",
    "day": "the day must be between 1 and 28, so every month has it",
    "time": "the time must be HH:MM",
}


class ScheduleRuleInvalid(SendError):
    """The monthly rule's day or time cannot be used; `reason` says which."""

    def __init__(self, reason: RuleProblem, *, day: int | None, time: str | None) -> None:
        self.reason = reason
        self.day = day
        self.time = time
        super().__init__(_RULE_PROBLEMS[reason])


class NoScheduleRule(SendError):
    def __init__(self) -> None:
        super().__init__("there is no monthly rule to switch off")


def load_edition(session: Session, month: str) -> Edition:
    edition = get_edition(session, month)
    if edition is None:
        raise EditionNotFound(month)
    return edition


def _require(edition: Edition, allowed: set[EditionStatus], action: SendAction) -> None:
    if edition.status not in allowed:
        raise WrongEditionState(edition, allowed, action)


def _item_count(edition: Edition) -> int:
    return sum(len(section.items) for section in edition.sections)


def approve(
    session: Session, edition: Edition, *, actor: Actor, allow_untranslated: bool = False
) -> None:
    """Draft → approved, once the edition could go out as it is. Every item needs a topic,
    every machine draft an editor's acceptance; English readers who would get items without
    English text need `allow_untranslated` (the editor saw how many and agreed).

    Raises UnsafeContent (an EditionError, not a SendError) listing every field a message
    could not carry: text stored before the forms checked it, or written around them.
    """
    _require(edition, {EditionStatus.DRAFT}, "approve")
    if _item_count(edition) == 0:
        raise EditionHasNoItems(edition.month)
    items = [item for section in edition.sections for item in section.items]
    if not any(item.topics for item in items):
        raise NoItemHasTopic(edition.month)
    topicless = [item.title for item in items if not item.topics]
    if topicless:
        raise ItemsWithoutTopic(edition.month, topicless)
    require_safe_content(edition)  # before asking the editor to confirm anything else
    drafted = [item for item in items if item.english_status == EnglishStatus.MACHINE]
    if drafted or edition.english_drafts:
        raise MachineDraftsPending(edition.month, len(drafted), len(edition.english_drafts or ()))
    exposure = english_exposure(session, edition)
    if exposure.readers and not allow_untranslated:
        raise UntranslatedForEnglishReaders(edition.month, exposure.readers, exposure.items)
    edition.status = EditionStatus.APPROVED
    edition.approved_at = utcnow()
    detail = (
        {"untranslated": {"readers": exposure.readers, "items": exposure.items}}
        if exposure.readers
        else None
    )
    record_audit(session, "edition.approve", actor=actor, target=edition.month, detail=detail)


def schedule(session: Session, edition: Edition, at: datetime, *, actor: Actor) -> None:
    """Record when the edition goes out (the scheduler starts it then)."""
    _require(edition, {EditionStatus.APPROVED, EditionStatus.SCHEDULED}, "schedule")
    if at.tzinfo is None:
        raise ScheduleWithoutTimeZone(at)
    now = utcnow()
    if at <= now:
        raise ScheduleInPast(at, now)
    edition.status = EditionStatus.SCHEDULED
    edition.scheduled_at = at
    record_audit(session, "edition.schedule", actor=actor, target=edition.month,
                 detail={"at": at.isoformat()})


def unschedule(session: Session, edition: Edition, *, actor: Actor) -> None:
    """Scheduled → approved: the send will not start at its time, and the edition waits to be
    sent or scheduled again (nothing was planned yet, so nothing else changes).

    A conditional UPDATE, as the scheduler's own claim of a due send: whichever of the two
    commits first wins, and the other changes nothing.
    """
    if edition.status != EditionStatus.SCHEDULED:
        raise NotScheduled(edition)
    was = edition.scheduled_at
    moved = session.execute(
        update(Edition)
        .where(Edition.id == edition.id, Edition.status == EditionStatus.SCHEDULED)
        .values(status=EditionStatus.APPROVED, scheduled_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(edition)
    if not getattr(moved, "rowcount", 0):  # the scheduler started it a moment ago
        raise NotScheduled(edition)
    record_audit(session, "edition.unschedule", actor=actor, target=edition.month,
                 detail={"was": was.isoformat() if was else None})


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
        _enqueue_sent(session, edition)
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


def finish_if_done(session: Session, edition: Edition, now: datetime | None = None) -> bool:
    """`sending` becomes `sent` once nothing is queued, claimed or in doubt."""
    if edition.status != EditionStatus.SENDING:
        return False
    counts = delivery_counts(session, edition.id)
    if counts["queued"] or counts["sending"] or counts["in_doubt"]:
        return False
    edition.status = EditionStatus.SENT
    edition.send_finished_at = now or utcnow()
    _enqueue_sent(session, edition, counts)
    return True


def _enqueue_sent(
    session: Session, edition: Edition, counts: dict[str, int] | None = None
) -> None:
    finished = edition.send_finished_at
    data = {
        "edition": {
            "id": edition.id,
            "month": edition.month,
            "finished_at": finished.isoformat() if finished else None,
            "deliveries": counts or {},
        }
    }
    enqueue_event(session, "edition.sent", data)


_UNSETTLED = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.IN_DOUBT)


def finish_settled_sends(session: Session, now: datetime | None = None) -> list[str]:
    """Finish every edition in `sending` whose deliveries are all settled; their months.

    The engine finishes a send when its claim comes back empty. Deliveries a killed worker
    left in doubt that SES's events settle afterwards leave no engine to do it: nothing is
    queued, so none runs for the edition again. Housekeeping calls this instead.
    """
    unsettled = exists().where(Delivery.edition_id == Edition.id, Delivery.status.in_(_UNSETTLED))
    stmt = select(Edition).where(Edition.status == EditionStatus.SENDING, ~unsettled)
    done = [e for e in session.scalars(stmt).all() if finish_if_done(session, e, now)]
    return [edition.month for edition in done]


def rule_moment(day: int, time: str, zone: ZoneInfo, now: datetime) -> datetime:
    """This month's moment of a rule on `day` at `time` (HH:MM), in `zone`."""
    local = now.astimezone(zone)
    hour, minute = (int(part) for part in time.split(":"))
    return local.replace(day=day, hour=hour, minute=minute, second=0, microsecond=0)


def _rule_sent_this_month(session: Session, zone: ZoneInfo, now: datetime) -> bool:
    """Did the rule start a send this month? (last_run_month also marks a skipped month.)"""
    month_start = now.astimezone(zone).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    stmt = select(AuditEntry.id).where(
        AuditEntry.action == "edition.send",
        AuditEntry.actor == RULE_ACTOR,
        AuditEntry.at >= month_start,
    )
    return session.scalar(stmt.limit(1)) is not None


def set_schedule_rule(
    session: Session,
    *,
    day: int | None,
    time: str | None,
    enabled: bool = True,
    actor: Actor,
    zone: ZoneInfo,
    now: datetime | None = None,
    this_month: bool = False,
) -> ScheduleRule:
    """Create, change or switch off the one monthly rule (the scheduler picks it up).

    A rule set after this month's moment starts next month: sending at once would surprise
    whoever set it, perhaps with last month's edition. `this_month` asks for this month's
    send anyway (still once a month: not if the rule has already sent this month).
    """
    rule = session.scalar(select(ScheduleRule).limit(1))
    if enabled:
        if day is None or time is None:
            raise ScheduleRuleInvalid("incomplete", day=day, time=time)
        if not 1 <= day <= 28:
            raise ScheduleRuleInvalid("day", day=day, time=time)
        try:
            hour, minute = (int(part) for part in time.split(":"))
        except ValueError:
            raise ScheduleRuleInvalid("time", day=day, time=time) from None
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ScheduleRuleInvalid("time", day=day, time=time)
        time = f"{hour:02d}:{minute:02d}"
    if rule is None:
        if not enabled:
            raise NoScheduleRule()
        rule = ScheduleRule(day=day, time=time, enabled=True)
        session.add(rule)
    elif enabled:
        rule.day, rule.time, rule.enabled = day, time, True  # type: ignore[assignment]
    else:
        rule.enabled = False
    detail: dict[str, Any] = {"day": rule.day, "time": rule.time, "enabled": rule.enabled}
    if enabled:
        now = now or utcnow()
        month = now.astimezone(zone).strftime("%Y-%m")
        if not this_month and now >= rule_moment(rule.day, rule.time, zone, now):
            rule.last_run_month = month  # this month counts as done
        elif (this_month and rule.last_run_month == month
              and not _rule_sent_this_month(session, zone, now)):
            rule.last_run_month = None  # skipped when set earlier this month, not sent
        detail["first_month"] = first_month(rule, zone, now)
    record_audit(session, "schedule.rule", actor=actor, target="monthly", detail=detail)
    return rule


def first_month(rule: ScheduleRule, zone: ZoneInfo, now: datetime) -> str:
    """The month of the rule's next send, YYYY-MM."""
    local = now.astimezone(zone)
    month = local.strftime("%Y-%m")
    if rule.last_run_month != month:
        return month
    return (local.replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
