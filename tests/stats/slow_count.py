"""The reader-wide count made slow, as at ten million readers, for the dashboard's tests."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from webapp.stats import reader_figures


class SlowCount:
    """Every count waits for `release` (a minute at most); `started` has each count's time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.started: list[datetime] = []
        count = reader_figures.count_reader_figures

        def slow_count(own: Session, now: datetime) -> reader_figures.ReaderFigures:
            self.started.append(now)
            self.release.wait(timeout=60)
            return count(own, now)

        monkeypatch.setattr(reader_figures, "count_reader_figures", slow_count)
