"""/api/v1/subscribers: list, read, add, change, unsubscribe and erase readers, and read their
consent ledger. Each view parses, checks, and calls the same domain function the admin console
or the subscribe page calls; changes are recorded with source `api` and the key's name."""

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
    ConfirmationRequested,
    ConsentList,
    Error,
    SubscriberChange,
    SubscriberIn,
    SubscriberOut,
    SubscriberPage,
    SubscriberQuery,
)
from webapp.api.spec import operation
from webapp.audit import record_audit
from webapp.config import current_settings
from webapp.models import ConsentSource, Subscriber, SubscriberStatus
from webapp.readers.consent import Origin, consent_fields
from webapp.readers.own_data import erase
from webapp.readers.reader_admin import (
    AddressErased,
    LanguageUnknown,
    NewReader,
    NoListedTopic,
    ReaderAddressInvalid,
    ReaderAdminError,
    ReaderErased,
    ReaderExists,
    ReaderFilter,
    ReaderSuppressed,
    add_reader,
    change_topics,
    readers_after,
    unsubscribe_reader,
)
from webapp.readers.subscriptions import (
    InvalidAddress,
    InvalidChoice,
    Signup,
    ask_to_subscribe,
    normalize_address,
)

API = Origin(ConsentSource.API)
READ, WRITE, ERASE = "subscribers:read", "subscribers:write", "subscribers:erase"
TAGS = ("subscribers",)
NOT_FOUND = {404: Error}


def subscriber_out(subscriber: Subscriber) -> dict[str, Any]:
    dumped: dict[str, Any] = SubscriberOut().dump({
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "company": subscriber.company,
        "language": subscriber.language,
        "status": subscriber.status.value,
        "topics": [t.slug for t in subscriber.topics],
        "tracking": subscriber.tracking,
        "created_at": subscriber.created_at,
        "confirmed_at": subscriber.confirmed_at,
        "paused_until": subscriber.paused_until,
    })
    return dumped


def _subscriber(subscriber_id: int) -> Subscriber:
    subscriber = db.session().get(Subscriber, subscriber_id)
    if subscriber is None:
        raise ApiError(404, "not_found", f"there is no subscriber {subscriber_id}")
    return subscriber


def _refusal(error: Exception) -> ApiError:
    """A domain refusal as the API says it."""
    if isinstance(error, ReaderExists):
        return ApiError(409, "conflict", "this address is a subscriber already",
                        {"subscriber_id": error.subscriber.id})
    if isinstance(error, ReaderSuppressed):
        return ApiError(409, "address_suppressed",
                        "the address is suppressed: nothing may be sent to it")
    if isinstance(error, AddressErased):
        return ApiError(409, "address_erased",
                        "the address was erased at the reader's request: only they can "
                        "subscribe again (leave out consent_attestation to send them a "
                        "confirmation email)")
    if isinstance(error, ReaderErased):
        return ApiError(409, "subscriber_erased", "this subscriber was erased")
    if isinstance(error, ReaderAddressInvalid | InvalidAddress):
        return _invalid("email", str(error))
    if isinstance(error, NoListedTopic | InvalidChoice) and "language" not in str(error):
        return _invalid("topics", "Choose at least one of the listed topics (GET /topics).")
    if isinstance(error, LanguageUnknown | InvalidChoice):
        return _invalid("language", str(error))
    return ApiError(422, "validation_failed", str(error))


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_failed", "some fields are not valid",
                    {"fields": {field: [message]}})


@bp.get("/subscribers")
@operation(
    "List subscribers",
    scope=READ,
    query=SubscriberQuery,
    responses={200: SubscriberPage},
    description="Oldest first, by keyset: follow `next_cursor` until it is null to see every "
    "subscriber matching the filters exactly once.",
    tags=TAGS,
)
def list_subscribers() -> Response:
    args = load_query(SubscriberQuery)
    after = decode_cursor("s", args["after"]) if "after" in args else 0
    wanted = ReaderFilter(
        status=args.get("status", ""),
        topic=args.get("topic", ""),
        language=args.get("language", ""),
        created_since=args.get("created_since"),
    )
    limit: int = args["limit"]
    rows = readers_after(db.session(), wanted, after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return jsonify({
        "data": [subscriber_out(s) for s in page],
        "next_cursor": encode_cursor("s", page[-1].id) if more else None,
    })


@bp.post("/subscribers")
@operation(
    "Add a subscriber",
    scope=WRITE,
    body=SubscriberIn,
    responses={201: SubscriberOut, 202: ConfirmationRequested, 409: Error},
    description="Without `consent_attestation`: double opt-in, exactly as the subscribe page "
    "(202; the reader is mailed a confirmation link, or their preferences link if they are "
    "subscribed already; the answer is the same for every address). With it: the reader is "
    "added as active at once (201) and the statement is kept in the consent ledger.",
    tags=TAGS,
)
def create_subscriber() -> tuple[Response, int]:
    wanted = load_body(SubscriberIn)
    session = db.session()
    key = current_key()
    try:
        if "consent_attestation" not in wanted:
            signup = Signup(
                email=wanted["email"],
                topics=wanted["topics"],
                language=wanted["language"],
                name=wanted.get("name"),
                company=wanted.get("company"),
            )
            ask_to_subscribe(session, signup, API)
            session.commit()
            answer = {"status": "confirmation_requested",
                      "email": normalize_address(wanted["email"])}
            return jsonify(ConfirmationRequested().dump(answer)), 202
        subscriber = add_reader(
            session,
            NewReader(
                email=wanted["email"],
                topics=wanted["topics"],
                language=wanted["language"],
                consent_note=wanted["consent_attestation"],
                name=wanted.get("name"),
                company=wanted.get("company"),
            ),
            actor=key_actor(key),
            erasure_key=current_settings().erasure_key,
            origin=API,
        )
    except (ReaderAdminError, InvalidAddress, InvalidChoice) as error:
        session.rollback()
        raise _refusal(error) from None
    session.commit()
    return jsonify(subscriber_out(subscriber)), 201


@bp.get("/subscribers/<int:subscriber_id>")
@operation("Get a subscriber", scope=READ, responses={200: SubscriberOut, **NOT_FOUND},
           tags=TAGS)
def get_subscriber(subscriber_id: int) -> Response:
    return jsonify(subscriber_out(_subscriber(subscriber_id)))


@bp.patch("/subscribers/<int:subscriber_id>")
@operation(
    "Change a subscriber's topics or language",
    scope=WRITE,
    body=SubscriberChange,
    responses={200: SubscriberOut, 409: Error, **NOT_FOUND},
    description="Give `topics` (the whole new set), `language`, or both. Each change is "
    "recorded in the consent ledger with source `api`.",
    tags=TAGS,
)
def change_subscriber(subscriber_id: int) -> Response:
    wanted = load_body(SubscriberChange)
    if not wanted:
        raise _invalid("topics", "Give topics, language or both.")
    session = db.session()
    subscriber = _subscriber(subscriber_id)
    topics = wanted.get("topics") or [t.slug for t in subscriber.topics if not t.retired]
    try:
        change_topics(
            session,
            subscriber,
            topics,
            wanted.get("language", subscriber.language),
            actor=key_actor(current_key()),
            origin=API,
        )
    except ReaderAdminError as error:
        session.rollback()
        raise _refusal(error) from None
    session.commit()
    return jsonify(subscriber_out(subscriber))


@bp.post("/subscribers/<int:subscriber_id>/unsubscribe")
@operation(
    "Unsubscribe a subscriber",
    scope=WRITE,
    responses={200: SubscriberOut, **NOT_FOUND},
    description="Takes effect at once: nothing more is sent, not even a mail saying so. "
    "Unsubscribing someone who is not subscribed changes nothing and answers the same.",
    tags=TAGS,
)
def unsubscribe_subscriber(subscriber_id: int) -> Response:
    session = db.session()
    subscriber = _subscriber(subscriber_id)
    if unsubscribe_reader(
        session, current_settings(), subscriber, actor=key_actor(current_key()), origin=API
    ):
        session.commit()
    return jsonify(subscriber_out(subscriber))


@bp.post("/subscribers/<int:subscriber_id>/erase")
@operation(
    "Erase a subscriber's personal data",
    scope=ERASE,
    responses={200: SubscriberOut, **NOT_FOUND},
    description="As the reader's own erase button does: address, name and company go, the "
    "ledger keeps what happened and when, and the address is kept only as a keyed hash so it "
    "is never mailed again unless the person subscribes anew. Cannot be undone. Needs the "
    "scope subscribers:erase.",
    tags=TAGS,
)
def erase_subscriber(subscriber_id: int) -> Response:
    session = db.session()
    subscriber = _subscriber(subscriber_id)
    if subscriber.status != SubscriberStatus.ERASED:
        erase(session, current_settings(), subscriber, API)
        record_audit(session, "subscriber.erase", actor=key_actor(current_key()),
                     target=f"subscriber:{subscriber.id}")
        session.commit()
    return jsonify(subscriber_out(subscriber))


@bp.get("/subscribers/<int:subscriber_id>/consents")
@operation(
    "A subscriber's consent ledger",
    scope=READ,
    responses={200: ConsentList, **NOT_FOUND},
    description="Every entry, oldest first: what the reader agreed to or changed, when, and "
    "from where (source form, csv, admin, api, one-click, bounce, complaint).",
    tags=TAGS,
)
def subscriber_consents(subscriber_id: int) -> Response:
    subscriber = _subscriber(subscriber_id)
    return jsonify(ConsentList().dump({"data": [
        {"id": record.id, **consent_fields(record)}
        for record in subscriber.consents
    ]}))
