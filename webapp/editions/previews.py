"""Previews and test sends of an edition, for any topic set and language.

Test sends are recorded in their own table: never a delivery, never in stats.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from emails import Message, Recipient, RenderError, Variant, compile_variant, fill
from emails.mime import sent_bytes, transfer_encoding
from webapp.audit import record_audit
from webapp.branding import mail_brand
from webapp.config import Settings
from webapp.editions.items import require_safe_content
from webapp.editions.records import get_edition
from webapp.mailer import edition_content, links, parse_topics, transport
from webapp.models import LANGUAGES, Edition, TestSend, User
from webapp.readers.topics import topics_by_slug
from webapp.reasons import N_, Reason

TEST_SUBJECT_PREFIX = {"zh-CN": "[测试] ", "en": "[TEST] "}
MAX_TEST_RECIPIENTS = 20


class PreviewError(ValueError):
    """A preview or test send that cannot be made; nothing was sent or stored."""


@dataclass(frozen=True)
class Preview:
    edition: Edition
    variant: Variant
    message: Message

    @property
    def html_bytes(self) -> int:
        """The HTML as a reader's mail program shows it: UTF-8, decoded."""
        return len(self.message.html.encode())

    @property
    def html_encoding(self) -> str:
        return transfer_encoding(self.message.html)

    @property
    def sent_html_bytes(self) -> int:
        """The HTML part as yuebao writes it (outbox, SMTP): encoded, CRLF line ends. Gmail
        clips on this figure."""
        return sent_bytes(self.message.html, self.html_encoding)


def _variant(
    session: Session,
    settings: Settings,
    month: str,
    topics: str | None,
    language: str,
    layout: str | None = None,
) -> tuple[Edition, Variant]:
    edition = get_edition(session, month)
    if edition is None:
        raise PreviewError(Reason(N_("there is no edition for %(month)s"), month=month))
    if language not in LANGUAGES:
        raise PreviewError(Reason(N_("language must be one of %(languages)s"),
                                  languages=", ".join(LANGUAGES)))
    try:
        slugs = parse_topics(topics, topics_by_slug(session))
        variant = compile_variant(
            edition_content(edition), slugs, language, settings=mail_brand(session, settings),
            layout=layout,
        )
    except (ValueError, RenderError) as error:
        reason = error.args[0] if error.args and isinstance(error.args[0], Reason) else str(error)
        raise PreviewError(reason) from None
    return edition, variant


def _recipient(address: str, language: str) -> Recipient:
    # A token that belongs to nobody: links in a test message lead to an "invalid link" page
    # rather than to a real reader's preferences.
    token = "test-" + secrets.token_urlsafe(16)
    return Recipient(
        email=address,
        name=None,
        subscriber_token=token,
        delivery_token=None,
        language=language,
        tracking=False,
    )


def render_preview(
    session: Session,
    settings: Settings,
    month: str,
    *,
    topics: str | None = None,
    language: str = "zh-CN",
    layout: str | None = None,
) -> Preview:
    """The exact message a reader of these topics and language would get (untracked); in
    `layout` rather than the edition's own when given."""
    edition, variant = _variant(session, settings, month, topics, language, layout)
    message = fill(variant, _recipient("preview@example.com", language), links(settings))
    return Preview(edition=edition, variant=variant, message=message)


def send_test(
    session: Session,
    settings: Settings,
    month: str,
    to: list[str],
    *,
    topics: str | None = None,
    language: str = "zh-CN",
    actor: User | str = "cli",
) -> list[TestSend]:
    """Send the variant to each address with a marked subject; the caller commits the record.

    Raises PreviewError, or UnsafeContent (an EditionError) when the edition holds text no
    message may carry."""
    if not to or len(to) > MAX_TEST_RECIPIENTS:
        raise PreviewError(Reason(N_("give between 1 and %(count)d addresses"),
                                  count=MAX_TEST_RECIPIENTS))
    addresses = []
    for address in to:
        try:
            addresses.append(validate_email(address, check_deliverability=False).normalized)
        except EmailNotValidError:
            raise PreviewError(Reason(N_("%(address)s is not a valid email address"),
                                      address=repr(address))) from None
    edition, variant = _variant(session, settings, month, topics, language)
    require_safe_content(edition)  # what a test shows must be what readers could get
    outgoing = transport(settings)
    sent: list[TestSend] = []
    for address in addresses:
        message = fill(variant, _recipient(address, language), links(settings))
        message = replace(
            message,
            subject=TEST_SUBJECT_PREFIX[language] + message.subject,
            tags={**message.tags, "kind": "test"},
        )
        record = TestSend(
            edition_id=edition.id,
            to_address=address,
            topics=list(variant.topics),
            language=language,
            transport=settings.mail_transport,
            actor=actor.email if isinstance(actor, User) else actor,
        )
        try:
            record.message_id = outgoing.send(message).message_id
        except Exception as error:  # a transport failure is recorded and reported, not raised
            record.error = f"{type(error).__name__}: {error}"
        session.add(record)
        sent.append(record)
    session.flush()
    record_audit(session, "edition.test_send", actor=actor, target=month, detail={"to": addresses})
    return sent
