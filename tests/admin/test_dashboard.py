"""The dashboard as HTML without JavaScript: every figure in a table, warnings, workers, CSV."""

from __future__ import annotations

import csv
import io
import itertools
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.admin.conftest import make_send
from tests.factories import Factories
from tests.stats.slow_count import SlowCount
from tests.stats.test_figures import july_send
from webapp.config import install, settings_of
from webapp.models import Lease, SubscriberStatus, Suppression, WorkerHeartbeat, utcnow
from webapp.stats import reader_figures


def _cells(page: str, row_label: str) -> list[str]:
    """The text of the cells of the table row headed `row_label`."""
    row = re.search(rf"<th scope=\"row\"[^>]*>{re.escape(row_label)}</th>(.*?)</tr>", page, re.S)
    assert row is not None, row_label
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                   row[1], re.S)]


def test_the_dashboard_shows_an_editions_figures_in_tables(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    july_send(app, factories, session)
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert _cells(page, "Planned") == ["7", ""]
    assert _cells(page, "Sent") == ["6", "85.7%"]
    assert _cells(page, "Opened (approx.)") == ["2", "50.0%"]
    assert _cells(page, "Clicked") == ["1", "25.0%"]
    assert _cells(page, "Hard bounces") == ["1", "16.67%"]
    assert _cells(page, "Unsubscribes") == ["1", "25.0%"]
    assert _cells(page, "1. AI rules") == ["1", "2", "4", "25.0%"]
    assert _cells(page, "AI")[:3] == ["4", "1", "1"]  # per topic: sent, opens, clicks
    assert "approximate" in page and 'data-chart="line"' in page
    # Six sent is too few for SES's thresholds to mean anything: no warning yet.
    assert 'role="alert"' not in page
    zh = admin_client.get("/admin/?lang=zh_CN").get_data(as_text=True)
    assert "独立打开（近似）" in zh and "2024-07 月报" in zh


def test_rates_over_the_ses_thresholds_are_flagged(
    admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    send = make_send(factories, session, {f"r{n}": {"topics": ["ai"]} for n in range(120)})
    for n in range(6):
        send.bounce(f"r{n}", "Permanent")
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert "Hard bounces are at 5.00%" in page
    assert "over SES threshold" in page and "tile-warn" in page
    assert "Complaints are at" not in page


def test_workers_are_live_within_30_seconds_of_their_heartbeat(
    admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    edition = factories.edition("2024-07")
    now = utcnow()
    session.add_all([
        WorkerHeartbeat(name="a:1", hostname="a", pid=1, heartbeat_at=now - timedelta(seconds=5),
                        edition_id=edition.id, rate_per_s=12.5),
        WorkerHeartbeat(name="b:2", hostname="b", pid=2, heartbeat_at=now - timedelta(seconds=45)),
    ])
    session.commit()
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    workers = page[page.index('id="workers-heading"'):]
    assert re.search(r"<td>a:1</td>\s*<td><span class=\"status status-active\">Live", workers)
    assert re.search(r"<td>b:2</td>\s*<td><span class=\"status status-failed\">Silent", workers)
    assert "2024-07" in workers and "12.5" in workers


def test_stats_exports_are_csv_with_formulas_neutralised(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    july_send(app, factories, session)

    def rows(path: str) -> list[list[str]]:
        response = admin_client.get(path)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))

    editions = rows("/admin/stats/editions.csv")
    july = dict(zip(editions[0], editions[1], strict=True))
    assert (july["month"], july["sent"], july["hard_bounced"], july["unique_clicks"]) == (
        "2024-07", "6", "1", "1")
    assert july["open_rate_approx"] == "0.5000"
    items = rows("/admin/stats/2024-07/items.csv")
    assert items[4][3] == "'=HYPERLINK(\"x\")"  # would run as a formula in a spreadsheet
    assert items[1][:9] == ["2024-07", "1", "政策速递", "AI rules", "https://example.com/1", "ai",
                            "4", "1", "2"]
    assert admin_client.get("/admin/stats/1999-01/items.csv").status_code == 404


def _health_row(page: str, name: str) -> str:
    row = re.search(rf'<tr id="health-{name}">(.*?)</tr>', page, re.S)
    assert row is not None, name
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row[1])).strip()


def test_the_scheduler_panel_shows_its_holder_and_last_tick_and_goes_red_when_stale(
    admin_client: FlaskClient, session: Session
) -> None:
    now = utcnow()
    session.add(Lease(name="scheduler", holder="a:1", expires_at=now + timedelta(seconds=25),
                      acquired_at=now - timedelta(hours=3),
                      last_tick_at=now - timedelta(seconds=20)))
    session.commit()
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    row = _health_row(page, "scheduler")
    assert row.startswith("Scheduler Running Held by a:1 since")
    assert "Last tick:" in row and "20 seconds ago" in row
    assert "tile-warn" not in page

    # Its worker still renews the lease, but no job has succeeded for five minutes.
    lease = session.get(Lease, "scheduler")
    assert lease is not None
    lease.last_tick_at = now - timedelta(minutes=5)
    session.commit()
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    row = _health_row(page, "scheduler")
    assert row.startswith("Scheduler Stale Held by a:1") and "5 minutes ago" in row
    assert re.search(r'<tr id="health-scheduler">.*?status-failed', page, re.S)
    assert 'class="tile tile-warn" id="scheduler-tile"' in page

    # The lease lapsed: nobody runs the schedule.
    lease.expires_at = now - timedelta(seconds=1)
    session.commit()
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert _health_row(page, "scheduler").startswith("Scheduler Not running No worker holds")
    zh = admin_client.get("/admin/?lang=zh_CN").get_data(as_text=True)
    assert 'id="health-scheduler"' in zh


def _figure(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert found is not None, element_id
    return found[1]


@pytest.mark.postgres
def test_readers_receiving_are_those_the_next_edition_goes_to(
    admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.subscriber(topics=["ai"])
    factories.subscriber(topics=["ai", "data"], language="en")
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)
    factories.subscriber(topics=["data"], status=SubscriberStatus.PENDING)
    factories.subscriber(topics=[])  # active, but no topic: no item would ever match
    gone = factories.subscriber(topics=["ai"], email="gone@example.com")
    session.add(Suppression(email_key=gone.email_key, reason="bounce", source="ses"))
    factories.subscriber(topics=["ai"], status=SubscriberStatus.UNSUBSCRIBED)
    session.commit()
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert _figure(page, "receiving") == "2"
    assert "Not counted: 1 paused, 1 waiting for confirmation, 2 suppressed or without a " \
           "topic." in page


@pytest.mark.postgres
def test_a_send_of_seconds_is_drawn_second_by_second(
    admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    start = datetime(2024, 7, 1, 2, 0, 0, tzinfo=UTC)  # 10:00:00 in Shanghai
    make_send(factories, session, {f"r{n}": {"topics": ["ai"]} for n in range(22)},
              sent_at=start, spread=timedelta(seconds=1))
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    timeline = page[page.index('id="timeline"'):]
    timeline = timeline[:timeline.index("</table>")]
    assert 'data-x-title="Time, in steps of 1 second"' in page
    assert "Sent and delivered over time, in steps of 1 second" in timeline
    labels = re.findall(r'<th scope="row">([^<]*)</th>', timeline)
    assert labels[0] == "10:00:00" and labels[-1] == "10:00:21" and len(labels) == 22
    assert _cells(timeline, "10:00:07") == ["1", "0"]


def test_the_variant_table_shows_the_ten_largest_and_all_on_request(
    admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    sets = [["ai"], ["data"], ["fintech"], ["investment"], ["ai", "data"], ["ai", "fintech"]]
    readers: dict[str, dict[str, object]] = {}
    # Twelve variants; the one of (n + 1) readers is the n-th largest from the end.
    for n, (topics, language) in enumerate(itertools.product(sets, ("zh-CN", "en"))):
        for copy in range(n + 1):
            readers[f"v{n}c{copy}"] = {"topics": topics, "language": language}
    make_send(factories, session, readers)

    def variant_rows(page: str) -> list[list[str]]:
        table = page[page.index('id="variants"'):]
        table = table[table.index("<tbody>"):table.index("</tbody>")]
        return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
                for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]

    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    rows = variant_rows(page)
    assert [int(r[2]) for r in rows] == list(range(12, 2, -1))  # planned, largest first
    assert "the 10 with the most readers, of 12" in page
    link = re.search(r'<a href="([^"]+)" id="variants-all">Show all 12 variants</a>', page)
    assert link is not None
    assert link[1] == "/admin/?month=2024-07&amp;variants=all#variants"

    page = admin_client.get("/admin/?month=2024-07&variants=all&lang=en").get_data(as_text=True)
    rows = variant_rows(page)
    assert [int(r[2]) for r in rows] == list(range(12, 0, -1))
    assert 'id="variants-all"' not in page and "of 12" not in page
    back = re.search(r'<a href="([^"]+)" id="variants-top">Show only the 10 largest</a>', page)
    assert back is not None and back[1] == "/admin/?month=2024-07#variants"


def _snapshot(app: Flask, first_wait: float) -> None:
    """Figures from a snapshot, as in production (the tests' settings count on each request)."""
    install(app, replace(settings_of(app), reader_figures_max_age_seconds=300,
                         reader_figures_first_wait_seconds=first_wait))


def test_a_slow_first_count_does_not_hold_the_first_page(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    factories.subscriber(topics=["ai"])
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)
    session.commit()
    _snapshot(app, first_wait=0)
    release = SlowCount(monkeypatch).release  # ten million readers
    response = admin_client.get("/admin/?lang=en")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count("Counting readers… started at") == 2  # the tile, readers over time
    assert '<meta http-equiv="refresh" content="60">' in page
    assert 'id="receiving"' not in page and "Topic popularity" not in page
    assert "Joined and left per month" in page and "Hard bounce rate" in page

    release.set()
    thread = app.extensions["yuebao.reader_figures"].refresh_thread
    thread.join(timeout=30)
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert "Counting readers" not in page and "http-equiv" not in page
    assert _figure(page, "receiving") == "1"
    assert "Topic popularity" in page and "Readers receiving the report at the end" in page


def test_a_small_list_has_its_figures_on_the_first_page(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.subscriber(topics=["ai"])
    session.commit()
    _snapshot(app, first_wait=60)  # the count ends well within (2 s in production)
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert "Counting readers" not in page
    assert _figure(page, "receiving") == "1"


def test_a_first_count_that_fails_is_tried_again_on_the_next_page(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    factories.subscriber(topics=["ai"])
    session.commit()
    _snapshot(app, first_wait=60)
    count = reader_figures.count_reader_figures

    def failing_count(own: Session, now: datetime) -> reader_figures.ReaderFigures:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(reader_figures, "count_reader_figures", failing_count)
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert "Counting readers… started at" in page
    monkeypatch.setattr(reader_figures, "count_reader_figures", count)
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert _figure(page, "receiving") == "1"
