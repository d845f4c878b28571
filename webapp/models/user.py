"""Console users (editors and admins)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, str_enum, utcnow


class Role(enum.StrEnum):
    EDITOR = "editor"
    ADMIN = "admin"


class User(Base):
    """A console user; implements what Flask-Login asks of a user object."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # TOTP two-factor sign-in: the base32 secret is kept from enrolment; sign-in asks for a
    # code once `totp_enabled_at` is set. The last accepted time step stops a code's replay.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Part of every session cookie (through `get_id`); raising it ends every session the user
    # has, copies of the cookie included (see webapp/accounts/sessions.py).
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        """What the session cookie holds: the user and the version of their sessions."""
        return f"{self.id}:{self.session_version}"

    @property
    def two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    def has_role(self, role: Role) -> bool:
        """Admins can do everything editors can."""
        return self.role == Role.ADMIN or self.role == role
