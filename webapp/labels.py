"""Display names of the codes the database stores, in the page's language.

One table per kind of code (a state, a suppression's reason, an audit action …). Templates show
a code through the `label` filter (`{{ row.reason|label("suppression_reason") }}`), views
through `label()`; a code the table does not know yet shows as itself rather than failing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from flask import Flask
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.reasons import say

Labels = dict[str, Any]


def status_labels() -> Labels:
    """Edition, delivery and subscriber states as readers of the console see them."""
    return {
        "draft": _l("Draft"),
        "approved": _l("Approved"),
        "scheduled": _l("Scheduled"),
        "sending": _l("Sending"),
        "paused": _l("Paused"),
        "sent": _l("Sent"),
        "cancelled": _l("Cancelled"),
        "pending": _l("Pending"),
        "active": _l("Active"),
        "unsubscribed": _l("Unsubscribed"),
        "bounced": _l("Bounced"),
        "complained": _l("Complained"),
        "erased": _l("Erased"),
        "queued": _l("Queued"),
        "in_doubt": _l("In doubt"),
        "failed": _l("Failed"),
        "skipped": _l("Skipped"),
        "delivered": _l("Delivered"),
    }


def _suppression_reasons() -> Labels:
    return {
        "bounce": _l("Hard bounce"),
        "complaint": _l("Spam complaint"),
        "manual": _l("Added by an admin"),
        "erased": _l("Reader erased their data"),
        "unsubscribed": _l("Unsubscribed"),
    }


def _suppression_sources() -> Labels:
    return {
        "ses": _l("Amazon SES report"),
        "admin": _l("Admin console"),
        "csv": _l("CSV import"),
        "reader": _l("The reader"),
        "tracking": _l("Tracking"),
        "cli": _l("Command line"),
    }


def _consent_sources() -> Labels:
    return {
        "form": _l("Web form"),
        "csv": _l("CSV import"),
        "admin": _l("Admin console"),
        "one-click": _l("One-click unsubscribe"),
        "bounce": _l("Bounce report"),
        "complaint": _l("Spam complaint"),
        "api": _l("REST API"),
        "embed": _l("Form on the firm's site"),
    }


def _consent_actions() -> Labels:
    return {
        "subscribe": _l("Asked to subscribe"),
        "confirm": _l("Confirmed the subscription"),
        "topics": _l("Changed topics"),
        "language": _l("Changed language"),
        "profile": _l("Changed name or company"),
        "email": _l("Changed email address"),
        "tracking": _l("Changed tracking choice"),
        "pause": _l("Paused"),
        "resume": _l("Resumed"),
        "unsubscribe": _l("Unsubscribed"),
        "resubscribe": _l("Subscribed again"),
        "unsuppress": _l("Subscribed again after erasure"),
        "erase": _l("Erased their data"),
        "import": _l("Imported"),
        "import-update": _l("Updated by an import"),
    }


def _audit_actions() -> Labels:
    return {
        "edition.import": _l("Imported an edition"),
        "edition.replace": _l("Replaced an edition"),
        "edition.import_incomplete": _l("Imported an incomplete report"),
        "edition.edit": _l("Edited the edition"),
        "edition.edit_english": _l("Edited the English texts"),
        "edition.translate": _l("Drafted English"),
        "edition.accept_english": _l("Accepted English drafts"),
        "edition.layout": _l("Changed the layout"),
        "edition.test_send": _l("Sent a test"),
        "edition.approve": _l("Approved the edition"),
        "edition.schedule": _l("Scheduled the edition"),
        "edition.unschedule": _l("Unscheduled the edition"),
        "edition.send": _l("Started sending"),
        "edition.pause": _l("Paused sending"),
        "edition.resume": _l("Resumed sending"),
        "edition.cancel": _l("Cancelled the edition"),
        "edition.in_doubt_resend": _l("Sent the in-doubt messages again"),
        "edition.in_doubt_mark_sent": _l("Counted the in-doubt messages as sent"),
        "item.add": _l("Added an item"),
        "item.edit": _l("Edited an item"),
        "item.delete": _l("Deleted an item"),
        "item.move": _l("Moved an item"),
        "item.undo_cleanup": _l("Undid an item's cleanup"),
        "schedule.rule": _l("Changed the sending schedule"),
        "topic.create": _l("Added a topic"),
        "topic.edit": _l("Edited a topic"),
        "topic.move": _l("Moved a topic"),
        "topic.retire": _l("Retired a topic"),
        "topic.restore": _l("Restored a topic"),
        "subscriber.add": _l("Added a reader"),
        "subscriber.edit": _l("Edited a reader"),
        "subscriber.unsubscribe": _l("Unsubscribed a reader"),
        "subscriber.rotate_token": _l("Replaced a preferences link"),
        "subscriber.erase": _l("Erased a reader's data"),
        "api_key.create": _l("Created an API key"),
        "api_key.revoke": _l("Revoked an API key"),
        "webhook.create": _l("Added a webhook endpoint"),
        "webhook.rotate": _l("Replaced a webhook secret"),
        "webhook.enable": _l("Turned on a webhook endpoint"),
        "webhook.disable": _l("Turned off a webhook endpoint"),
        "webhook.delete": _l("Deleted a webhook endpoint"),
        "webhook.test": _l("Sent a webhook test event"),
        "subscribers.import": _l("Imported readers"),
        "suppression.add": _l("Suppressed an address"),
        "suppression.remove": _l("Lifted a suppression"),
        "user.create": _l("Added a user"),
        "user.invite": _l("Invited a user"),
        "user.role": _l("Changed a user's role"),
        "user.activate": _l("Reactivated a user"),
        "user.deactivate": _l("Deactivated a user"),
        "user.two_factor_on": _l("Turned on two-factor sign-in"),
        "user.two_factor_off": _l("Turned off two-factor sign-in"),
        "user.two_factor_reset": _l("Reset a user's two-factor sign-in"),
        "user.recovery_codes_renewed": _l("Made new recovery codes"),
        "user.recovery_code_used": _l("Signed in with a recovery code"),
        "user.password_reset": _l("Reset their password"),
        "user.sign_out_everywhere": _l("Signed out everywhere"),
        "branding.update": _l("Changed the branding"),
        "job.retry": _l("Retried a background job"),
        "database.backup": _l("Backed up the database"),
    }


def _webhook_events() -> Labels:
    return {
        "subscriber.confirmed": _l("A reader confirmed"),
        "subscriber.updated": _l("A reader changed their subscription"),
        "subscriber.unsubscribed": _l("A reader unsubscribed"),
        "subscriber.erased": _l("A reader's data was erased"),
        "delivery.bounced": _l("A message bounced"),
        "delivery.complained": _l("A reader complained"),
        "edition.sent": _l("An edition finished sending"),
        "webhook.test": _l("Test event"),
    }


def _webhook_problems() -> Labels:
    """Why a webhook URL or request was refused (webapp.events.webhook_urls, .webhooks)."""
    return {
        "malformed": _l("Enter a complete URL, such as https://crm.example.com/hooks/yuebao."),
        "scheme": _l("The URL must start with https://."),
        "https_required": _l(
            "The URL must start with https:// (plain http only reaches this machine, "
            "outside production)."
        ),
        "credentials": _l("Leave the user name and password out of the URL."),
        "unresolved": _l("The URL's host name could not be found."),
        "private_address": _l(
            "The URL leads to a private, loopback or cloud metadata address, which webhooks "
            "may not reach."
        ),
        "no_events": _l("Choose at least one event."),
        "unknown_event": _l("Choose events from the list."),
        "too_many": _l("There are already 20 webhook endpoints; delete one first."),
        "admin": _l("Turned off by an admin"),
        "failing": _l("Turned off after a day in which every attempt failed"),
        "secret_unreadable": _l(
            "Turned off: its secret cannot be read since SECRET_KEY changed; rotate the secret"
        ),
    }


def _roles() -> Labels:
    return {"editor": _l("Editor"), "admin": _l("Admin")}


def _job_kinds() -> Labels:
    return {
        "mail": _l("System email"),
        "redact_outbox": _l("Redacting an erased reader's mails"),
        "index_outbox": _l("Indexing the outbox"),
        "csv_import": _l("Reader import"),
        "csv_export": _l("Reader export"),
        "translate": _l("Drafting English"),
        # the system mails (emails.system.KINDS), by the kind a mail job carries
        "confirm": _l("Confirmation email"),
        "welcome": _l("Welcome email"),
        "preferences_link": _l("Preferences link email"),
        "email_change": _l("Address change email"),
        "password_reset": _l("Password reset email"),
        "invitation": _l("Invitation email"),
        "test": _l("Test send"),
    }


def _job_statuses() -> Labels:
    return {"pending": _l("Pending"), "done": _l("Done"), "failed": _l("Failed")}


def _event_kinds() -> Labels:
    return {
        "send": _l("Accepted by SES"),
        "delivery": _l("Delivered"),
        "bounce": _l("Bounced"),
        "complaint": _l("Complained"),
        "reject": _l("Rejected by SES"),
        "delivery_delay": _l("Delivery delayed"),
        "rendering_failure": _l("Rendering failed"),
        "open": _l("Opened"),
        "click": _l("Clicked"),
    }


def _bounce_types() -> Labels:
    return {
        "Permanent": _l("Permanent"),
        "Transient": _l("Temporary"),
        "Undetermined": _l("Undetermined"),
    }


def _languages() -> Labels:
    """Each language by its own name, as the language choices everywhere show it."""
    return {"zh-CN": "中文", "en": "English"}


def _untranslated_policies() -> Labels:
    return {"omit": _l("Left out"), "marked": _l("Shown in Chinese")}


def _layouts() -> Labels:
    return {"auto": _l("Automatic"), "full": _l("Full"), "digest": _l("Digest")}


def _consent_bases() -> Labels:
    """How the readers of an imported list agreed (webapp.readers.csv_values.ConsentBasis)."""
    return {
        "asked": _l("They asked to subscribe (a form on our site, an email)"),
        "clients": _l("Existing clients who agreed in writing"),
        "other": _l("Other"),
    }


def _translation_problems() -> Labels:
    """Why Amazon Translate (or our check of its answer) gave no draft, by the code the run
    records first (webapp.editions.machine_translation)."""
    busy = _l("Amazon Translate was busy and still refused after several attempts")
    refused = _l("Amazon Translate did not accept the credentials (check the AWS settings)")
    return {
        "UnsafeText": _l("The draft holds a character that cannot be stored"),
        "TooLong": _l("The English draft is too long for its field"),
        "Empty": _l("The translation came back empty"),
        "NoCredentials": _l("No AWS credentials are set up for Amazon Translate"),
        "ThrottlingException": busy, "TooManyRequestsException": busy,
        "ServiceUnavailableException": busy, "InternalServerException": busy,
        "RequestTimeout": busy, "RequestTimeoutException": busy,
        "ConnectionError": _l("Amazon Translate could not be reached"),
        "ResourceNotFoundException": _l(
            "The terminology named in TRANSLATE_TERMINOLOGY does not exist"),
        "UnsupportedLanguagePairException": _l(
            "Amazon Translate cannot translate from Chinese to English here"),
        "AccessDeniedException": refused, "UnrecognizedClientException": refused,
        "InvalidSignatureException": refused, "ExpiredTokenException": refused,
        "InvalidClientTokenId": refused, "IncompleteSignature": refused,
        "MissingAuthenticationToken": refused,
        "TextSizeLimitExceededException": _l("The text is too long for Amazon Translate"),
        "DetectedLanguageLowConfidenceException": _l(
            "Amazon Translate could not tell the text's language"),
        "the edition can no longer be changed": _l("The edition can no longer be changed"),
    }


def _sending_problems() -> Labels:
    """Why SES or the engine paused a send or left a delivery unsent, by the code the reason
    starts with (emails.transports.errors, webapp.delivery)."""
    credentials = _l("SES did not accept the credentials (check the AWS settings)")
    configuration = _l("The SES configuration set is missing or paused")
    return {
        "quota": _l("The daily SES sending quota is used up"),
        "SendingPausedException": _l("Sending is paused on the SES account"),
        "AccountSuspendedException": _l("The SES account is suspended"),
        "MailFromDomainNotVerifiedException": _l("The MAIL FROM domain is not verified in SES"),
        "ConfigurationSetDoesNotExistException": configuration,
        "ConfigurationSetSendingPausedException": configuration,
        "NotFoundException": _l("SES does not know the sender identity or configuration set"),
        "AccessDeniedException": credentials, "UnrecognizedClientException": credentials,
        "InvalidClientTokenId": credentials, "SignatureDoesNotMatch": credentials,
        "BadRequestException": _l("SES refused the request"),
        "LimitExceededException": _l("An SES limit was exceeded"),
        "MessageRejected": _l("SES refused this message"),
        "MessageRejectedException": _l("SES refused this message"),
        "UNBUILDABLE": _l("The message could not be built"),
        "cancelled": _l("The edition was cancelled"),
        "unsubscribed or suppressed": _l("Unsubscribed or suppressed before it was sent"),
        "re-queued": _l("Queued again: SES reported no Send for it"),
        "database error": _l("A database error"),
    }


_PROBLEM_TABLES: Mapping[str, Callable[[], Labels]] = {
    "translation": _translation_problems, "sending": _sending_problems,
}


def problem(reason: str | None, table: str) -> tuple[str, str]:
    """A failure as stored ("Code: message", or a known sentence) split into what a person
    reads, in the page's language, and the technical detail, which stays as it is (Amazon's
    English words). Unknown reasons come back whole."""
    if not reason:
        return "", ""
    known = _PROBLEM_TABLES[table]()
    code, _sep, detail = reason.partition(": ")
    found = known.get(code)
    if found is None:
        found, detail = known.get(reason), ""
    return (str(found), detail) if found is not None else (reason, "")


# The tables by name, as templates and `label()` ask for them.
TABLES: Mapping[str, Callable[[], Labels]] = {
    "status": status_labels,
    "suppression_reason": _suppression_reasons,
    "suppression_source": _suppression_sources,
    "consent_source": _consent_sources,
    "consent_action": _consent_actions,
    "audit_action": _audit_actions,
    "role": _roles,
    "job_kind": _job_kinds,
    "job_status": _job_statuses,
    "event_kind": _event_kinds,
    "bounce_type": _bounce_types,
    "language": _languages,
    "untranslated": _untranslated_policies,
    "layout": _layouts,
    "consent_basis": _consent_bases,
    "webhook_event": _webhook_events,
    "webhook_problem": _webhook_problems,
}

# Codes that are also plain English words or otherwise shown as they are: left out of
# `label_codes`, which a test looks for on Chinese pages.
_SHOWN_AS_IS = frozenset({"en", "zh-CN", "test", "mail"})


def label(code: object, table: str) -> str:
    """`code` (a string or a str enum) in the page's language; unknown codes as they are."""
    value = str(getattr(code, "value", code))
    found = TABLES[table]().get(value)
    return str(found) if found is not None else value


def label_codes() -> set[str]:
    """Every code the tables name: none of them should show on a page as it is stored."""
    return {code for table in TABLES.values() for code in table()} - _SHOWN_AS_IS


def _field_names() -> Labels:
    """The keys of audit and consent details, and the field names some of them list."""
    return {
        "reason": _l("Reason"), "note": _l("Note"), "from": _l("Before"), "to": _l("After"),
        "was": _l("Before"), "role": _l("Role"), "fields": _l("Fields"), "items": _l("Items"),
        "item": _l("Item"), "section": _l("Section"), "position": _l("Position"),
        "title": _l("Title"), "at": _l("Time"), "again": _l("Again"), "left": _l("Left"),
        "kind": _l("Kind"), "source": _l("Source"), "since": _l("Since"),
        "status": _l("Status"), "topics": _l("Topics"), "language": _l("Language"),
        "created": _l("Created"), "updated": _l("Updated"), "skipped": _l("Skipped"),
        "deliveries": _l("Deliveries"), "failed": _l("Failed"), "changed": _l("Changed"),
        "before": _l("Before"), "after": _l("After"), "texts": _l("Texts"),
        "missing": _l("Missing"), "restored": _l("Restored"), "kept": _l("Kept"),
        "untranslated": _l("Without English"), "name": _l("Name"), "company": _l("Company"),
        "email": _l("Email"), "tracking": _l("Tracking"), "planned": _l("Planned"),
        "characters": _l("Characters"), "edition_texts": _l("Edition texts"),
        "stopped": _l("Stopped"), "day": _l("Day"), "time": _l("Time"),
        "readers": _l("Readers"), "enabled": _l("On"), "first_month": _l("First month"),
        "excluded": _l("Left out"), "excluded_no_match": _l("Left out: no matching item"),
        "excluded_suppressed": _l("Left out: suppressed"),
        "excluded_paused": _l("Left out: paused"),
        "excluded_untranslated": _l("Left out: no English text"),
        "to_address": _l("Address"), "again_at": _l("Time"),
        # fields of an edition, an item, a topic and the branding, as their forms name them
        "subject": _l("Subject"), "preheader": _l("Preheader"), "intro": _l("Introduction"),
        "title_en": _l("English title"), "subject_en": _l("English subject"),
        "preheader_en": _l("English preheader"), "intro_en": _l("English introduction"),
        "summary": _l("Summary"), "summary_en": _l("English summary"),
        "commentary": _l("Commentary"), "commentary_en": _l("English commentary"),
        "url": _l("Link"), "published_on": _l("Date"), "layout": _l("Layout"),
        "accepted_drafts": _l("Accepted English drafts"),
        "name_zh": _l("Name (Chinese)"), "name_en": _l("Name (English)"),
        "description_zh": _l("Description (Chinese)"),
        "description_en": _l("Description (English)"), "keywords": _l("Keywords"),
        "org_name_zh": _l("Firm's name (Chinese)"), "org_name_en": _l("Firm's name (English)"),
        "primary_colour": _l("Primary colour"), "accent_colour": _l("Accent colour"),
        "footer_text_zh": _l("Footer text (Chinese)"),
        "footer_text_en": _l("Footer text (English)"),
        "commentary_label_zh": _l("Commentary label (Chinese)"),
        "commentary_label_en": _l("Commentary label (English)"), "logo": _l("Logo"),
        # a CSV import's consent attestation (webapp.readers.subscribers_csv.consent_detail)
        "attestation": _l("How they agreed"), "basis": _l("How"), "consent": _l("How they agreed"),
        "events": _l("Events"),
        "imported_by": _l("Imported by"), "imported_by_id": _l("Importer's user number"),
    }


def _field_name(key: str) -> str:
    found = _field_names().get(key)
    return str(found) if found is not None else key


_ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)?")

# Values under these keys of a detail are codes: of these tables, the first that knows them.
_VALUE_TABLES: Mapping[str, tuple[str, ...]] = {
    "role": ("role",), "from": ("status", "layout", "role"), "to": ("status", "layout", "role"),
    "status": ("status",), "kind": ("job_kind",), "language": ("language",),
    "source": ("suppression_source", "consent_source"), "untranslated": ("untranslated",),
    "reason": ("suppression_reason",),
    "basis": ("consent_basis",), "consent": ("consent_basis",),
}


def _detail_value(key: str, value: Any) -> str:
    if value is True:
        return str(_("yes"))
    if value is False:
        return str(_("no"))
    if value is None:
        return "—"
    if isinstance(value, Mapping):
        return "; ".join(f"{_field_name(k)}: {_detail_value(k, v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        if key in ("fields", "changed"):
            return ", ".join(_field_name(str(v)) for v in value)
        return ", ".join(_detail_value(key, v) for v in value)
    if isinstance(value, str):
        for table in _VALUE_TABLES.get(key, ()):
            found = TABLES[table]().get(value)
            if found is not None:
                return str(found)
        if _ISO_MOMENT.fullmatch(value):
            return str(format_datetime(datetime.fromisoformat(value), "yyyy-MM-dd HH:mm"))
    return str(value)


def detail_lines(
    detail: Mapping[str, Any] | None, topics: Iterable[Any] = ()
) -> list[tuple[str, str]]:
    """An audit or consent entry's details as (field, value) pairs in the page's language;
    topic slugs by the names of `topics` (Topic rows) where given."""
    if not detail:
        return []
    english = (locale := get_locale()) is not None and locale.language == "en"
    names = {topic.slug: topic.name("en" if english else "zh-CN") for topic in topics}
    lines = []
    for key, value in detail.items():
        if key == "topics" and names and isinstance(value, list | tuple):
            separator = ", " if english else "、"
            lines.append((_field_name(key), separator.join(names.get(str(v), str(v))
                                                           for v in value)))
        else:
            lines.append((_field_name(key), _detail_value(key, value)))
    return lines


def init_app(app: Flask) -> None:
    """Templates show codes with `code|label("table")`, details with `detail_lines()`
    and a service's reason with `say(reason)`."""
    app.jinja_env.filters["label"] = label
    app.jinja_env.globals["detail_lines"] = detail_lines
    app.jinja_env.globals["say"] = say
    app.jinja_env.globals["problem"] = problem
