"""One page of a long list, for the consoles' tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

PER_PAGE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    number: int  # from 1
    total: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(
    session: Session, stmt: Select[Any], number: int, per_page: int = PER_PAGE
) -> Page[Any]:
    """Rows of page `number` of an ordered statement, and how many rows there are in all.

    Offset paging: console lists are browsed a few pages deep, where OFFSET costs little.
    """
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    last = max(1, -(-total // per_page))
    number = min(max(1, number), last)
    rows = list(session.scalars(stmt.limit(per_page).offset((number - 1) * per_page)))
    return Page(rows, number, total, per_page)


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character backslash) matching values that contain `text`."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"
