"""Producing and delivering yuebao's emails: pure, no Flask, no database."""

from __future__ import annotations

from emails.branding import Logo, Palette, contrast_ratio
from emails.compiler import RenderError
from emails.content import (
    EditionContent,
    ItemContent,
    Links,
    MailSettings,
    Recipient,
    SectionContent,
    UrlLinks,
)
from emails.edition import (
    MAX_HTML_BYTES,
    Variant,
    compile_variant,
    default_preheader,
    default_subject,
)
from emails.fill import fill
from emails.mime import Message
from emails.system import KINDS, render_system_mail
from emails.transports import TRANSPORTS, SendResult, Transport, make_transport
from emails.views import variant_key

__all__ = [
    "KINDS",
    "MAX_HTML_BYTES",
    "TRANSPORTS",
    "EditionContent",
    "ItemContent",
    "Links",
    "Logo",
    "MailSettings",
    "Message",
    "Palette",
    "Recipient",
    "RenderError",
    "SectionContent",
    "SendResult",
    "Transport",
    "UrlLinks",
    "Variant",
    "compile_variant",
    "contrast_ratio",
    "default_preheader",
    "default_subject",
    "fill",
    "make_transport",
    "render_system_mail",
    "variant_key",
]
