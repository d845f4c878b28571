from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from webapp import db
from webapp.cli.content import read_report
from webapp.config import current_settings
from webapp.editions.records import import_report, suggest_report_topics
from webapp.models import Edition, Subscriber
from webapp.readers.csv_values import Attestation, ConsentBasis
from webapp.readers.subscribers_csv import ImportOptions, import_subscribers_csv

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SAMPLE_REPORT = DATA_DIR / "2024-07-report.txt"
DEMO_READERS = DATA_DIR / "demo-readers.csv"


@click.group("demo", cls=AppGroup, help="Sample content for a first look.")
def demo_group() -> None:
    pass


@demo_group.command("load")
def load() -> None:
    """Into an empty database: the July 2024 sample report and a dozen demo readers."""
    session = db.session()
    if not session.scalar(select(func.count(Edition.id))):
        suggested = suggest_report_topics(session, read_report(SAMPLE_REPORT, None))
        edition = import_report(session, suggested, actor="demo")
        session.commit()
        click.echo(f"sample report imported: {edition.month}, {len(suggested.items())} items")
    if not session.scalar(select(func.count(Subscriber.id))):
        result = import_subscribers_csv(
            session,
            DEMO_READERS.read_text(encoding="utf-8"),
            erasure_key=current_settings().erasure_key,
            options=ImportOptions(Attestation(ConsentBasis.OTHER, "demo readers"),
                                  all_topics=True),
            actor="demo",
        )
        session.commit()
        click.echo(f"demo readers imported: {result.created}")
