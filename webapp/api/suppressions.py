"""/api/v1/suppressions: the addresses never mailed again; add one, lift one with a reason.
The same functions as the admin console's Suppressions page, audited with the key's name."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from webapp import db
from webapp.accounts.api_keys import key_actor
from webapp.api import bp
from webapp.api.auth import current_key
from webapp.api.body import load_body, load_query
from webapp.api.paging import decode_cursor, encode_cursor
from webapp.api.problems import ApiError
from webapp.api.schemas import (
    Error,
    PageQuery,
    SuppressionIn,
    SuppressionLift,
    SuppressionOut,
    SuppressionPage,
)
from webapp.api.spec import operation
from webapp.models import Suppression
from webapp.readers.suppression_admin import (
    SuppressionError,
    add_suppression,
    remove_suppression,
    suppressions_after,
)

READ, WRITE = "subscribers:read", "subscribers:write"
TAGS = ("suppressions",)


def suppression_out(row: Suppression) -> dict[str, Any]:
    dumped: dict[str, Any] = SuppressionOut().dump({
        "id": row.id,
        "email": row.email_key,
        "reason": row.reason,
        "source": row.source,
        "note": row.note,
        "created_at": row.created_at,
    })
    return dumped


@bp.get("/suppressions")
@operation("List suppressions", scope=READ, query=PageQuery, responses={200: SuppressionPage},
           description="Oldest first; follow `next_cursor` until it is null.", tags=TAGS)
def list_suppressions() -> Response:
    args = load_query(PageQuery)
    after = decode_cursor("x", args["after"]) if "after" in args else 0
    limit: int = args["limit"]
    rows = suppressions_after(db.session(), after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return jsonify({
        "data": [suppression_out(row) for row in page],
        "next_cursor": encode_cursor("x", page[-1].id) if more else None,
    })


@bp.post("/suppressions")
@operation(
    "Suppress an address",
    scope=WRITE,
    body=SuppressionIn,
    responses={200: SuppressionOut},
    description="Nothing is sent to it again, from the next message on. Suppressing an "
    "address that is suppressed already changes nothing and answers the same.",
    tags=TAGS,
)
def create_suppression() -> Response:
    wanted = load_body(SuppressionIn)
    session = db.session()
    try:
        row = add_suppression(session, wanted["email"], wanted.get("note", ""),
                              actor=key_actor(current_key()), source="api")
    except SuppressionError as error:
        session.rollback()
        raise ApiError(422, "validation_failed", "some fields are not valid",
                       {"fields": {"email": [str(error)]}}) from None
    session.commit()
    return jsonify(suppression_out(row))


@bp.post("/suppressions/<int:suppression_id>/remove")
@operation(
    "Lift a suppression",
    scope=WRITE,
    body=SuppressionLift,
    responses={200: SuppressionOut, 404: Error},
    description="The reason is kept in the audit log. The reader's status does not change: "
    "a reader who bounced or complained comes back only by subscribing again. Answers the "
    "suppression as it was.",
    tags=TAGS,
)
def lift_suppression(suppression_id: int) -> Response:
    wanted = load_body(SuppressionLift)
    session = db.session()
    row = session.get(Suppression, suppression_id)
    if row is None:
        raise ApiError(404, "not_found", f"there is no suppression {suppression_id}")
    was = suppression_out(row)
    try:
        remove_suppression(session, row, wanted["reason"], actor=key_actor(current_key()))
    except SuppressionError as error:
        session.rollback()
        raise ApiError(422, "validation_failed", "some fields are not valid",
                       {"fields": {"reason": [str(error)]}}) from None
    session.commit()
    return jsonify(was)
