"""Pending sign-ins: the password was right, the two-factor code is still to come."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, utcnow


class PendingSignIn(Base):
    """One password step waiting for its code, with the wrong codes tried so far.

    Counted here rather than in the session cookie, so replaying an older cookie cannot
    reset the count. `id` is a digest of the random key the cookie holds: the table alone
    lets nobody continue a sign-in.
    """

    __tablename__ = "pending_sign_ins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
