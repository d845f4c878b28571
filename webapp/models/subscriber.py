"""Subscribers (readers), their topics and the consent ledger."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Integer, String, Table, Text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, UTCDateTime, new_token, str_enum, utcnow

if TYPE_CHECKING:
    from webapp.models.topic import Topic

LANGUAGES = ("zh-CN", "en")


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    ERASED = "erased"


subscriber_topics = Table(
    "subscriber_topics",
    Base.metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)


def email_key(address: str) -> str:
    """The form of an address that uniqueness and suppression compare on."""
    return address.strip().lower()


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # Lower-cased address: the unique key, so Alice@x and alice@x are one reader.
    email_key: Mapped[str | None] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    status: Mapped[SubscriberStatus] = mapped_column(
        str_enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
    )
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Own open/click tracking; readers may opt out on their preferences page.
    tracking: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Set while status is `paused`: housekeeping makes the reader active again after it.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An address change waiting for confirmation at the new address.
    new_email: Mapped[str | None] = mapped_column(String(320))

    topics: Mapped[list[Topic]] = relationship(
        secondary=subscriber_topics, order_by="Topic.position"
    )
    consents: Mapped[list[ConsentRecord]] = relationship(
        back_populates="subscriber", order_by="ConsentRecord.id", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Subscriber {self.id} {self.status}>"


class SubscriberToken(Base):
    """A token the reader used to have: rotated away from /p/, still good for /u/.

    Unsubscribe links in old emails must keep working after an admin rotates the token.
    """

    __tablename__ = "subscriber_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentSource(enum.StrEnum):
    FORM = "form"
    CSV = "csv"
    ADMIN = "admin"
    ONE_CLICK = "one-click"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    API = "api"  # a system of the firm, through an API key (webapp.api)
    EMBED = "embed"  # the embeddable form on the firm's own site (detail: the page's origin)


class ConsentRecord(Base):
    """Append-only ledger of what a subscriber agreed to, when and from where."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))
    source: Mapped[ConsentSource] = mapped_column(str_enum(ConsentSource, "consent_source"))
    text_version: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="consents")
