"""What goes in and out of /api/v1, as marshmallow schemas: the views load and dump through
them and the OpenAPI document describes them (webapp.api.openapi)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from webapp.models import LANGUAGES, SubscriberStatus
from webapp.plain_text import find_unsafe

STATUSES = [s.value for s in SubscriberStatus]
MAX_PAGE = 200


class Text(fields.String):
    """A string under webapp.plain_text's one rule: no control characters (NUL would end as a
    500 on PostgreSQL), and no line breaks unless `multiline`."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        problem = find_unsafe(text, multiline=self.multiline)
        if problem is not None:
            raise ValidationError(f"The {problem}: remove it.")
        return text


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"description": "Stable; act on this."})
    message = fields.String(required=True, metadata={"description": "For people; may change."})
    details = fields.Dict(required=True)


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)


class TopicOut(Schema):
    slug = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    description_zh = fields.String(required=True)
    description_en = fields.String(required=True)


class TopicList(Schema):
    data = fields.List(fields.Nested(TopicOut), required=True)


class SubscriberOut(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True, allow_none=True,
                          metadata={"description": "null once the reader is erased"})
    name = fields.String(required=True, allow_none=True)
    company = fields.String(required=True, allow_none=True)
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    topics = fields.List(fields.String(), required=True,
                         metadata={"description": "slugs of the reader's topics"})
    tracking = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    confirmed_at = fields.AwareDateTime(required=True, allow_none=True)
    paused_until = fields.AwareDateTime(required=True, allow_none=True)


class SubscriberPage(Schema):
    data = fields.List(fields.Nested(SubscriberOut), required=True)
    next_cursor = fields.String(
        required=True, allow_none=True,
        metadata={"description": "pass as `after` for the next page; null on the last one"},
    )


class SubscriberQuery(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    topic = fields.String(validate=validate.Length(min=1, max=64),
                          metadata={"description": "a topic's slug"})
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    created_since = fields.AwareDateTime(
        default_timezone=UTC, metadata={"description": "ISO 8601; UTC when no zone is given"}
    )
    after = fields.String(validate=validate.Length(min=1, max=64),
                          metadata={"description": "the `next_cursor` of the page before"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))


class SubscriberIn(Schema):
    email = Text(required=True, validate=validate.Length(min=1, max=254))
    topics = fields.List(Text(validate=validate.Length(min=1, max=64)),
                         required=True, validate=validate.Length(min=1, max=50))
    language = Text(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    name = Text(validate=validate.Length(max=200), allow_none=True)
    company = Text(validate=validate.Length(max=200), allow_none=True)
    consent_attestation = Text(
        multiline=True,
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": (
                "How and when the reader agreed to receive the report, stated by the caller "
                "(e.g. 'ticked the newsletter box on the client intake form, 2026-07-01'). "
                "With it the reader is added as active and the statement is kept in the "
                "consent ledger; without it they get a confirmation email (double opt-in)."
            )
        },
    )


class SubscriberChange(Schema):
    topics = fields.List(Text(validate=validate.Length(min=1, max=64)),
                         validate=validate.Length(min=1, max=50))
    language = Text(validate=validate.OneOf(LANGUAGES))


class ConfirmationRequested(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["confirmation_requested"]))
    email = fields.String(required=True)


class ConsentOut(Schema):
    id = fields.Integer(required=True)
    at = fields.AwareDateTime(required=True)
    action = fields.String(required=True)
    source = fields.String(required=True)
    text_version = fields.String(required=True, allow_none=True)
    ip = fields.String(required=True, allow_none=True)
    user_agent = fields.String(required=True, allow_none=True)
    detail = fields.Dict(required=True, allow_none=True)


class ConsentList(Schema):
    data = fields.List(fields.Nested(ConsentOut), required=True)


# ---- editions ------------------------------------------------------------------------------

EDITION_STATUSES = ["draft", "approved", "scheduled", "sending", "paused", "sent", "cancelled"]


class EditionSummary(Schema):
    month = fields.String(required=True, metadata={"description": "YYYY-MM"})
    title = fields.String(required=True)
    title_en = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(EDITION_STATUSES))
    items = fields.Integer(required=True, metadata={"description": "how many items it has"})
    scheduled_at = fields.AwareDateTime(required=True, allow_none=True)
    approved_at = fields.AwareDateTime(required=True, allow_none=True)
    send_started_at = fields.AwareDateTime(required=True, allow_none=True)
    send_finished_at = fields.AwareDateTime(required=True, allow_none=True)


class EditionList(Schema):
    data = fields.List(fields.Nested(EditionSummary), required=True)


class ItemOut(Schema):
    number = fields.Integer(required=True,
                            metadata={"description": "its place in the edition, from 1"})
    title = fields.String(required=True)
    title_en = fields.String(required=True, allow_none=True)
    published_on = fields.Date(required=True)
    source = fields.String(required=True)
    url = fields.String(required=True)
    summary = fields.String(required=True)
    summary_en = fields.String(required=True, allow_none=True)
    commentary = fields.String(required=True, allow_none=True)
    commentary_en = fields.String(required=True, allow_none=True)
    topics = fields.List(fields.String(), required=True)


class SectionOut(Schema):
    key = fields.String(required=True, validate=validate.OneOf(["policy", "industry", "deals"]))
    title = fields.String(required=True)
    title_en = fields.String(required=True)
    items = fields.List(fields.Nested(ItemOut), required=True)


class EditionOut(EditionSummary):
    subject = fields.String(required=True)
    subject_en = fields.String(required=True)
    preheader = fields.String(required=True)
    preheader_en = fields.String(required=True)
    intro = fields.String(required=True)
    intro_en = fields.String(required=True)
    sections = fields.List(fields.Nested(SectionOut), required=True)


class SendProgress(Schema):
    """DESIGN.md's one JSON shape for send progress (as `yuebao send-status --json`)."""

    month = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(EDITION_STATUSES))
    planned = fields.Integer(required=True)
    queued = fields.Integer(required=True)
    sending = fields.Integer(required=True)
    in_doubt = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    started_at = fields.AwareDateTime(required=True, allow_none=True)
    finished_at = fields.AwareDateTime(required=True, allow_none=True)
    rate_per_s = fields.Float(required=True)
    elapsed_s = fields.Integer(required=True)
    rate_now_per_min = fields.Float(required=True)
    eta_s = fields.Integer(required=True, allow_none=True,
                           metadata={"description": "null while it cannot be told"})


class Rates(Schema):
    delivered = fields.Float(required=True, allow_none=True)
    bounced = fields.Float(required=True, allow_none=True)
    hard_bounced = fields.Float(required=True, allow_none=True)
    soft_bounced = fields.Float(required=True, allow_none=True)
    complained = fields.Float(required=True, allow_none=True)
    failed = fields.Float(required=True, allow_none=True)
    opened = fields.Float(required=True, allow_none=True)
    clicked = fields.Float(required=True, allow_none=True)
    unsubscribed = fields.Float(required=True, allow_none=True)


class EventFigures(Schema):
    delivered = fields.Integer(required=True)
    bounced = fields.Integer(required=True)
    hard_bounced = fields.Integer(required=True)
    soft_bounced = fields.Integer(required=True)
    complained = fields.Integer(required=True)
    unique_opens = fields.Integer(required=True)
    unique_opens_approximate = fields.Boolean(required=True)
    unique_clicks = fields.Integer(required=True)
    unsubscribed = fields.Integer(required=True)
    rates = fields.Nested(Rates, required=True)


class TopicFigures(EventFigures):
    sent = fields.Integer(required=True)


class ItemFigures(Schema):
    number = fields.Integer(required=True)
    title = fields.String(required=True)
    recipients = fields.Integer(required=True)
    unique_clicks = fields.Integer(required=True)
    clicks = fields.Integer(required=True)


class EditionStats(SendProgress, EventFigures):
    """`yuebao stats MONTH --json`: send progress, the event figures, per topic, per item."""

    topics = fields.Dict(keys=fields.String(), values=fields.Nested(TopicFigures), required=True)
    items = fields.List(fields.Nested(ItemFigures), required=True)


# ---- suppressions --------------------------------------------------------------------------


class SuppressionOut(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True, allow_none=True, metadata={
        "description": "null for an erased reader's address, kept only as a keyed hash"
    })
    reason = fields.String(required=True, metadata={
        "description": "bounce, complaint, manual, erased…"
    })
    source = fields.String(required=True, metadata={"description": "ses, admin, api, csv…"})
    note = fields.String(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)


class SuppressionPage(Schema):
    data = fields.List(fields.Nested(SuppressionOut), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class PageQuery(Schema):
    after = fields.String(validate=validate.Length(min=1, max=64))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))


class SuppressionIn(Schema):
    email = Text(required=True, validate=validate.Length(min=1, max=254))
    note = Text(validate=validate.Length(max=500))


class SuppressionLift(Schema):
    reason = Text(multiline=True, required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "why it may be mailed again; audited"})


class ApproveIn(Schema):
    allow_untranslated = fields.Boolean(load_default=False, metadata={
        "description": "approve although English readers would get items in Chinese (marked); "
        "without it such an edition is refused with code untranslated_items, which says how "
        "many readers and items"
    })


class ScheduleIn(Schema):
    at = fields.AwareDateTime(required=True, metadata={
        "description": "when it goes out: ISO 8601 with a UTC offset, in the future"
    })


class ImportQuery(Schema):
    month = Text(validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"), metadata={
        "description": "YYYY-MM; by default the month the report names"
    })
    replace = fields.Boolean(load_default=False, metadata={
        "description": "replace the month's draft or approved edition"
    })
    allow_incomplete = Text(validate=validate.Length(min=1, max=500), metadata={
        "description": "import although the table of contents lists parts the report lacks; "
        "the reason is kept in the audit log"
    })
