"""/api/v1/editions: the editions, one with its items, its send progress and its stats. The
same records, progress and figures as the editor console and `yuebao send-status`/`stats`."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from flask import Response, jsonify, request

from webapp import db
from webapp.accounts.api_keys import key_actor
from webapp.api import bp
from webapp.api.auth import current_key
from webapp.api.body import load_body, load_query
from webapp.api.problems import ApiError
from webapp.api.schemas import (
    ApproveIn,
    EditionList,
    EditionOut,
    EditionStats,
    Error,
    ImportQuery,
    ScheduleIn,
    SendProgress,
)
from webapp.api.spec import operation
from webapp.delivery import sending
from webapp.editions.importer.errors import (
    MAX_REPORT_BYTES,
    NotAReportFile,
    ReportFileError,
    ReportFormatError,
    ReportIncomplete,
    ReportTooLarge,
)
from webapp.editions.items import UnsafeContent
from webapp.editions.records import (
    EditionError,
    EditionExists,
    EditionLocked,
    get_edition,
    list_editions,
)
from webapp.editions.upload import import_report_source, read_upload
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


REPORT_TYPES = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
)


def _import_refusal(error: Exception) -> ApiError:
    if isinstance(error, ReportTooLarge):
        return ApiError(413, "payload_too_large", str(error), {"limit_mb": error.limit_mb})
    if isinstance(error, NotAReportFile):
        return ApiError(415, "unsupported_media_type", str(error))
    if isinstance(error, ReportFileError):
        return ApiError(422, "report_unreadable", str(error))
    if isinstance(error, ReportFormatError):
        origin = str(error.origin) if error.origin is not None else None
        return ApiError(422, "report_unreadable", str(error),
                        {"line": error.line, "reason": str(error.reason), "origin": origin})
    if isinstance(error, ReportIncomplete):
        return ApiError(409, "report_incomplete", str(error),
                        {"missing": [str(part) for part in error.missing]})
    if isinstance(error, EditionExists):
        return ApiError(409, "edition_exists", str(error), {"status": error.status.value})
    if isinstance(error, EditionLocked):
        return ApiError(409, "edition_state", str(error), {"status": error.status.value})
    return ApiError(409, "conflict", str(error))


@bp.post("/editions/import")
@operation(
    "Import a month's report as a draft edition",
    scope=WRITE,
    query=ImportQuery,
    file_body=REPORT_TYPES,
    responses={201: EditionOut, 409: Error},
    description="The file itself is the body (PDF, Word .docx or text, at most 20 MB), as the "
    "editor console's import: topics are suggested for each item and the edition is a draft "
    "to check and approve. Refused: a file the importer cannot read (422 report_unreadable, "
    "with the line and the page or paragraph), a report missing what its contents list (409 "
    "report_incomplete, unless allow_incomplete gives the reason), a month that has an "
    "edition (409 edition_exists, unless replace) or whose edition is final (409 "
    "edition_state).",
    tags=TAGS,
)
def import_edition() -> tuple[Response, int]:
    args = load_query(ImportQuery)
    request.max_content_length = MAX_REPORT_BYTES + 1  # past it: 413 before it is read
    session = db.session()
    try:
        source = read_upload(request.stream)
        edition = import_report_source(
            session,
            source,
            month=args.get("month"),
            replace=args["replace"],
            allow_incomplete=args.get("allow_incomplete"),
            actor=key_actor(current_key()),
        )
    except (ReportFormatError, ReportIncomplete, EditionError) as error:
        session.rollback()
        raise _import_refusal(error) from None
    session.commit()
    imported = get_edition(session, edition.month)
    assert imported is not None  # nosec B101: committed just now
    return jsonify(_edition_out(imported)), 201
