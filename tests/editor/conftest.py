"""Fixtures for the editor console: the July sample imported through the console itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from webapp.editions.records import get_edition
from webapp.models import Edition

SAMPLE = Path(__file__).resolve().parents[2] / "webapp" / "data" / "2024-07-report.txt"


@pytest.fixture
def july(editor_client: FlaskClient, session: Session) -> Edition:
    """The July report, uploaded as a file through the import page."""
    with open(SAMPLE, "rb") as handle:
        response = editor_client.post(
            "/editor/editions/new", data={"report_file": (handle, "2024-07-report.txt")}
        )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    edition = get_edition(session, "2024-07")
    assert edition is not None
    return edition
