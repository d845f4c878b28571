"""Every edition variant and every system mail, as the outbox writes it, scored by SpamAssassin's
local rules: a total ≤ 0 and no rule at 0.1 or more (tests/support/spamassassin.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Final

import pytest
import time_machine

from emails import EditionContent, Message, Recipient, compile_variant, fill
from emails.system import KINDS
from emails.transports.outbox import OutboxTransport
from tests.emails.conftest import TOPICS, build_july, with_english
from tests.support.spamassassin import (  # noqa: F401  (the `spamassassin` fixture)
    SpamAssassin,
    Verdict,
    parse_report,
    spamassassin_server,
)
from webapp.accounts.invitations import invitation_mail
from webapp.accounts.password_reset import reset_mail
from webapp.config import Settings, load_settings
from webapp.editions.previews import TEST_SUBJECT_PREFIX
from webapp.mailer import links, mail_settings
from webapp.models import Role, Subscriber, User
from webapp.readers.links import sign_email_change, sign_subscribe
from webapp.readers.mail import confirm_url, preferences_mail, reader_mail

pytestmark = pytest.mark.servers

# A morning after the month closes (10:00 in Shanghai): the Date header never reads the clock.
SENT_AT: Final = datetime(2024, 8, 1, 2, 0, tzinfo=UTC)
# The edition's layouts (automatic resolves to one of these per variant).
LAYOUTS: Final = ("full", "digest")
# The reader with the shortest mail (two items) and the reader of everything.
ONE_TOPIC: Final = ("fintech",)
# As in production: a real domain, a one-click mailto, the firm's name and address.
PRODUCTION: Final = {
    "YUEBAO_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "ERASURE_KEY": "e" * 48,
    "DATABASE_URL": "postgresql://db/yuebao",
    "BASE_URL": "https://newsletter.meritsandtree.com",
    "MAIL_FROM": "植德月报 <report@meritsandtree.com>",
    "MAIL_REPLY_TO": "contact@meritsandtree.com",
    "UNSUBSCRIBE_MAILTO": "unsubscribe@meritsandtree.com",
    "ORG_NAME": "植德律师事务所",
    "ORG_POSTAL_ADDRESS": "北京市东城区东直门南大街 1 号来福士中心办公楼 5 层",
    "LIST_ID": "monthly.newsletter.meritsandtree.com",
    "FEEDBACK_ID": "yuebao",
    "WEB_CONCURRENCY": "1",
}
LOW_CONTRAST: Final = "HTML_FONT_LOW_CONTRAST"
NAMES: Final = {"zh-CN": "王小明", "en": "Ann Lee"}
# Shaped like real tokens (secrets.token_urlsafe(32)): URI rules look at what links hold.
SUBSCRIBER_TOKEN: Final = "Yb8Q2wPz1mN4kR7tV0cX3eJ6hL9sD5fG2aB8uI1oE4y"
DELIVERY_TOKEN: Final = "Tq3Lr8Wx0Zc5Vb2Nm7Ks4Pd9Fg1Hj6Ya3Ue8Io0Et5"


def assert_clean(name: str, verdict: Verdict) -> None:
    print(f"{name}: {verdict.describe()}")
    if verdict.clean:
        return
    offending = verdict.offending()
    message = f"{name} is not clean for SpamAssassin: {verdict.describe()}"
    assert LOW_CONTRAST not in offending, f"the hidden preheader has a colour again: {message}"
    raise AssertionError(message)


@cache
def settings() -> Settings:
    return load_settings(PRODUCTION)


def as_sent(message: Message, outbox: Path) -> bytes:
    """The bytes the outbox transport writes for `message`, sent at SENT_AT."""
    with time_machine.travel(SENT_AT, tick=False):
        result = OutboxTransport(outbox).send(message)
    assert result.file is not None
    return (outbox / result.file).read_bytes()


# --- editions ---------------------------------------------------------------------------------


@cache
def july(edition_language: str) -> tuple[EditionContent, str]:
    """The July sample for `edition_language`: Chinese, English as an editor wrote it, or the
    sample as it ships (no English yet: English readers get the Chinese text, marked)."""
    edition = build_july()
    if edition_language == "en":
        return with_english(edition), "en"
    if edition_language == "en-untranslated":
        return edition, "en"
    return edition, "zh-CN"


def edition_message(edition_language: str, reader: str, layout: str) -> Message:
    edition, language = july(edition_language)
    topics = ONE_TOPIC if reader == "one-topic" else TOPICS
    variant = compile_variant(
        edition, topics, language, settings=mail_settings(settings()), layout=layout
    )
    recipient = Recipient(
        email="reader@example.org",
        name=None if reader in ("untracked", "test-send") else NAMES[language],
        subscriber_token=SUBSCRIBER_TOKEN,
        delivery_token=None if reader == "test-send" else DELIVERY_TOKEN,
        language=language,
        tracking=reader in ("one-topic", "every-topic"),
    )
    message = fill(variant, recipient, links(settings()))
    if reader == "test-send":  # as webapp.editions.previews.send_test marks it
        message = dataclasses.replace(
            message, subject=TEST_SUBJECT_PREFIX[language] + message.subject
        )
    return message


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("reader", ["one-topic", "every-topic", "untracked", "test-send"])
@pytest.mark.parametrize("edition_language", ["zh-CN", "en", "en-untranslated"])
def test_every_edition_variant_is_clean(
    spamassassin: SpamAssassin, tmp_path: Path, edition_language: str, reader: str, layout: str
) -> None:
    raw = as_sent(edition_message(edition_language, reader, layout), tmp_path)
    assert_clean(f"edition {edition_language} {reader} {layout}", spamassassin.check(raw))


def test_the_english_fixture_covers_every_july_item() -> None:
    english, _ = july("en")
    items = [i for s in english.sections for i in s.items]
    assert len(items) == 26 and all(i.translated for i in items)


# --- system mails -----------------------------------------------------------------------------


def _subscriber(language: str) -> Subscriber:
    return Subscriber(
        id=4217,
        email="reader@example.org",
        name=NAMES[language],
        language=language,
        token=SUBSCRIBER_TOKEN,
    )


def _user() -> User:
    return User(id=12, email="editor@meritsandtree.com", password_hash="scrypt:32768:8:1$s$h",
                role=Role.EDITOR, active=True)


SYSTEM_MAILS: Final = (
    "confirm", "welcome", "preferences_link", "email_change", "password_reset",
    "invitation",
)


def system_message(name: str, language: str) -> Message:
    """A system mail as the web app builds it, by the name a reader or user knows it."""
    s = settings()
    subscriber = _subscriber(language)
    if name == "confirm":
        signed = sign_subscribe(s.secret_key, subscriber.id, 88)
        return reader_mail(s, name, subscriber, confirm_url(s, signed))
    if name == "welcome":
        return reader_mail(s, name, subscriber, links(s).preferences(subscriber.token))
    if name == "preferences_link":
        return preferences_mail(s, subscriber)
    if name == "email_change":
        signed = sign_email_change(s.secret_key, subscriber.id, "new@example.org")
        return reader_mail(s, name, subscriber, confirm_url(s, signed), to="new@example.org")
    if name == "invitation":
        admin = User(id=3, email="partner@meritsandtree.com", password_hash="x", role=Role.ADMIN)
        return invitation_mail(s, _user(), admin, language)
    return reset_mail(s, _user(), language)


def test_every_kind_of_system_mail_is_here() -> None:
    kinds = {system_message(name, "en").tags["kind"] for name in SYSTEM_MAILS}
    assert kinds == set(KINDS)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("name", SYSTEM_MAILS)
def test_every_system_mail_is_clean(
    spamassassin: SpamAssassin, tmp_path: Path, name: str, language: str
) -> None:
    raw = as_sent(system_message(name, language), tmp_path)
    assert_clean(f"{name} {language}", spamassassin.check(raw))


# --- the harness itself -----------------------------------------------------------------------


def test_a_known_spam_message_is_caught(spamassassin: SpamAssassin, tmp_path: Path) -> None:
    """GTUBE, SpamAssassin's test string: proof that the rules run and their hits come back."""
    message = system_message("confirm", "en")
    gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
    verdict = spamassassin.check(as_sent(dataclasses.replace(message, text=gtube), tmp_path))
    assert verdict.rules["GTUBE"] == 1000 and not verdict.clean


def test_an_unreachable_spamd_is_an_error_not_a_clean_score(tmp_path: Path) -> None:
    silent = SpamAssassin(tmp_path)  # never started: nothing listens on its port
    with pytest.raises(RuntimeError, match="spamc failed"):
        silent.check(b"Subject: hello\r\n\r\nhello\r\n")


def test_the_report_is_read_rule_by_rule() -> None:
    verdict = parse_report(
        "0.7/5.0\nyuebao-rules: HTML_FONT_LOW_CONTRAST=0.713,HTML_MESSAGE=0.001,NO_RELAYS=-0.001\n"
    )
    assert verdict.rules == {
        "HTML_FONT_LOW_CONTRAST": 0.713, "HTML_MESSAGE": 0.001, "NO_RELAYS": -0.001
    }
    assert verdict.total == 0.713 and verdict.offending() == {"HTML_FONT_LOW_CONTRAST": 0.713}
    assert parse_report("-0.0/5.0\nyuebao-rules: none\n").rules == {}
    assert parse_report("0.0/5.0\nyuebao-rules: HTML_MESSAGE=0.001,NO_RELAYS=-0.001\n").clean
    with pytest.raises(ValueError, match="no SpamAssassin report"):
        parse_report("0/0\n")
