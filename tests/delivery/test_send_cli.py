from __future__ import annotations

import email
import json
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import app_config
from tests.factories import Factories
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery.locks import worker_lock
from webapp.models import Delivery, Edition, EditionStatus

SAMPLE = Path(__file__).resolve().parents[2] / "webapp" / "data" / "2024-07-report.txt"


def _outbox(tmp_path: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted((tmp_path / "var" / "outbox").glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


@pytest.fixture
def demo(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output


@pytest.mark.postgres
@pytest.mark.usefixtures("demo")
def test_approve_and_send_delivers_the_sample_to_the_demo_readers(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    refused = runner.invoke(args=["send", "2024-07", "--now"])
    assert refused.exit_code != 0 and "not approved or scheduled" in refused.output

    assert runner.invoke(args=["approve", "2024-07", "--allow-untranslated"]).exit_code == 0
    result = runner.invoke(args=["send", "2024-07", "--now", "--wait"])
    assert result.exit_code == 0, result.output
    assert "9 deliveries planned; excluded 1" in result.output
    assert "2024-07 sent: 9 sent, 0 failed" in result.output

    messages = _outbox(tmp_path)
    deliveries = list(session.scalars(select(Delivery)))
    assert len(messages) == len(deliveries) == 9
    recipients = [m["To"] for m in messages]
    assert len(set(recipients)) == 9
    for message in messages:
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        body = message.get_body(preferencelist=("html",))
        assert body is not None
        html = body.get_content()
        token = next(d.token for d in deliveries if d.subscriber.email == message["To"])
        assert f"/o/{token}.gif" in html and f"/c/{token}/" in html
        subscriber = next(d.subscriber for d in deliveries if d.token == token)
        assert f"/u/{subscriber.token}" in message["List-Unsubscribe"]

    status = runner.invoke(args=["send-status", "2024-07", "--json"])
    progress = json.loads(status.output)
    assert set(progress) == {
        "month", "status", "planned", "queued", "sending", "in_doubt", "sent", "failed",
        "skipped", "started_at", "finished_at", "rate_per_s", "elapsed_s", "rate_now_per_min",
        "eta_s",
    }
    assert (progress["status"], progress["planned"], progress["sent"]) == ("sent", 9, 9)


@pytest.mark.usefixtures("demo")
def test_send_at_records_the_schedule_in_the_configured_zone(
    runner: FlaskCliRunner, session: Session
) -> None:
    runner.invoke(args=["approve", "2024-07", "--allow-untranslated"])
    result = runner.invoke(args=["send", "2024-07", "--at", "2099-01-02 09:30"])
    assert result.exit_code == 0, result.output
    edition = session.scalar(select(Edition))
    assert edition is not None and edition.status == EditionStatus.SCHEDULED
    assert edition.scheduled_at is not None
    assert edition.scheduled_at.isoformat() == "2099-01-02T01:30:00+00:00"  # Asia/Shanghai
    bad = runner.invoke(args=["send", "2024-07", "--at", "tomorrow"])
    assert bad.exit_code != 0 and "YYYY-MM-DD HH:MM" in bad.output


@pytest.mark.usefixtures("demo")
def test_unschedule_command_returns_a_scheduled_edition_to_approved(
    runner: FlaskCliRunner, session: Session
) -> None:
    runner.invoke(args=["approve", "2024-07", "--allow-untranslated"])
    runner.invoke(args=["send", "2024-07", "--at", "2099-01-02 09:30"])
    result = runner.invoke(args=["unschedule", "2024-07"])
    assert result.exit_code == 0, result.output
    assert "2024-07 unscheduled; it is approved again" in result.output
    edition = session.scalar(select(Edition))
    assert edition is not None
    session.refresh(edition)
    assert (edition.status, edition.scheduled_at) == (EditionStatus.APPROVED, None)
    again = runner.invoke(args=["unschedule", "2024-07"])
    assert again.exit_code != 0
    assert "cannot unschedule the 2024-07 edition: it is approved, not scheduled" in again.output


@pytest.mark.usefixtures("demo")
def test_pause_resume_cancel_commands(runner: FlaskCliRunner, session: Session) -> None:
    runner.invoke(args=["approve", "2024-07", "--allow-untranslated"])
    runner.invoke(args=["send", "2024-07", "--now"])
    assert "2024-07 paused" in runner.invoke(args=["pause", "2024-07"]).output
    again = runner.invoke(args=["pause", "2024-07"])
    assert again.exit_code != 0 and "it is paused" in again.output
    assert "2024-07 resumed" in runner.invoke(args=["resume", "2024-07"]).output
    cancelled = runner.invoke(args=["cancel", "2024-07"])
    assert "cancelled; 9 unsent deliveries skipped" in cancelled.output
    unknown = runner.invoke(args=["pause", "1999-01"])
    assert unknown.exit_code != 0 and "there is no edition for 1999-01" in unknown.output


@pytest.mark.usefixtures("demo")
def test_worker_runs_queued_sends(runner: FlaskCliRunner, tmp_path: Path) -> None:
    runner.invoke(args=["approve", "2024-07", "--allow-untranslated"])
    runner.invoke(args=["send", "2024-07", "--now"])
    assert _outbox(tmp_path) == []
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert len(_outbox(tmp_path)) == 9
    status = json.loads(runner.invoke(args=["send-status", "2024-07", "--json"]).output)
    assert status["status"] == "sent"


def test_a_second_worker_on_sqlite_is_refused(app: Flask, runner: FlaskCliRunner) -> None:
    with worker_lock(settings_of(app).database_url):
        result = runner.invoke(args=["worker", "--once"])
        assert result.exit_code != 0
        assert "only one may run" in result.output


@pytest.mark.usefixtures("demo")
def test_delivery_links_view_pixel_and_click(
    runner: FlaskCliRunner, client: FlaskClient, session: Session
) -> None:
    runner.invoke(args=["approve", "2024-07", "--allow-untranslated"])
    runner.invoke(args=["send", "2024-07", "--now", "--wait"])
    delivery = session.scalars(select(Delivery).order_by(Delivery.id)).first()
    assert delivery is not None
    page = client.get(f"/v/{delivery.token}")
    assert page.status_code == 200
    # The first deliveries go to English readers: the web view is their email, with the
    # sample's Chinese items marked as such.
    assert delivery.variant_key.startswith("en:")
    view = page.get_data(as_text=True)
    assert "yuebao monthly report" in view and "元宇宙与数字经济月报" not in view
    assert 'lang="zh-CN"' in view and "(in Chinese)" in view
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert client.get("/v/not-a-token").status_code == 404

    pixel = client.get(f"/o/{delivery.token}.gif")
    assert pixel.status_code == 200 and pixel.mimetype == "image/gif"

    first_url = session.scalars(
        select(Edition).where(Edition.id == delivery.edition_id)
    ).one().sections[0].items[0].url
    click = client.get(f"/c/{delivery.token}/1")
    assert click.status_code == 302 and click.headers["Location"] == first_url
    assert client.get(f"/c/{delivery.token}/999").status_code == 404
    assert client.get("/c/nope/1").status_code == 404


@pytest.mark.usefixtures("approved")
def test_an_editors_braces_reach_readers_literally(
    runner: FlaskCliRunner, factories: Factories, tmp_path: Path
) -> None:
    factories.subscriber(topics=["ai"], name="Ann")
    runner.invoke(args=["send", "2024-07", "--now", "--wait"])
    (message,) = _outbox(tmp_path)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Say {{name}} and {{{x}}}." in body.get_content()


@pytest.mark.usefixtures("approved")
def test_readers_who_opted_out_of_tracking_get_plain_links(
    runner: FlaskCliRunner, factories: Factories, tmp_path: Path
) -> None:
    factories.subscriber(topics=["ai"], email="private@example.com", tracking=False)
    factories.subscriber(topics=["ai"], email="tracked@example.com")
    runner.invoke(args=["send", "2024-07", "--now", "--wait"])
    bodies = {}
    for message in _outbox(tmp_path):
        part = message.get_body(preferencelist=("html",))
        assert part is not None
        bodies[message["To"]] = part.get_content()
    assert "/o/" not in bodies["private@example.com"] and "/c/" not in bodies["private@example.com"]
    assert "/o/" in bodies["tracked@example.com"] and "/c/" in bodies["tracked@example.com"]


def test_a_long_base_url_keeps_one_click_unsubscribe_a_plain_header_line(
    database_url: str, tmp_path: Path
) -> None:
    """With a real domain the one-click URL no longer fits 78 columns; it must not become an
    RFC 2047 encoded word (receivers would see no link)."""
    base = "https://newsletter.meritsandtree.com/" + "n" * 163
    assert len(base) == 200
    app = create_app(app_config(database_url, tmp_path, BASE_URL=base,
                                UNSUBSCRIBE_MAILTO="unsubscribe@meritsandtree.com"))
    runner = app.test_cli_runner()
    for args in (["demo", "load"], ["approve", "2024-07", "--allow-untranslated"],
                 ["send", "2024-07", "--now", "--wait"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    assert files
    line = re.compile(
        rb"\r\nList-Unsubscribe: <" + re.escape(base.encode()) + rb"/u/[A-Za-z0-9_-]+>, "
        rb"<mailto:unsubscribe@meritsandtree\.com>\r\n"
    )
    for path in files:
        raw = path.read_bytes()
        assert line.search(raw), raw[:1500]
        assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
        assert b"\r\nFeedback-ID: edition:yuebao\r\n" in raw
        assert re.search(rb"\r\nList-Id: <[!-~]+>\r\n", raw)
    database(app).engine.dispose()
