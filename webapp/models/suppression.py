"""Addresses we must never mail again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, utcnow


class Suppression(Base):
    """One suppressed address, by its lower-cased form or, after erasure, by its keyed hash."""

    __tablename__ = "suppressions"
    __table_args__ = (
        CheckConstraint(
            "email_key IS NOT NULL OR address_hash IS NOT NULL", name="address_or_hash"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_key: Mapped[str | None] = mapped_column(String(320), unique=True)
    # HMAC-SHA256 (ERASURE_KEY) of the lower-cased address, kept when the address is erased.
    address_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))  # bounce, complaint, manual, erased, …
    source: Mapped[str] = mapped_column(String(32))  # ses, admin, csv, reader, …
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
