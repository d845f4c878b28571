"""The embeddable subscribe form's endpoints, /api/v1/public/…: no key, called from pages on
the firm's own site (EMBED_ORIGINS) by /embed.js.

`GET /public/form` gives the form what it draws (topics, consent text of the current
version, the firm's colours, every label and message in the chosen language, from our
catalogue). `POST /public/subscriptions` asks for a subscription exactly as the subscribe
page does (`ask_to_subscribe`: double opt-in, the worker mails the confirmation) and answers
202 the same way for every address, so it tells nobody whether an address is known.

No cookie and no CSRF token: the request changes nothing until the reader follows the
emailed link. The browser's CORS check keeps other sites' scripts from reading the answer;
the server also refuses a request whose Origin is present and not listed, so a page
elsewhere cannot fire blind requests either. Requests without an Origin (a server, curl)
are taken like the API's other public operation: the rate limits and double opt-in hold.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_cors import CORS
from flask_limiter.util import get_remote_address
from marshmallow import Schema, fields, validate

from webapp import db
from webapp.api import bp
from webapp.api.body import MAX_BODY, load_body, load_query
from webapp.api.problems import ApiError
from webapp.api.schemas import Error, Text
from webapp.api.spec import operation
from webapp.branding.service import brand
from webapp.config import Settings, current_settings
from webapp.extensions import limiter
from webapp.models import LANGUAGES, ConsentSource, email_key
from webapp.readers.consent import CONSENT_VERSION, Origin
from webapp.readers.subscriptions import InvalidAddress, InvalidChoice, Signup, ask_to_subscribe
from webapp.readers.topics import active_topics
from webapp.subscribe_wording import LANGUAGE_CHOICES, consent_text

PUBLIC = "/public/"
# The limits of the subscribe page: per client, and per address across both forms.
PER_IP = "10 per minute; 60 per hour"
PER_ADDRESS = "5 per hour; 20 per day"


def init_cors(app: Flask, settings: Settings) -> None:
    """CORS on the public operations for exactly EMBED_ORIGINS; none when it is unset. No
    credentials: the form needs no cookie."""
    CORS(
        app,
        resources={r"/api/v1/public/*": {"origins": list(settings.embed_origins)}},
        methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        supports_credentials=False,
        max_age=600,
        vary_header=True,
    )


def _refuse_foreign_origin() -> None:
    """403 for a browser request from a page whose origin is not in EMBED_ORIGINS."""
    sent = request.headers.get("Origin")
    if sent is None:
        return
    allowed = current_settings().embed_origins
    if "*" in allowed or sent.rstrip("/").lower() in allowed:
        return
    raise ApiError(
        403, "origin_not_allowed", "this site may not use the subscribe form",
        {"origin": sent[:200]},
    )


def _address_key() -> str:
    """Rate-limit key for "mail this address", shared with the subscribe page's
    (webapp.public.common): a digest, so the limiter stores no address."""
    body: Any = None
    if request.content_length is not None and request.content_length <= MAX_BODY:
        try:
            body = json.loads(request.get_data(cache=True))
        except (ValueError, RecursionError):
            body = None
    address = body.get("email") if isinstance(body, dict) else None
    key = email_key(address) if isinstance(address, str) else ""
    if not key:
        return get_remote_address()
    return "address:" + hashlib.sha256(key.encode()).hexdigest()[:32]


per_address = limiter.shared_limit(
    PER_ADDRESS, scope="reader-mail", key_func=_address_key, methods=["POST"]
)


# ---- schemas -------------------------------------------------------------------------


class FormQuery(Schema):
    lang = Text(load_default="zh-CN", validate=validate.OneOf(LANGUAGES),
                metadata={"description": "the language the form speaks: zh-CN or en"})


class FormTopic(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)


class FormConsent(Schema):
    version = fields.String(required=True,
                            metadata={"description": "send it back as consent_version"})
    text = fields.String(required=True)


class FormColours(Schema):
    primary = fields.String(required=True)
    accent = fields.String(required=True)


class FormLanguage(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)


class EmbedForm(Schema):
    lang = fields.String(required=True)
    org_name = fields.String(required=True)
    topics = fields.List(fields.Nested(FormTopic), required=True)
    languages = fields.List(fields.Nested(FormLanguage), required=True)
    consent = fields.Nested(FormConsent, required=True)
    colours = fields.Nested(FormColours, required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    messages = fields.Dict(
        keys=fields.String(), values=fields.String(), required=True,
        metadata={"description": "what to say for `accepted` and for each error code"},
    )


class EmbedSubscription(Schema):
    email = Text(required=True, validate=validate.Length(min=1, max=254))
    name = Text(validate=validate.Length(max=200), allow_none=True)
    topics = fields.List(Text(validate=validate.Length(min=1, max=64)),
                         required=True, validate=validate.Length(min=1, max=50))
    language = Text(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    consent_version = Text(
        required=True, validate=validate.Length(min=1, max=32),
        metadata={"description": "the version of the consent text the reader agreed to"},
    )
    website = Text(
        load_default="", validate=validate.Length(max=200),
        metadata={"description": "the honeypot: leave empty (people never see it)"},
    )


class EmbedAccepted(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["accepted"]))


# ---- operations ----------------------------------------------------------------------


def _form(language: str) -> dict[str, Any]:
    session = db.session()
    settings = current_settings()
    current = brand(session, settings)
    org = current.org_name(language)
    return {
        "lang": language,
        "org_name": org,
        "topics": [
            {
                "slug": t.slug,
                "name": t.name(language),
                "description": t.description_en if language == "en" else t.description_zh,
            }
            for t in active_topics(session)
        ],
        "languages": [{"code": code, "label": label} for code, label in LANGUAGE_CHOICES],
        "consent": {"version": CONSENT_VERSION, "text": consent_text(settings.org_name)},
        "colours": {"primary": current.palette.primary, "accent": current.palette.accent},
        "labels": {
            "title": _("Subscribe to %(org)s's monthly report", org=org),
            "email": _("Email"),
            "name": _("Name"),
            "topics": _("Topics"),
            "language": _("Language of the emails"),
            "honeypot": _("Leave this field empty"),
            "submit": _("Subscribe"),
            "sending": _("Sending…"),
        },
        "messages": {
            "accepted": _(
                "Thank you. Please check your inbox: we have sent you an email with a link "
                "to confirm your subscription."
            ),
            "invalid_email": _("Please enter a valid email address."),
            "no_topics": _("Please choose at least one topic."),
            "no_consent": _("Please agree to receive the report."),
            "consent_outdated": _("The consent text has changed. Please reload the page."),
            "rate_limited": _("Too many attempts. Please wait a while and try again."),
            "error": _("Something went wrong. Please try again later."),
        },
    }


@bp.get("/public/form")
@operation(
    "What the embeddable subscribe form shows",
    scope=None,
    public=True,
    query=FormQuery,
    responses={200: EmbedForm, 400: Error, 403: Error, 429: Error},
    description=(
        "No key. For /embed.js on the firm's own pages (EMBED_ORIGINS): the topics, the "
        "consent text of the current version, the firm's colours, and every label and "
        "message in the chosen language."
    ),
    tags=("embed",),
)
def embed_form() -> Response:
    _refuse_foreign_origin()
    language = load_query(FormQuery)["lang"]
    with force_locale(language.replace("-", "_")):
        answer = jsonify(EmbedForm().dump(_form(language)))
    answer.headers["Cache-Control"] = "public, max-age=300"
    return answer


@bp.post("/public/subscriptions")
@operation(
    "Ask for a subscription from the embeddable form",
    scope=None,
    public=True,
    body=EmbedSubscription,
    responses={
        202: EmbedAccepted, 400: Error, 403: Error, 409: Error, 413: Error, 415: Error,
        422: Error, 429: Error,
    },
    description=(
        "No key, no cookie. Only pages on EMBED_ORIGINS may call it from a browser (CORS, "
        "and 403 origin_not_allowed for any other Origin). Double opt-in always: the reader "
        "gets an email with a confirmation link, and nothing changes before they follow it. "
        "The same 202 for every valid address, new, waiting or subscribed. Rate-limited per "
        "client and per address. Codes: invalid_email, no_topics (422), consent_outdated "
        "(409: reload the form)."
    ),
    tags=("embed",),
)
@limiter.limit(PER_IP, key_func=get_remote_address)
@per_address
def embed_subscribe() -> tuple[Response, int]:
    _refuse_foreign_origin()
    data = load_body(EmbedSubscription)
    if data["consent_version"] != CONSENT_VERSION:
        raise ApiError(
            409, "consent_outdated", "the consent text has changed; show the current one",
            {"consent_version": CONSENT_VERSION},
        )
    accepted = jsonify(EmbedAccepted().dump({"status": "accepted"})), 202
    if data["website"]:  # the honeypot: answer like any other, do nothing
        return accepted
    session = db.session()
    signup = Signup(
        email=data["email"], topics=data["topics"], language=data["language"],
        name=data.get("name"),
    )
    site = request.headers.get("Origin")
    where = Origin(
        ConsentSource.EMBED, ip=request.remote_addr,
        user_agent=request.user_agent.string or None,
        site=site.rstrip("/").lower() if site else None,
    )
    try:
        ask_to_subscribe(session, signup, where)
    except InvalidAddress:
        raise ApiError(422, "invalid_email", "the email address is not valid",
                       {"fields": {"email": ["Not a valid email address."]}}) from None
    except InvalidChoice:
        raise ApiError(422, "no_topics", "choose at least one of the listed topics",
                       {"fields": {"topics": ["Choose at least one of the listed topics."]}},
                       ) from None
    session.commit()
    return accepted
