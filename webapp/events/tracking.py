"""Our own open and click tracking, per delivery and per item.

Mail security scanners fetch images and follow every link within seconds of delivery. Such
hits are stored but flagged, and unique figures leave them out. Storing a click is all that
counts it: database triggers keep `item_clicks` and the `item_tallies` over them
(webapp.stats.aggregates).

Nothing is recorded for a reader who opted out, nor for one who erased their data: the links of
the emails they kept still work (the pixel answers, a click still reaches the item), but they
leave no trace.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp.delivery.deliveries import find_delivery, link_target
from webapp.models import Delivery, SubscriberStatus
from webapp.models.event import Event
from webapp.plain_text import UnsafeText, UnsafeUrl, check_http_url

SCANNER_AFTER_SEND = timedelta(seconds=10)  # a person does not open and click this fast
SCANNER_BURST = timedelta(seconds=5)
SCANNER_BURST_LINKS = 3  # different links followed inside one burst


def is_web_link(url: str) -> bool:
    """Whether a stored item URL may be the target of a redirect."""
    try:
        check_http_url(url)
    except (UnsafeText, UnsafeUrl):
        return False
    return True


def _after_send_too_soon(delivery: Delivery, now: datetime) -> bool:
    sent = delivery.sent_at
    return sent is not None and now - sent < SCANNER_AFTER_SEND


def _tracked(delivery: Delivery) -> bool:
    """Whether hits on this delivery's links may be stored: not once its reader opted out, nor
    once they erased their data (an IP and a user agent stored against them would be personal
    data again)."""
    reader = delivery.subscriber
    return reader.tracking and reader.status != SubscriberStatus.ERASED


def _request_detail(ip: str | None, user_agent: str | None) -> dict[str, str]:
    detail = {}
    if ip:
        detail["ip"] = ip[:64]
    if user_agent:
        detail["user_agent"] = user_agent[:300]
    return detail


def _hit(
    delivery: Delivery,
    kind: str,
    now: datetime,
    *,
    scanner: bool,
    ip: str | None,
    user_agent: str | None,
    item_number: int | None = None,
) -> Event:
    return Event(
        kind=kind,
        source="tracking",
        delivery_id=delivery.id,
        subscriber_id=delivery.subscriber_id,
        edition_id=delivery.edition_id,
        item_number=item_number,
        suspected_scanner=scanner,
        occurred_at=now,
        payload=_request_detail(ip, user_agent),
    )


def record_open(
    session: Session,
    token: str,
    *,
    now: datetime,
    enabled: bool,
    ip: str | None = None,
    user_agent: str | None = None,
) -> bool:
    """Store an open for this delivery if tracking is on for it; returns whether it did."""
    delivery = find_delivery(session, token)
    if delivery is None or not enabled or not _tracked(delivery):
        return False
    scanner = _after_send_too_soon(delivery, now)
    session.add(_hit(delivery, "open", now, scanner=scanner, ip=ip, user_agent=user_agent))
    if not scanner and delivery.opened_at is None:
        delivery.opened_at = now
    return True


def record_click(
    session: Session,
    token: str,
    number: int,
    *,
    now: datetime,
    enabled: bool,
    ip: str | None = None,
    user_agent: str | None = None,
) -> str | None:
    """The link's stored URL (None when unknown), recording the click if tracking is on.

    A stored URL that is not an http(s) link with a host (kept from before the rule) is
    returned unrecorded: the caller must not redirect to it."""
    target = link_target(session, token, number)
    if target is None or not enabled or not is_web_link(target):
        return target
    delivery = find_delivery(session, token)
    if delivery is None or not _tracked(delivery):
        return target
    recent = select(func.count(func.distinct(Event.item_number))).where(
        Event.delivery_id == delivery.id,
        Event.kind == "click",
        Event.occurred_at >= now - SCANNER_BURST,
        Event.item_number != number,
    )
    burst = (session.scalar(recent) or 0) + 1 >= SCANNER_BURST_LINKS
    scanner = burst or _after_send_too_soon(delivery, now)
    if burst:
        # The earlier clicks of the burst were the scanner too (a trigger recounts their
        # item_clicks rows, migration 0012, and so the item tallies, 0029).
        session.execute(
            update(Event)
            .where(
                Event.delivery_id == delivery.id,
                Event.kind == "click",
                Event.occurred_at >= now - SCANNER_BURST,
            )
            .values(suspected_scanner=True)
        )
        genuine = select(func.min(Event.occurred_at)).where(
            Event.delivery_id == delivery.id,
            Event.kind == "click",
            Event.suspected_scanner.is_(False),
        )
        delivery.clicked_at = session.scalar(genuine)
    session.add(
        _hit(delivery, "click", now, scanner=scanner, ip=ip, user_agent=user_agent,
             item_number=number)
    )
    if not scanner and delivery.clicked_at is None:
        delivery.clicked_at = now
    return target
