"""System mails share the layout, the escaping and the text part of editions."""

from __future__ import annotations

import email
from email import policy

import pytest

from emails import MailSettings, render_system_mail
from emails.i18n import CATALOGUE
from emails.system import KINDS
from tests.emails.conftest import BASE_URL, make_settings

CONTEXT = {
    "to": "ann@example.org",
    "name": "安娜",
    "action_url": f"{BASE_URL}/confirm/signed.token?x=1&y=2",
    "unsubscribe_url": f"{BASE_URL}/u/SUBTOK",
    "inviter": "lead@example.org",  # only an invitation uses these three
    "role": "editor",
    "lifetime_days": "3",
}


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_in_each_language(kind: str, language: str, settings: MailSettings) -> None:
    t = CATALOGUE[language]
    message = render_system_mail(kind, language, CONTEXT, settings=settings)
    assert message.to == "ann@example.org" and message.sender == settings.mail_from
    org = settings.org_name
    assert message.subject == t[f"{kind}.subject"].format(org=org, inviter="lead@example.org")
    for part in (message.html, message.text):
        assert t[f"{kind}.heading"].format(org=org) in part
        assert t[f"{kind}.button"] in part
        assert ("ann@example.org" if kind == "invitation" else "安娜") in part
        assert settings.org_postal_address in part
    assert f'href="{BASE_URL}/confirm/signed.token?x=1&amp;y=2"' in message.html
    assert f"{BASE_URL}/confirm/signed.token?x=1&y=2" in message.text
    assert f'lang="{language}"' in message.html
    mail_type = "confirmation" if kind == "confirm" else "system"
    assert message.headers["Feedback-ID"] == f"{mail_type}:{settings.feedback_id}"
    assert message.tags == {"kind": kind}


@pytest.mark.parametrize("kind", ["welcome", "preferences_link"])
def test_subscriber_mails_offer_one_click_unsubscribe(kind: str, settings: MailSettings) -> None:
    message = render_system_mail(kind, "zh-CN", CONTEXT, settings=settings)
    assert message.headers["List-Unsubscribe"] == f"<{BASE_URL}/u/SUBTOK>"
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f'href="{BASE_URL}/u/SUBTOK"' in message.html


@pytest.mark.parametrize("kind", ["confirm", "password_reset"])
def test_other_mails_have_no_unsubscribe(kind: str, settings: MailSettings) -> None:
    message = render_system_mail(kind, "en", CONTEXT, settings=settings)
    assert "List-Unsubscribe" not in message.headers
    assert "/u/SUBTOK" not in message.html and "/u/SUBTOK" not in message.text


def test_missing_context_is_a_clear_error(settings: MailSettings) -> None:
    with pytest.raises(ValueError, match="unsubscribe_url"):
        render_system_mail(
            "welcome", "zh-CN", {"to": "a@b.c", "action_url": "x"}, settings=settings
        )
    with pytest.raises(ValueError, match="newsletter"):
        render_system_mail("newsletter", "zh-CN", CONTEXT, settings=settings)
    with pytest.raises(ValueError, match="fr"):
        render_system_mail("confirm", "fr", CONTEXT, settings=settings)


def test_anonymous_greeting_and_cached_compile_per_reader_values(settings: MailSettings) -> None:
    first = render_system_mail("confirm", "zh-CN", {**CONTEXT, "name": ""}, settings=settings)
    second = render_system_mail(
        "confirm",
        "zh-CN",
        {**CONTEXT, "action_url": f"{BASE_URL}/confirm/other"},
        settings=settings,
    )
    assert "尊敬的读者：" in first.html and "安娜" not in first.html
    assert "/confirm/other" in second.html and "signed.token" not in second.html


def test_settings_changes_are_not_served_from_a_stale_cache() -> None:
    one = render_system_mail("confirm", "en", CONTEXT, settings=make_settings(org_name="Firm One"))
    two = render_system_mail("confirm", "en", CONTEXT, settings=make_settings(org_name="Firm Two"))
    assert "Firm One" in one.html and "Firm Two" in two.html and "Firm One" not in two.html


def test_system_mail_serialises(settings: MailSettings) -> None:
    raw = render_system_mail("password_reset", "zh-CN", CONTEXT, settings=settings).to_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "重置植德律师事务所月报后台密码"
    assert parsed.get_content_type() == "multipart/alternative"


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_an_invitation_greets_the_address_and_says_who_what_and_how_long(
    language: str, settings: MailSettings
) -> None:
    t = CATALOGUE[language]
    context = {**CONTEXT, "inviter": "<b>lead</b>@example.org", "role": "admin",
               "lifetime_days": "1"}
    message = render_system_mail("invitation", language, context, settings=settings)
    for part in (message.html, message.text):
        assert t["greeting_address"].format(address="ann@example.org") in part
        assert t["greeting_anonymous"] not in part and "安娜" not in part
        assert t["role.admin"] in part and t["lifetime_day"].format(count=1) in part
    assert "&lt;b&gt;lead&lt;/b&gt;@example.org" in message.html and "<b>lead" not in message.html
    assert "<b>lead</b>@example.org" in message.subject


def test_an_invitation_refuses_an_unknown_role_or_a_lifetime_that_is_no_number(
    settings: MailSettings
) -> None:
    with pytest.raises(ValueError, match="role"):
        render_system_mail("invitation", "en", {**CONTEXT, "role": "owner"}, settings=settings)
    with pytest.raises(ValueError, match="lifetime_days"):
        render_system_mail(
            "invitation", "en", {**CONTEXT, "lifetime_days": "soon"}, settings=settings
        )
