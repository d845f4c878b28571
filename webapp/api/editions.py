"""/api/v1/editions: the editions, one with its items, its send progress and its stats. The
same records, progress and figures as the editor console and `yuebao send-status`/`stats`."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from flask import Response, jsonify

from webapp import db
from webapp.accounts.api_keys import key_actor
from webapp.api import bp
from webapp.api.auth import current_key
from webapp.api.body import load_body
from webapp.api.problems import ApiError
from webapp.api.schemas import (
    ApproveIn,
    EditionList,
    EditionOut,
    EditionStats,
    Error,
    ScheduleIn,
    SendProgress,
)
from webapp.api.spec import operation
from webapp.delivery import sending
from webapp.editions.items import UnsafeContent
from webapp.editions.records import EditionError, get_edition, list_editions
from webapp.models import Edition
from webapp.stats.figures import stats_json
from webapp.stats.progress import send_progress

READ, WRITE, STATS = "editions:read", "editions:write", "stats:read"
TAGS = ("editions",)
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _edition(month: str) -> Edition:
    edition = get_edition(db.session(), month) if _MONTH.fullmatch(month) else None
    if edition is None:
        raise ApiError(404, "not_found", f"there is no edition {month[:7]!r}")
    return edition


def _summary(edition: Edition, items: int) -> dict[str, Any]:
    return {
        "month": edition.month,
        "title": edition.title,
        "title_en": edition.title_en,
        "status": edition.status.value,
        "items": items,
        "scheduled_at": edition.scheduled_at,
        "approved_at": edition.approved_at,
        "send_started_at": edition.send_started_at,
        "send_finished_at": edition.send_finished_at,
    }


@bp.get("/editions")
@operation("List editions", scope=READ, responses={200: EditionList},
           description="Every edition, newest month first.", tags=TAGS)
def list_all_editions() -> Response:
    rows = list_editions(db.session())
    return jsonify(EditionList().dump({"data": [_summary(e, n) for e, n in rows]}))


@bp.get("/editions/<month>")
@operation("Get an edition with its sections and items", scope=READ,
           responses={200: EditionOut, 404: Error}, tags=TAGS)
def get_one_edition(month: str) -> Response:
    return jsonify(_edition_out(_edition(month)))


def _edition_out(edition: Edition) -> dict[str, Any]:
    number = 0
    sections = []
    for section in edition.sections:
        items = []
        for item in section.items:
            number += 1  # as the email numbers its links, and the stats their items
            items.append({
                "number": number,
                "title": item.title,
                "title_en": item.title_en,
                "published_on": item.published_on,
                "source": item.source,
                "url": item.url,
                "summary": item.summary,
                "summary_en": item.summary_en,
                "commentary": item.commentary,
                "commentary_en": item.commentary_en,
                "topics": [t.slug for t in item.topics],
            })
        sections.append({"key": section.key, "title": section.title,
                         "title_en": section.title_en, "items": items})
    out = {
        **_summary(edition, number),
        "subject": edition.subject,
        "subject_en": edition.subject_en,
        "preheader": edition.preheader,
        "preheader_en": edition.preheader_en,
        "intro": edition.intro,
        "intro_en": edition.intro_en,
        "sections": sections,
    }
    dumped: dict[str, Any] = EditionOut().dump(out)
    return dumped


def _refusal(error: Exception) -> ApiError:
    """A refusal of the sending state machine as the API says it."""
    if isinstance(error, sending.WrongEditionState):
        return ApiError(409, "edition_state", str(error), {
            "status": error.status.value, "allowed": sorted(s.value for s in error.allowed),
        })
    if isinstance(error, sending.UntranslatedForEnglishReaders):
        return ApiError(409, "untranslated_items", str(error),
                        {"readers": error.readers, "items": error.items})
    if isinstance(error, sending.ItemsWithoutTopic):
        return ApiError(409, "edition_not_ready", str(error),
                        {"items_without_topic": list(error.titles)})
    if isinstance(error, UnsafeContent):
        return ApiError(409, "edition_not_ready", str(error),
                        {"problems": [str(problem) for problem in error.problems]})
    if isinstance(error, sending.ScheduleInPast | sending.ScheduleWithoutTimeZone):
        return ApiError(422, "validation_failed", "some fields are not valid",
                        {"fields": {"at": [str(error)]}})
    return ApiError(409, "edition_not_ready", str(error))


@bp.post("/editions/<month>/approve")
@operation(
    "Approve a draft edition",
    scope=WRITE,
    body=ApproveIn,
    responses={200: EditionOut, 404: Error, 409: Error},
    description="As the editor console's Approve: refused (409) while an item has no topic, "
    "a machine draft waits for an editor or a text could not go into a message "
    "(edition_not_ready), when the edition is not a draft (edition_state), and when English "
    "readers would get items without English text unless allow_untranslated "
    "(untranslated_items).",
    tags=TAGS,
)
def approve_edition(month: str) -> Response:
    wanted = load_body(ApproveIn)
    edition = _edition(month)
    session = db.session()
    try:
        sending.approve(session, edition, actor=key_actor(current_key()),
                        allow_untranslated=wanted["allow_untranslated"])
    except (sending.SendError, EditionError) as error:
        session.rollback()
        raise _refusal(error) from None
    session.commit()
    return jsonify(_edition_out(edition))


@bp.post("/editions/<month>/schedule")
@operation(
    "Schedule an approved edition",
    scope=WRITE,
    body=ScheduleIn,
    responses={200: EditionOut, 404: Error, 409: Error},
    description="The worker's scheduler starts the send at `at`; scheduling again moves it.",
    tags=TAGS,
)
def schedule_edition(month: str) -> Response:
    wanted = load_body(ScheduleIn)
    edition = _edition(month)
    session = db.session()
    try:
        at = wanted["at"].astimezone(UTC)  # UTC in code and answers, whatever offset came in
        sending.schedule(session, edition, at, actor=key_actor(current_key()))
    except sending.SendError as error:
        session.rollback()
        raise _refusal(error) from None
    session.commit()
    return jsonify(_edition_out(edition))


@bp.post("/editions/<month>/unschedule")
@operation(
    "Unschedule a scheduled edition",
    scope=WRITE,
    responses={200: EditionOut, 404: Error, 409: Error},
    description="Back to approved: it does not go out at its time. A send that started is "
    "refused (edition_state).",
    tags=TAGS,
)
def unschedule_edition(month: str) -> Response:
    edition = _edition(month)
    session = db.session()
    try:
        sending.unschedule(session, edition, actor=key_actor(current_key()))
    except sending.SendError as error:
        session.rollback()
        raise _refusal(error) from None
    session.commit()
    return jsonify(_edition_out(edition))


@bp.get("/editions/<month>/send-status")
@operation(
    "An edition's send progress",
    scope=READ,
    responses={200: SendProgress, 404: Error},
    description="DESIGN's one JSON shape for send progress, as `yuebao send-status --json`: "
    "the counts add up to `planned`.",
    tags=TAGS,
)
def edition_send_status(month: str) -> Response:
    return jsonify(send_progress(db.session(), _edition(month)))


@bp.get("/editions/<month>/stats")
@operation(
    "An edition's results, overall, per topic and per item",
    scope=STATS,
    responses={200: EditionStats, 404: Error},
    description="As `yuebao stats MONTH --json`: the send progress plus deliveries, bounces, "
    "complaints, unique opens (approximate), unique clicks and unsubscribes, with rates.",
    tags=TAGS,
)
def edition_stats(month: str) -> Response:
    return jsonify(stats_json(db.session(), _edition(month)))
