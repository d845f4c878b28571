"""webapp.readers.links: confirmation links are signed, expire, and name no address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from webapp.readers.links import (
    EMAIL_CHANGE,
    MAX_AGE,
    SUBSCRIBE,
    ExpiredLink,
    InvalidLink,
    address_digest,
    read_signed,
    sign_email_change,
    sign_subscribe,
)

KEY = "secret key for links"
SIGNED_AT = datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_a_subscribe_link_reads_back_until_it_expires() -> None:
    with time_machine.travel(SIGNED_AT, tick=False):
        signed = sign_subscribe(KEY, 7, 42)
    with time_machine.travel(SIGNED_AT + MAX_AGE[SUBSCRIBE] - timedelta(minutes=1)):
        link = read_signed(KEY, signed)
    assert (link.kind, link.subscriber_id, link.value) == (SUBSCRIBE, 7, 42)
    with time_machine.travel(SIGNED_AT + MAX_AGE[SUBSCRIBE] + timedelta(minutes=1)), \
            pytest.raises(ExpiredLink):
        read_signed(KEY, signed)


def test_an_address_change_link_expires_sooner_and_hides_the_address() -> None:
    with time_machine.travel(SIGNED_AT, tick=False):
        signed = sign_email_change(KEY, 7, "New@Example.com")
    assert "example" not in signed.lower()
    with time_machine.travel(SIGNED_AT + timedelta(hours=1)):
        link = read_signed(KEY, signed)
    assert link.kind == EMAIL_CHANGE and link.value == address_digest(KEY, "new@example.com")
    with time_machine.travel(SIGNED_AT + MAX_AGE[EMAIL_CHANGE] + timedelta(minutes=1)), \
            pytest.raises(ExpiredLink):
        read_signed(KEY, signed)


def test_a_tampered_or_foreign_link_is_invalid() -> None:
    signed = sign_subscribe(KEY, 7, 42)
    with pytest.raises(InvalidLink):
        read_signed("another key", signed)
    with pytest.raises(InvalidLink):
        read_signed(KEY, signed[:-2] + ("BB" if signed[-2] == "A" else "AA"))  # see test_confirm
