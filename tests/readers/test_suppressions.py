"""Suppressions: addresses never mailed again, found by address or, after erasure, by keyed hash."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.models import Suppression
from webapp.readers.suppressions import address_hash, is_suppressed, suppress, suppressed_keys

KEY = "test-erasure-key"


def _erased(session: Session, address: str, key: str = KEY) -> None:
    """What erasure leaves of an address: its keyed hash only."""
    session.add(Suppression(address_hash=address_hash(key, address), reason="erased",
                            source="reader"))


def test_the_hash_of_an_address_stays_the_same_across_releases() -> None:
    # Hashes kept at erasure are compared with hashes made later: the recipe must not change.
    expected = "f33ee9f536f16b509a4490253e158b4299539d11efbb7e7fb7ce0da8223f6110"
    assert address_hash(KEY, "ann@example.com") == expected
    assert address_hash(KEY, "  Ann@Example.COM ") == expected
    assert address_hash("another-key", "ann@example.com") != expected


def test_suppressed_addresses_are_found_by_address_and_by_hash(session: Session) -> None:
    suppress(session, "Bounced@Example.com", reason="bounce", source="ses")
    _erased(session, "Gone@example.com")
    session.commit()

    asked = ["bounced@example.com", "GONE@example.com", "fine@example.com"]
    assert suppressed_keys(session, asked, KEY) == {"bounced@example.com", "gone@example.com"}
    assert is_suppressed(session, "BOUNCED@example.com", KEY)
    assert is_suppressed(session, "gone@example.com", KEY)
    assert not is_suppressed(session, "fine@example.com", KEY)
    assert suppressed_keys(session, [], KEY) == set()


def test_a_hash_made_with_another_erasure_key_does_not_match(session: Session) -> None:
    _erased(session, "gone@example.com", key="an-old-key")
    session.commit()
    assert not is_suppressed(session, "gone@example.com", KEY)


def test_long_lists_are_checked_in_full_across_query_batches(session: Session) -> None:
    addresses = [f"reader{n:04d}@example.com" for n in range(1200)]
    suppress(session, addresses[3], reason="bounce", source="ses")
    suppress(session, addresses[777], reason="complaint", source="ses")
    _erased(session, addresses[1100])
    _erased(session, addresses[620])
    session.commit()
    assert suppressed_keys(session, addresses, KEY) == {
        addresses[3], addresses[620], addresses[777], addresses[1100]
    }


def test_suppressing_twice_keeps_the_first_reason(session: Session) -> None:
    first = suppress(session, "Ann@Example.com", reason="bounce", source="ses", note="550")
    again = suppress(session, "ann@example.com", reason="manual", source="admin")
    assert again is first  # also before the first is committed
    session.commit()
    [row] = session.scalars(select(Suppression))
    assert (row.email_key, row.reason, row.source, row.note) == (
        "ann@example.com", "bounce", "ses", "550"
    )


def test_a_suppression_is_kept_only_if_the_caller_commits(session: Session) -> None:
    suppress(session, "ann@example.com", reason="bounce", source="ses")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0
