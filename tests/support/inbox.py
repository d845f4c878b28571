"""Applying the SES events /hooks/ses stored, as a worker would, for tests of their outcomes."""

from __future__ import annotations

from flask import Flask

from webapp.db import database
from webapp.events.batch import EventProcessor
from webapp.hooks.routes import hook_settings


def drain(app: Flask) -> int:
    """Apply every stored SES event of `app`'s database; returns how many."""
    processor = EventProcessor(
        database(app).sessionmaker,
        bounce_suppress_after=hook_settings(app).bounce_suppress_after,
    )
    return processor.drain()
