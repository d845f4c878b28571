"""The firm's branding as set in the admin console: one row, every column optional.

An empty column means "what the environment says" (ORG_NAME, COMMENTARY_LABEL_ZH, …, or the
built-in palette), so a fresh install looks as configured until an admin changes something.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, utcnow

# The one row's id: there is a single branding for the whole installation.
BRANDING_ID = 1


class Branding(Base):
    __tablename__ = "branding"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_name_zh: Mapped[str | None] = mapped_column(String(120))
    org_name_en: Mapped[str | None] = mapped_column(String(120))
    primary_colour: Mapped[str | None] = mapped_column(String(7))
    accent_colour: Mapped[str | None] = mapped_column(String(7))
    footer_text_zh: Mapped[str | None] = mapped_column(Text)
    footer_text_en: Mapped[str | None] = mapped_column(Text)
    commentary_label_zh: Mapped[str | None] = mapped_column(String(60))
    commentary_label_en: Mapped[str | None] = mapped_column(String(60))
    # The logo as re-encoded here (never the uploaded bytes), its type and size in pixels, and
    # the hash that names it in its URL so caches may keep it forever.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(20))
    logo_width: Mapped[int | None] = mapped_column(Integer)
    logo_height: Mapped[int | None] = mapped_column(Integer)
    logo_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320), default="")

    def __repr__(self) -> str:
        return f"<Branding {self.org_name_zh!r}>"
