"""Two-factor recovery codes: single-use stand-ins for an authenticator code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, utcnow


class RecoveryCode(Base):
    """One of a user's recovery codes, as a SHA-256 digest (the code has 80 random bits, as
    the keys of pending sign-ins do, so a digest is as safe as a slow hash and costs nothing at
    sign-in); `used_at` is set when it signs someone in, and then it never does again."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
