"""Sending from the console: confirmation, now or at a time in TIMEZONE, progress, control."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.config import install, settings_of
from webapp.models import AuditEntry, Delivery, DeliveryStatus, Edition, EditionStatus

PROGRESS_KEYS = {"month", "status", "planned", "queued", "sending", "in_doubt", "sent", "failed",
                 "skipped", "started_at", "finished_at", "rate_per_s", "elapsed_s",
                 "rate_now_per_min", "eta_s"}


@pytest.fixture
def readers(factories: Factories) -> None:
    for topics, language in [(["ai"], "zh-CN"), (["ai"], "zh-CN"), (["data"], "en"),
                             (["investment", "ai"], "zh-CN"), (["fintech"], "zh-CN")]:
        factories.subscriber(topics=topics, language=language)


def _edition(session: Session, edition_id: int) -> Edition:
    session.expire_all()
    edition = session.get(Edition, edition_id)
    assert edition is not None
    return edition


@pytest.mark.usefixtures("readers")
def test_the_confirmation_states_readers_variants_and_duration(
    editor_client: FlaskClient, approved: Edition
) -> None:
    page = editor_client.get("/editor/editions/2024-07/send?lang=en").get_data(as_text=True)
    # fintech is the industry item's topic, so all five readers get it, in four variants.
    assert '<span class="figure" data-estimate="readers">5</span>' in page
    assert '<span class="figure" data-estimate="variants">4</span>' in page
    assert "about 1 second" in page and "Outbox transport" in page
    assert "no send has finished yet to measure the real pace" in page
    assert "Send now to 5 readers" in page
    assert "Asia/Shanghai" in page


@pytest.mark.postgres
@pytest.mark.usefixtures("readers")
def test_send_now_plans_the_deliveries_and_progress_follows(
    editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    response = editor_client.post("/editor/editions/2024-07/send?lang=en", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Sending started: 5 deliveries planned." in page
    assert 'data-progress="/editor/editions/2024-07/progress"' in page
    assert _edition(session, approved.id).status == EditionStatus.SENDING
    assert session.scalar(select(func.count(Delivery.id))) == 5

    progress = editor_client.get("/editor/editions/2024-07/progress").get_json()
    assert set(progress) == PROGRESS_KEYS
    assert (progress["status"], progress["planned"], progress["queued"]) == ("sending", 5, 5)

    # What the worker would do: every delivery sent; the JSON follows without a reload.
    session.execute(Delivery.__table__.update().values(status=DeliveryStatus.SENT))
    session.commit()
    progress = editor_client.get("/editor/editions/2024-07/progress").get_json()
    assert (progress["sent"], progress["queued"]) == (5, 0)

    again = editor_client.post("/editor/editions/2024-07/send?lang=en", follow_redirects=True)
    assert "cannot be done while the edition is Sending" in again.get_data(as_text=True)
    assert session.scalar(select(func.count(Delivery.id))) == 5


@pytest.mark.usefixtures("readers")
def test_pause_resume_and_cancel(
    editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    editor_client.post("/editor/editions/2024-07/send")
    paused = editor_client.post("/editor/editions/2024-07/pause?lang=en", follow_redirects=True)
    assert "Paused." in paused.get_data(as_text=True)
    assert _edition(session, approved.id).status == EditionStatus.PAUSED
    editor_client.post("/editor/editions/2024-07/resume")
    assert _edition(session, approved.id).status == EditionStatus.SENDING
    cancelled = editor_client.post("/editor/editions/2024-07/cancel?lang=en",
                                   follow_redirects=True)
    assert "Cancelled: 5 unsent deliveries skipped." in cancelled.get_data(as_text=True)
    assert _edition(session, approved.id).status == EditionStatus.CANCELLED
    statuses = set(session.scalars(select(Delivery.status)))
    assert statuses == {DeliveryStatus.SKIPPED}
    refused = editor_client.post("/editor/editions/2024-07/resume?lang=en", follow_redirects=True)
    assert "cannot be done while the edition is Cancelled" in refused.get_data(as_text=True)


@pytest.fixture
def december_2029() -> Iterator[None]:
    """A clock before the scheduled moment below, whatever today's date is."""
    with time_machine.travel(datetime(2029, 12, 20, 8, tzinfo=UTC)):
        yield


@pytest.mark.usefixtures("december_2029", "readers")
def test_schedule_in_the_configured_time_zone(
    editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    response = editor_client.post("/editor/editions/2024-07/schedule?lang=en",
                                  data={"date": "2030-01-02", "time": "09:30"},
                                  follow_redirects=True)
    assert "Scheduled for 2030-01-02 09:30 (Asia/Shanghai)." in response.get_data(as_text=True)
    edition = _edition(session, approved.id)
    assert edition.status == EditionStatus.SCHEDULED
    assert edition.scheduled_at == datetime(2030, 1, 2, 1, 30, tzinfo=UTC)
    # A scheduled edition can still be sent at once.
    page = editor_client.get("/editor/editions/2024-07/send?lang=en").get_data(as_text=True)
    assert "Scheduled for 2030-01-02 09:30" in page and "Send now to" in page
    editor_client.post("/editor/editions/2024-07/send")
    assert _edition(session, approved.id).status == EditionStatus.SENDING


def test_a_time_in_the_past_is_refused_and_the_form_kept(
    editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    response = editor_client.post("/editor/editions/2024-07/schedule?lang=en",
                                  data={"date": "2020-05-06", "time": "07:08"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Choose a time in the future." in page
    assert 'value="2020-05-06"' in page and 'value="07:08"' in page
    assert _edition(session, approved.id).status == EditionStatus.APPROVED


def test_a_draft_cannot_be_sent(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    draft = factories.edition(items={"policy": [{"topics": ["ai"]}]})
    page = editor_client.get("/editor/editions/2024-07/send?lang=en").get_data(as_text=True)
    assert "Approve the edition first" in page and "Send now to" not in page
    refused = editor_client.post("/editor/editions/2024-07/send?lang=en", follow_redirects=True)
    assert "cannot be done while the edition is Draft" in refused.get_data(as_text=True)
    assert _edition(session, draft.id).status == EditionStatus.DRAFT
    assert editor_client.get("/editor/editions/2099-01/progress").status_code == 404


def test_sending_an_empty_draft_is_refused_for_its_state(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    # The state is why it cannot be sent, whatever else the edition lacks.
    draft = factories.edition()
    refused = editor_client.post("/editor/editions/2024-07/send?lang=en", follow_redirects=True)
    text = refused.get_data(as_text=True)
    assert "cannot be done while the edition is Draft" in text
    assert "no items yet" not in text
    assert _edition(session, draft.id).status == EditionStatus.DRAFT


def test_a_scheduled_edition_can_be_cancelled_from_the_send_page(
    editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    editor_client.post("/editor/editions/2024-07/schedule",
                       data={"date": "2030-01-02", "time": "09:30"})
    page = editor_client.get("/editor/editions/2024-07/send?lang=en").get_data(as_text=True)
    assert "Cancel the edition" in page
    editor_client.post("/editor/editions/2024-07/cancel")
    edition = _edition(session, approved.id)
    assert edition.status == EditionStatus.CANCELLED
    assert session.scalar(select(func.count(Delivery.id))) == 0


@pytest.mark.usefixtures("december_2029")
def test_a_scheduled_edition_can_be_unscheduled_and_stays_approved(
    editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    editor_client.post("/editor/editions/2024-07/schedule",
                       data={"date": "2030-01-02", "time": "09:30"})
    page = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert 'action="/editor/editions/2024-07/unschedule"' in page
    assert "Unschedule this edition?" in page  # asked before it happens
    send_page = editor_client.get("/editor/editions/2024-07/send?lang=en").get_data(as_text=True)
    assert 'action="/editor/editions/2024-07/unschedule"' in send_page

    done = editor_client.post("/editor/editions/2024-07/unschedule?lang=en",
                              follow_redirects=True).get_data(as_text=True)
    assert "Unscheduled. The edition is approved again" in done
    edition = _edition(session, approved.id)
    assert (edition.status, edition.scheduled_at) == (EditionStatus.APPROVED, None)
    assert 'action="/editor/editions/2024-07/unschedule"' not in done
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "edition.unschedule"))
    assert [entry.target for entry in audit] == ["2024-07"]

    again = editor_client.post("/editor/editions/2024-07/unschedule?lang=en",
                               follow_redirects=True).get_data(as_text=True)
    assert "Only a scheduled edition can be unscheduled; this one is Approved." in again
    assert _edition(session, approved.id).status == EditionStatus.APPROVED


def test_unscheduling_needs_the_csrf_token(
    app: Flask, editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    approved.status = EditionStatus.SCHEDULED
    session.commit()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = editor_client.post("/editor/editions/2024-07/unschedule")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert refused.status_code == 400
    assert _edition(session, approved.id).status == EditionStatus.SCHEDULED


def _counts(page: str) -> dict[str, int]:
    """The six counts of the progress card, as rendered."""
    names = ("queued", "sending", "sent", "failed", "skipped", "in_doubt")
    found = {}
    for name in names:
        marker = f'<dd data-count="{name}">'
        start = page.index(marker) + len(marker)
        found[name] = int(page[start : page.index("<", start)])
    return found


@pytest.mark.usefixtures("readers")
def test_the_card_shows_six_counts_that_add_up_and_settles_what_a_crash_left(
    editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    editor_client.post("/editor/editions/2024-07/send")
    ids = sorted(session.scalars(select(Delivery.id)))
    # A worker that is gone handed two over and held one more; one was sent.
    session.execute(Delivery.__table__.update().where(Delivery.id.in_(ids[:2]))
                    .values(status=DeliveryStatus.IN_DOUBT, claimed_by="gone:1"))
    session.execute(Delivery.__table__.update().where(Delivery.id == ids[2])
                    .values(status=DeliveryStatus.SENDING, claimed_by="gone:1"))
    session.execute(Delivery.__table__.update().where(Delivery.id == ids[3])
                    .values(status=DeliveryStatus.SENT))
    session.commit()
    page = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    counts = _counts(page)
    assert sum(counts.values()) == 5
    assert counts == {"queued": 2, "sending": 0, "sent": 1, "failed": 0, "skipped": 0,
                      "in_doubt": 2}
    for label in ("Rate now", "Elapsed", "Time left (estimate)", "Deliveries in doubt"):
        assert label in page
    box = page[page.index("data-in-doubt"):]
    assert "hidden" not in box[: box.index(">")]
    assert "a reader may get the edition twice" in page and "a reader may miss it" in page

    bad = editor_client.post("/editor/editions/2024-07/in-doubt", data={"choice": "both"})
    assert bad.status_code == 400
    done = editor_client.post("/editor/editions/2024-07/in-doubt?lang=en",
                              data={"choice": "mark-sent"}, follow_redirects=True)
    assert "2 deliveries in doubt are recorded as sent." in done.get_data(as_text=True)
    assert session.scalars(select(AuditEntry.action).where(
        AuditEntry.action == "edition.in_doubt_mark_sent")).all() == ["edition.in_doubt_mark_sent"]
    after = _counts(done.get_data(as_text=True))
    assert (after["sent"], after["in_doubt"], sum(after.values())) == (3, 0, 5)


@pytest.mark.usefixtures("readers")
def test_a_finished_send_links_to_its_results(
    editor_client: FlaskClient, admin_client: FlaskClient, approved: Edition, session: Session
) -> None:
    editor_client.post("/editor/editions/2024-07/send")
    session.execute(Delivery.__table__.update().values(status=DeliveryStatus.SENT))
    edition = _edition(session, approved.id)
    edition.status = EditionStatus.SENT
    edition.send_finished_at = edition.send_started_at
    session.commit()
    page = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert 'href="/editor/editions/2024-07?results=1#results" data-results' in page
    assert 'id="results"' in page and '<dd data-result="sent">5</dd>' in page
    admin = admin_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert 'href="/admin/?month=2024-07#edition-heading" data-results' in admin


@pytest.mark.usefixtures("readers")
def test_the_estimate_states_the_pace_of_the_last_send(
    editor_client: FlaskClient, approved: Edition, factories: Factories
) -> None:
    start = datetime(2024, 6, 20, 1, 0, tzinfo=UTC)
    june = factories.edition("2024-06", status=EditionStatus.SENT, send_started_at=start,
                             send_finished_at=start + timedelta(seconds=20),
                             items={"policy": [{"topics": ["ai"]}]})
    factories.sent_to(june, 1500, sent_at=start)  # 75 a second; they read ai, so get July too
    page = editor_client.get("/editor/editions/2024-07/send?lang=en").get_data(as_text=True)
    assert '<span class="figure" data-estimate="readers">1505</span>' in page
    assert "about 20 seconds" in page  # 1,505 readers at 75 a second
    assert "Estimated at 75.0 messages per second, the pace the 2024-06 send kept" in page


@pytest.mark.usefixtures("readers")
def test_with_smtp_the_in_doubt_card_says_no_report_will_settle_them_and_the_pace_is_smtps(
    app: Flask, editor_client: FlaskClient, approved: Edition, session: Session
) -> None:
    install(app, replace(settings_of(app), mail_transport="smtp", smtp_host="127.0.0.1",
                         smtp_max_send_rate=12.0))
    estimate = editor_client.get("/editor/editions/2024-07/send?lang=en").get_data(as_text=True)
    assert "SMTP server: paced at 12.0 messages per second (SMTP_MAX_SEND_RATE)." in estimate

    editor_client.post("/editor/editions/2024-07/send")
    first = min(session.scalars(select(Delivery.id)))
    session.execute(Delivery.__table__.update().where(Delivery.id == first)
                    .values(status=DeliveryStatus.IN_DOUBT, claimed_by="gone:1"))
    session.commit()
    page = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert "handed to the SMTP server" in page and "SMTP sends no reports" in page
    assert "settle them by themselves" not in page
    done = editor_client.post("/editor/editions/2024-07/in-doubt?lang=en",
                              data={"choice": "resend"}, follow_redirects=True)
    assert _counts(done.get_data(as_text=True))["in_doubt"] == 0
