"""The pages of long work in the admin console: progress while the worker is at it (polled by a
small script, or refreshed without one), then the result or the file; admins only."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import run_jobs
from webapp.models import BackgroundJob

CSV = "email,topics\nnew@example.com,ai\nnot-an-address,ai\n"

ASKED = {"consent_basis": "asked"}  # how the readers agreed: asked to subscribe


def test_the_import_page_shows_progress_then_the_result_by_row(
    app: Flask, admin_client: FlaskClient, factories: Factories
) -> None:
    factories.topic("ai")
    confirmed = admin_client.post("/admin/subscribers/import?lang=en",
                                  data={"text": CSV, "confirm": "1", "skip_invalid": "y", **ASKED})
    page = confirmed.headers["Location"]

    running = admin_client.get(page + "?lang=en").get_data(as_text=True)
    assert re.search(r'<progress class="bar" max="2" value="0"', running)
    status_url = re.search(r'data-job-progress="([^"]+)"', running)
    assert status_url is not None and status_url[1] == page + "/status.json"
    assert "js/job-progress.js" in running
    # Without JavaScript: the page refreshes itself, and a link does it by hand.
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in running
    assert f'<a href="{page}">Refresh</a>' in running

    run_jobs(app)
    done = admin_client.get(page + "?lang=en").get_data(as_text=True)
    assert "http-equiv" not in done and "job-progress.js" not in done
    assert re.search(r'<span class="figure">1</span> new readers', done)
    assert re.search(r'<span class="figure over">1</span> rows skipped', done)
    assert "<td>3</td><td>Email</td><td>“not-an-address” is not a valid email address." in done


def test_the_progress_script_is_served_from_the_app(client: FlaskClient) -> None:
    script = client.get("/static/js/job-progress.js")
    assert script.status_code == 200
    assert b"data-job-progress" in script.data


def test_the_export_page_offers_the_file_once_it_is_written(
    app: Flask, admin_client: FlaskClient, factories: Factories
) -> None:
    factories.subscriber(email="ann@example.com")
    readers = admin_client.get("/admin/subscribers?lang=en").get_data(as_text=True)
    assert 'action="/admin/subscribers/export"' in readers  # a form (POST), not a link
    page = admin_client.post("/admin/subscribers/export").headers["Location"]
    assert "Download the CSV" not in admin_client.get(page + "?lang=en").get_data(as_text=True)
    run_jobs(app)
    ready = admin_client.get(page + "?lang=en").get_data(as_text=True)
    assert f'href="{page}/download"' in ready and "Download the CSV" in ready


def test_editors_can_neither_start_long_work_nor_see_it(
    app: Flask, admin_client: FlaskClient, editor_client: FlaskClient, factories: Factories,
    session: Session,
) -> None:
    factories.topic("ai")
    factories.subscriber(email="ann@example.com")
    page = admin_client.post("/admin/subscribers/export").headers["Location"]
    run_jobs(app)
    for path in (page, page + "/status.json", page + "/download"):
        assert editor_client.get(path).status_code == 403, path
    assert editor_client.post("/admin/subscribers/export").status_code == 403
    refused = editor_client.post("/admin/subscribers/import",
                                 data={"text": CSV, "confirm": "1", "skip_invalid": "y", **ASKED})
    assert refused.status_code == 403
    assert session.scalar(select(func.count()).select_from(BackgroundJob)) == 1
