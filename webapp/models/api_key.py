"""API keys: what lets the firm's own systems use /api/v1, each with the scopes it was given."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, utcnow

# What a key may be allowed to do. Erasing a reader is a scope of its own: a system that keeps
# readers in step (subscribers:write) should not be able to destroy their data by mistake.
SCOPES = (
    "subscribers:read",
    "subscribers:write",
    "subscribers:erase",
    "editions:read",
    "editions:write",
    "stats:read",
)


class ApiKey(Base):
    """One key, kept as a SHA-256 digest of the whole key and found by its visible prefix.

    A key is 256 random bits, so a digest cannot be turned back into it and checking costs
    nothing per request (a slow hash is for passwords people choose). The key itself is shown
    once, when it is made, and never stored.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # SET NULL keeps the key (and who made it, as text) when a user is deleted.
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_by: Mapped[str] = mapped_column(String(320))  # email or "cli"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Written at most once a minute per key (webapp.accounts.api_keys.note_use).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} {self.prefix}>"
