"""Clicks per item read the edition's item topics in one statement, however many items."""

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


def test_item_stats_read_the_item_topics_in_one_statement(
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
    reading_topics = [s for s in statements if " topics" in s.split("FROM")[-1].split("WHERE")[0]]
    assert len(reading_topics) == 1, statements
