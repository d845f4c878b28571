"""Declarative base, naming convention and the column types every model shares."""

from __future__ import annotations

import enum
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Enum, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

# Named constraints let Alembic's batch mode on SQLite and PostgreSQL alter them identically.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_token() -> str:
    """A random, unguessable token for links in emails (256 bits)."""
    return secrets.token_urlsafe(32)


# Every token a link carries: new_token()'s URL-safe base64, a delivery's 64 hex characters
# (webapp.delivery.plan.random_token), a test send's "test-…". Checked before any query, so a
# mangled URL costs no database round trip and never reaches the driver.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def looks_like_token(value: str) -> bool:
    return _TOKEN.fullmatch(value) is not None


# A signed, expiring link (itsdangerous' URL-safe serializer: base64url parts joined by dots).
_SIGNED = re.compile(r"[A-Za-z0-9_.-]{1,1000}")


def looks_like_signed(value: str) -> bool:
    return _SIGNED.fullmatch(value) is not None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them without a zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def str_enum(enum_class: type[enum.StrEnum], name: str) -> Enum:
    """Store a StrEnum by value as VARCHAR with a CHECK, the same on SQLite and PostgreSQL."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_class),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
