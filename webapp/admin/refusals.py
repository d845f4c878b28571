"""Saying in the page's language why a service refused an admin's change.

The services raise one exception class per reason, carrying what the sentence needs; this is the
one place those become the admin's words, so no view re-derives a reason or shows the English
`str()` meant for the CLI and the logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm

from webapp.accounts.api_keys import AlreadyRevoked, ApiKeyNameInvalid, ScopesInvalid
from webapp.accounts.user_admin import InvitationNotNeeded, LastAdmin, OwnAccount
from webapp.accounts.users import PasswordTooShort, UserAddressInvalid, UserExists
from webapp.branding import (
    BrandingTextInvalid,
    ColourContrastTooLow,
    ColourInvalid,
    LogoNotAnImage,
    LogoTooLarge,
    LogoTooManyPixels,
)
from webapp.events.webhook_urls import UnsafeWebhookUrl
from webapp.events.webhooks import WebhookRefused
from webapp.fields import unsafe_text_message
from webapp.labels import label
from webapp.readers.reader_admin import (
    AddressErased,
    ConsentNotStated,
    LanguageUnknown,
    NoListedTopic,
    ReaderAddressInvalid,
    ReaderErased,
    ReaderExists,
    ReaderSuppressed,
)
from webapp.readers.suppression_admin import LiftWithoutReason, SuppressionAddressInvalid
from webapp.readers.topic_admin import (
    LastActiveTopic,
    TopicExists,
    TopicNamesMissing,
    TopicSlugInvalid,
    TopicTextTooLong,
)
from webapp.reasons import Reason, say


def _address(error: Any) -> str:
    return str(_("Please enter a valid email address."))


def _too_long(error: TopicTextTooLong) -> str:
    return str(_("At most %(limit)d characters.", limit=error.limit))


def _password(error: PasswordTooShort) -> str:
    return str(_("Choose a password of at least %(count)d characters.", count=error.minimum))


def _branding_text(error: BrandingTextInvalid) -> str:
    if error.unsafe is not None:
        return unsafe_text_message(error.unsafe)
    return str(_("At most %(limit)d characters.", limit=error.limit or 0))


def _contrast(error: ColourContrastTooLow) -> str:
    against = {
        "background": _("the email's white body (%(colour)s)", colour=error.other),
        "page": _("the page around the email (%(colour)s)", colour=error.other),
        "button_text": _("the text on buttons (%(colour)s)", colour=error.other),
    }[error.role]
    ratio = f"{error.ratio:.2f}"
    return str(_(
        "%(colour)s has a contrast of only %(ratio)s:1 against %(against)s; "
        "at least 4.5:1 is needed (WCAG AA). Choose a darker colour.",
        colour=error.colour, ratio=ratio, against=against,
    ))


_REFUSALS: dict[type[Exception], Callable[[Any], str]] = {
    UnsafeWebhookUrl: lambda e: label(e.reason, "webhook_problem"),
    WebhookRefused: lambda e: label(e.reason, "webhook_problem"),
    ApiKeyNameInvalid: lambda e: str(_("Give the key a name of at most 100 characters.")),
    ScopesInvalid: lambda e: str(_("Choose at least one scope.")),
    AlreadyRevoked: lambda e: str(_("This key is revoked already.")),
    ReaderAddressInvalid: _address,
    ReaderExists: lambda e: str(_("This address is a reader already.")),
    ReaderSuppressed: lambda e: str(
        _("%(email)s is on the suppression list: nothing may be sent to it.", email=e.address)
    ),
    AddressErased: lambda e: str(
        _("%(email)s was erased at the reader's request: only they can subscribe again.",
          email=e.address)
    ),
    NoListedTopic: lambda e: str(_("Choose at least one topic.")),
    LanguageUnknown: lambda e: str(_("Choose a language from the list.")),
    ConsentNotStated: lambda e: str(_("Say how the reader agreed to receive the report.")),
    ReaderErased: lambda e: str(_("This reader was erased: there is nothing left to change.")),
    TopicNamesMissing: lambda e: str(_("A topic needs a Chinese and an English name.")),
    TopicTextTooLong: _too_long,
    TopicSlugInvalid: lambda e: str(
        _("The short name uses lower-case letters, digits and hyphens, such as data-privacy.")
    ),
    TopicExists: lambda e: str(_("A topic with the short name %(slug)s exists already.",
                                 slug=e.slug)),
    LastActiveTopic: lambda e: str(_("Readers need at least one topic to choose.")),
    UserAddressInvalid: _address,
    UserExists: lambda e: str(_("A console user with this address exists already.")),
    PasswordTooShort: _password,
    OwnAccount: lambda e: str(_("You cannot change your own account here.")),
    LastAdmin: lambda e: str(_("The console needs at least one active admin.")),
    InvitationNotNeeded: lambda e: str(
        _("Only an active user who has never signed in can be invited again.")
    ),
    SuppressionAddressInvalid: _address,
    LiftWithoutReason: lambda e: str(_("Please give a reason.")),
    BrandingTextInvalid: _branding_text,
    ColourInvalid: lambda e: str(
        _("%(value)s is not a colour: write it as # and six hex digits, such as #1f2d44.",
          value=e.value)
    ),
    ColourContrastTooLow: _contrast,
    LogoTooLarge: lambda e: str(
        _("The logo is %(size)s KB; at most %(limit)s KB are accepted.",
          size=-(-e.size // 1024), limit=e.limit // 1024)
    ),
    LogoNotAnImage: lambda e: str(_("The logo must be a PNG or JPEG image.")),
    LogoTooManyPixels: lambda e: str(
        _("The image is %(width)d × %(height)d pixels: too large. Use one under 5000 pixels "
          "wide.", width=e.width, height=e.height)
    ),
}


def explain(error: Exception) -> str:
    """A refusal from a service, as the admin should read it."""
    for kind in type(error).__mro__:
        if kind in _REFUSALS:
            return _REFUSALS[kind](error)
    reasons = [arg for arg in error.args if isinstance(arg, Reason)]
    return say(reasons[0]) if reasons else str(error)


def show_on(form: FlaskForm, error: Exception, default: str) -> None:
    """Put the refusal next to the field it is about (the error's `field`, else `default`)."""
    name = getattr(error, "field", default)
    field = form[name] if name in form else form[default]
    field.errors = [*field.errors, explain(error)]
