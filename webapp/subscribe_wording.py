"""What every subscribe form says the same way, on our own page (webapp.public) and embedded
in the firm's site (webapp.api.embed): the consent text and the language picker's labels."""

from __future__ import annotations

from flask_babel import gettext


def consent_text(org: str) -> str:
    """The consent text of webapp.readers.consent.CONSENT_VERSION: a new wording needs a new
    version there. PIPL asks for a separate notice when data may leave mainland China."""
    text: str = gettext(
        "I agree that %(org)s processes my email address, name and company to send me the "
        "monthly report on the topics I choose. The emails are sent through Amazon Web "
        "Services (Amazon SES) servers, which may be located outside mainland China. I can "
        "change my choices, unsubscribe or erase my data at any time.",
        org=org,
    )
    return text


# Labels in their own language, as language pickers show them.
LANGUAGE_CHOICES = (("zh-CN", "中文"), ("en", "English"))
