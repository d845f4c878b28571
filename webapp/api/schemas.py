"""What goes in and out of /api/v1, as marshmallow schemas: the views load and dump through
them and the OpenAPI document describes them (webapp.api.openapi)."""

from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields, validate

from webapp.models import LANGUAGES, SubscriberStatus

STATUSES = [s.value for s in SubscriberStatus]
MAX_PAGE = 200


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
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    topics = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                         required=True, validate=validate.Length(min=1, max=50))
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    name = fields.String(validate=validate.Length(max=200), allow_none=True)
    company = fields.String(validate=validate.Length(max=200), allow_none=True)
    consent_attestation = fields.String(
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
    topics = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                         validate=validate.Length(min=1, max=50))
    language = fields.String(validate=validate.OneOf(LANGUAGES))


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
