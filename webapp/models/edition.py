"""Editions (one month's issue), their sections and items."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from webapp.models.topic import Topic


class EditionStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


# Items may be edited, and a re-import may replace them, only in these states.
EDITABLE_STATUSES = frozenset({EditionStatus.DRAFT, EditionStatus.APPROVED})

SECTION_KEYS = ("policy", "industry", "deals")


class UntranslatedPolicy(enum.StrEnum):
    """What English readers get for an item without (accepted) English text."""

    OMIT = "omit"  # left out of English editions
    MARKED = "marked"  # shown in Chinese, marked "(in Chinese)" and lang="zh-CN"


class EditionLayout(enum.StrEnum):
    """How an edition's email is laid out (emails.content.LAYOUTS)."""

    AUTO = "auto"  # digest for a reader with more than ten items, else full
    FULL = "full"  # every item whole
    DIGEST = "digest"  # each item as a teaser linking to the reader's web version


class EnglishStatus(enum.StrEnum):
    """Who stands behind an item's English fields.

    Only `editor` text (written or accepted by an editor) reaches readers. `machine`: the
    English fields are a machine draft (webapp.editions.translation), untranslated until an
    editor accepts or edits them, and the edition cannot be approved meanwhile.
    """

    EDITOR = "editor"
    MACHINE = "machine"

item_topics = Table(
    "item_topics",
    Base.metadata,
    Column("item_id", ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)


class Edition(Base):
    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # YYYY-MM
    title: Mapped[str] = mapped_column(String(200))
    # English texts for English readers; empty means automatic (title, subject, preheader) or
    # none (intro). The automatic English ones never contain Chinese (emails.english_subject).
    title_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    subject_en: Mapped[str] = mapped_column(String(300), default="", server_default="")
    preheader_en: Mapped[str] = mapped_column(String(300), default="", server_default="")
    intro_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    untranslated: Mapped[UntranslatedPolicy] = mapped_column(
        str_enum(UntranslatedPolicy, "untranslated_policy"),
        default=UntranslatedPolicy.MARKED,
        server_default=UntranslatedPolicy.MARKED.value,
    )
    layout: Mapped[EditionLayout] = mapped_column(
        str_enum(EditionLayout, "edition_layout"),
        default=EditionLayout.AUTO,
        server_default=EditionLayout.AUTO.value,
    )
    # Which of the English texts above (and of the sections' English names, as
    # "section:<key>") are machine drafts no editor accepted yet: readers never get them, and
    # the edition cannot be approved meanwhile. None: none is.
    english_drafts: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    # Empty means automatic: each variant's subject and preheader are made from the report's
    # name, the month and that variant's first items (emails.compile_variant).
    subject: Mapped[str] = mapped_column(String(300), default="")
    preheader: Mapped[str] = mapped_column(String(300), default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[EditionStatus] = mapped_column(
        str_enum(EditionStatus, "edition_status"), default=EditionStatus.DRAFT
    )
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the send is paused when SES paused it (quota, account paused …); None when an editor did.
    pause_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    sections: Mapped[list[Section]] = relationship(
        back_populates="edition", order_by="Section.position", cascade="all, delete-orphan"
    )

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE_STATUSES

    def __repr__(self) -> str:
        return f"<Edition {self.month} {self.status}>"


class Section(Base):
    __tablename__ = "sections"
    __table_args__ = (UniqueConstraint("edition_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(16))  # policy | industry | deals
    title: Mapped[str] = mapped_column(String(100))
    title_en: Mapped[str] = mapped_column(String(100), default="", server_default="")
    position: Mapped[int] = mapped_column(Integer)

    edition: Mapped[Edition] = relationship(back_populates="sections")
    items: Mapped[list[Item]] = relationship(
        back_populates="section", order_by="Item.position", cascade="all, delete-orphan"
    )


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    published_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_en: Mapped[str | None] = mapped_column(Text)
    commentary: Mapped[str | None] = mapped_column(Text)
    commentary_en: Mapped[str | None] = mapped_column(Text)
    english_status: Mapped[EnglishStatus] = mapped_column(
        str_enum(EnglishStatus, "english_status"),
        default=EnglishStatus.EDITOR,
        server_default=EnglishStatus.EDITOR.value,
    )
    # What the import's cleanup changed, {field: {"before": …, "after": …}}, for the editor to
    # check and undo; None when it changed nothing (or the editor undid it).
    cleanup: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    section: Mapped[Section] = relationship(back_populates="items")
    topics: Mapped[list[Topic]] = relationship(secondary=item_topics, order_by="Topic.position")

    @property
    def url_not_ascii(self) -> bool:
        """The link holds a character that is not plain ASCII (often one a PDF's font put
        there): it may point nowhere, so the editor is asked to check it."""
        return any(ord(c) > 127 for c in self.url)
