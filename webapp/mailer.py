"""The app's side of email: its settings, links and transport, the queue of system mails and
the index of outbox files, and editions as email content."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from emails import (
    EditionContent,
    ItemContent,
    MailSettings,
    Message,
    SectionContent,
    Transport,
    UrlLinks,
    make_transport,
)
from emails.transports.smtp import SmtpOptions
from webapp.config import Settings
from webapp.models import BackgroundJob, Edition, EnglishStatus, JobKind, OutboxFile, utcnow
from webapp.reasons import N_, Reason


def mail_settings(settings: Settings) -> MailSettings:
    return MailSettings(
        org_name=settings.org_name,
        org_postal_address=settings.org_postal_address,
        mail_from=settings.mail_from,
        reply_to=settings.mail_reply_to,
        list_id=settings.list_id,
        feedback_id=settings.feedback_id,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        base_url=settings.base_url,
        commentary_label_zh=settings.commentary_label_zh,
        commentary_label_en=settings.commentary_label_en,
    )


def links(settings: Settings) -> UrlLinks:
    return UrlLinks(settings.base_url)


def smtp_options(settings: Settings) -> SmtpOptions:
    """Where and how to reach the SMTP server (`MAIL_TRANSPORT=smtp`)."""
    if not settings.smtp_host:
        raise ValueError("SMTP_HOST is not set")
    return SmtpOptions(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        tls=settings.smtp_tls,
    )


def transport(settings: Settings) -> Transport:
    """The configured transport (`MAIL_TRANSPORT`): outbox files, SES or an SMTP server."""
    if settings.mail_transport == "outbox":
        return make_transport("outbox", directory=settings.outbox_dir)
    if settings.mail_transport == "smtp":
        return make_transport("smtp", options=smtp_options(settings))
    return make_transport(
        "ses",
        region=settings.ses_region,
        endpoint_url=settings.ses_endpoint_url,
        configuration_set=settings.ses_configuration_set,
    )


def queue_mail(
    session: Session,
    message: Message,
    *,
    subscriber_id: int | None = None,
    now: datetime | None = None,
) -> BackgroundJob:
    """Write `message` as a job in the caller's transaction; the worker sends it.

    Committed with the change that calls for it, or rolled back with it: a confirmation never
    points at a reader who was not saved, and no mail is lost when sending fails or a process
    dies. `subscriber_id` names the reader it concerns, so erasure can take it back.
    """
    job = BackgroundJob(
        kind=JobKind.MAIL,
        subscriber_id=subscriber_id,
        payload=message_payload(message),
        next_attempt_at=now or utcnow(),
    )
    session.add(job)
    return job


def queue_request(
    session: Session,
    request: str,
    fields: dict[str, Any],
    *,
    subscriber_id: int | None = None,
    now: datetime | None = None,
) -> BackgroundJob:
    """Write what a public form asked for (`request`, plain JSON `fields`) as a mail job in
    the caller's transaction; the worker looks the address up and queues the mail it calls
    for, if any (webapp.delivery.form_requests).

    The form does this one INSERT whatever the address is, and renders nothing: whether an
    address has an account or a subscription must not show in how long the form takes.
    """
    job = BackgroundJob(
        kind=JobKind.MAIL,
        subscriber_id=subscriber_id,
        payload={"request": request, "fields": fields, "tags": {"kind": request}},
        next_attempt_at=now or utcnow(),
    )
    session.add(job)
    return job


def is_request(payload: dict[str, Any] | None) -> bool:
    """A mail job that holds a form's request rather than a message (see queue_request); once
    answered it keeps the request's name, not its fields."""
    return payload is not None and "request" in payload


def message_payload(message: Message) -> dict[str, Any]:
    """A message as stored in a job row: its fields, as plain JSON."""
    return {
        "sender": message.sender,
        "to": message.to,
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
        "headers": dict(message.headers),
        "tags": dict(message.tags),
        "reply_to": message.reply_to,
    }


def payload_message(payload: dict[str, Any]) -> Message:
    """The message back from a job row; ValueError when the row does not hold one."""
    try:
        return Message(
            sender=str(payload["sender"]),
            to=str(payload["to"]),
            subject=str(payload["subject"]),
            html=str(payload["html"]),
            text=str(payload["text"]),
            headers={str(k): str(v) for k, v in dict(payload.get("headers") or {}).items()},
            tags={str(k): str(v) for k, v in dict(payload.get("tags") or {}).items()},
            reply_to=payload.get("reply_to"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a stored message: {error!r}") from None


def record_outbox_file(
    session: Session,
    name: str,
    *,
    subscriber_id: int | None = None,
    delivery_id: int | None = None,
) -> None:
    """Index an outbox file by whose message it holds (written before the send is recorded
    as done, in the same transaction)."""
    if session.get(OutboxFile, name) is None:
        session.add(OutboxFile(name=name, subscriber_id=subscriber_id, delivery_id=delivery_id))


def edition_content(edition: Edition) -> EditionContent:
    """The edition as emails/ sees it; items are numbered across the whole edition so that
    `/c/<token>/<n>` names one link of the edition."""
    number = 0
    sections: list[SectionContent] = []
    # Machine drafts no editor accepted are not the edition's English yet: readers (and the
    # previews) get what they would without them.
    drafts = set(edition.english_drafts or ())

    def english(name: str, text: str) -> str:
        return "" if name in drafts else text

    for section in edition.sections:
        items: list[ItemContent] = []
        for item in section.items:
            number += 1
            items.append(
                ItemContent(
                    id=item.id,
                    number=number,
                    title=item.title,
                    title_en=item.title_en,
                    published_on=item.published_on,
                    source=item.source,
                    url=item.url,
                    summary=item.summary,
                    summary_en=item.summary_en,
                    commentary=item.commentary,
                    topics=frozenset(topic.slug for topic in item.topics),
                    commentary_en=item.commentary_en,
                    english_accepted=item.english_status == EnglishStatus.EDITOR,
                )
            )
        sections.append(
            SectionContent(
                key=section.key, items=tuple(items), title=section.title,
                title_en=english(f"section:{section.key}", section.title_en),
            )
        )
    return EditionContent(
        month=edition.month,
        title=edition.title,
        subject=edition.subject,
        preheader=edition.preheader,
        intro=edition.intro,
        sections=tuple(sections),
        title_en=english("title_en", edition.title_en),
        subject_en=english("subject_en", edition.subject_en),
        preheader_en=english("preheader_en", edition.preheader_en),
        intro_en=english("intro_en", edition.intro_en),
        untranslated=edition.untranslated.value,
        layout=edition.layout.value,
    )


def parse_topics(value: str | None, known: Iterable[str]) -> list[str]:
    """`ai,data` → slugs, every one known; None or empty → every known topic."""
    known_list = list(known)
    if not value:
        return known_list
    slugs = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in slugs if s not in known_list]
    if unknown:
        raise ValueError(Reason(N_("unknown topic(s) %(unknown)s; known: %(known)s"),
                                unknown=", ".join(unknown), known=", ".join(known_list)))
    return slugs
