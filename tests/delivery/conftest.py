"""Fixtures for the delivery engine: an approved edition, readers, a scriptable transport."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from emails import Links, Variant
from emails.transports.batch import BatchEntry, EntryResult
from tests.factories import Factories
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.engine import DeliveryEngine, EngineConfig
from webapp.mailer import links, mail_settings
from webapp.models import Delivery, Edition, EditionStatus

Script = Callable[[Variant, Sequence[BatchEntry], int], list[EntryResult]]


@dataclass
class FakeBatch:
    """Records every call; `script(variant, entries, call_number)` decides the answer."""

    script: Script | None = None
    max_batch: int = 50
    calls: list[tuple[str, list[BatchEntry]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_batch(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links
    ) -> list[EntryResult]:
        with self.lock:
            self.calls.append((variant.key, list(entries)))
            number = len(self.calls)
        if self.script is not None:
            return self.script(variant, entries, number)
        return [EntryResult("SUCCESS", f"msg-{e.delivery_id}") for e in entries]

    def delivered(self, answers: dict[int, str] | None = None) -> list[int]:
        return [e.delivery_id for _, entries in self.calls for e in entries]


def make_engine(
    app: Flask, transport: FakeBatch, *, rate: float = 1000.0, chunk: int = 50, **kw: object
) -> DeliveryEngine:
    config = EngineConfig(rate=rate, chunk_size=chunk, concurrency=2, backoff_base=0.001,
                          backoff_max=0.01, **kw)  # type: ignore[arg-type]
    return DeliveryEngine(
        database(app).sessionmaker,
        transport,
        links(settings_of(app)),
        mail_settings(settings_of(app)),
        config,
        worker="test-worker",
    )


@pytest.fixture
def readers(factories: Factories) -> list[int]:
    """Twelve active readers over several topic sets and both languages."""
    sets = [["ai"], ["data"], ["ai", "data"], ["investment"], ["fintech"], ["cross-border"]]
    ids = []
    for n in range(12):
        reader = factories.subscriber(
            topics=sets[n % len(sets)], language="en" if n % 4 == 0 else "zh-CN"
        )
        ids.append(reader.id)
    return ids


@pytest.fixture
def sending_edition(factories: Factories) -> Edition:
    """July's edition mid-send with one `ai` item; each test adds the deliveries it needs."""
    return factories.edition(
        "2024-07",
        status=EditionStatus.SENDING,
        send_started_at=datetime(2024, 7, 20, 1, 0, tzinfo=UTC),
        items={"policy": [{"topics": ["ai"]}]},
    )


def refresh(session: Session) -> Session:
    session.expire_all()
    return session


def start_july(session: Session) -> Edition:
    """The approved July edition, its send started (deliveries planned)."""
    edition = sending.load_edition(session, "2024-07")
    sending.start_send(session, edition, actor="test")
    session.commit()
    return edition


def delivery_statuses(session: Session) -> Counter[str]:
    """How many deliveries are in each status, as stored now."""
    return Counter(d.status.value for d in refresh(session).scalars(select(Delivery)))
