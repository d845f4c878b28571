"""Clicks per item read the edition's sections, items and topics in three statements, however
many sections and items."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.stats.test_figures import july_send
from webapp.stats.figures import item_stats, variant_funnels

pytestmark = pytest.mark.postgres


def test_item_stats_read_sections_items_and_topics_in_three_statements(
    app: Flask, factories: Factories, session: Session
) -> None:
    send = july_send(app, factories, session)
    session.commit()
    session.expire_all()
    edition = send.edition
    variants = variant_funnels(session, edition.id)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        items = item_stats(session, edition, variants)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(items) == 4 and items[0].topics == ("ai",)
    # The clicks (item tallies), then the sections, their items, the items' topics.
    assert len(statements) == 4, statements
