"""A large readers' CSV over HTTP: the preview, the confirmation and the worker's batches give the
same readers, topics and consent records on SQLite and PostgreSQL.

`YUEBAO_CSV_BENCH=100000` runs it with that many rows and prints how long each step took (the
figure for 100,000 readers on PostgreSQL); no test asserts a time.
"""

from __future__ import annotations

import io
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import run_jobs
from webapp.models import ConsentRecord, Subscriber, SubscriberStatus, subscriber_topics
from webapp.readers import csv_jobs
from webapp.readers.suppressions import suppress

BENCH_ROWS = int(os.environ.get("YUEBAO_CSV_BENCH", "0"))
TOPICS = [("ai", "人工智能", "Artificial intelligence"), ("data", "数据合规", "Data compliance"),
          ("fintech", "金融科技", "Fintech")]
LANGUAGES = ["zh", "zh-CN", "中文", "en", "en-US", "English", ""]


def the_csv(rows: int, *, seed: int = 7) -> str:
    """`rows` readers naming topics by short name, Chinese or English name, with every few a
    bad address, and a known reader or two among them."""
    pick = random.Random(seed)
    lines = ["email,name,topics,language,status"]
    for n in range(rows):
        topics = pick.sample(TOPICS, pick.randint(1, 3))
        cell = pick.choice(["; ", "、", "|"]).join(
            t[pick.randrange(3)] for t in topics
        )
        address = f"reader{n}@example.com" if n % 97 else f"reader{n}-at-example.com"
        lines.append(f"{address},读者{n},{cell},{pick.choice(LANGUAGES)},active")
    return "\n".join(lines) + "\n"


def import_over_http(client: FlaskClient, text: str, timings: dict[str, float],
                     db_cpu: Callable[[], float]) -> str:
    began, cpu, db = time.perf_counter(), time.process_time(), db_cpu()
    # Chosen as a file, as an admin does: a browser sends it as multipart form data.
    preview = client.post("/admin/subscribers/import?lang=en",
                          data={"file": (io.BytesIO(text.encode()), "readers.csv"),
                                "consent_basis": "asked"},
                          content_type="multipart/form-data")
    timings["preview_s"] = time.perf_counter() - began
    timings["preview_cpu_s"] = time.process_time() - cpu
    timings["preview_db_cpu_s"] = db_cpu() - db
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    # The confirmation names the previewed file kept on the server; it does not post it back.
    staged = re.search(r'name="staged" value="([^"]+)"', page)
    assert staged is not None and text not in page
    began, cpu, db = time.perf_counter(), time.process_time(), db_cpu()
    confirmed = client.post("/admin/subscribers/import",
                            data={"staged": staged.group(1), "consent_basis": "asked",
                                  "confirm": "1", "skip_invalid": "y"})
    timings["confirm_s"] = time.perf_counter() - began
    timings["confirm_cpu_s"] = time.process_time() - cpu
    timings["confirm_db_cpu_s"] = db_cpu() - db
    assert confirmed.status_code == 303, confirmed.get_data(as_text=True)[:2000]
    return page


def scale(app: Flask, client: FlaskClient, factories: Factories, session: Session,
          rows: int, db_cpu: Callable[[], float] = lambda: 0.0) -> dict[str, Any]:
    for slug, zh, en in TOPICS:
        topic = factories.topic(slug)  # the migrations may have made it already
        topic.name_zh, topic.name_en = zh, en
    factories.subscriber(email="reader1@example.com", name="Known", topics=["ai"])
    factories.subscriber(email="reader2@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    suppress(session, "reader3@example.com", reason="manual", source="admin")
    session.commit()
    text = the_csv(rows)
    timings: dict[str, float] = {"rows": rows}
    page = import_over_http(client, text, timings, db_cpu)
    began, cpu, db = time.perf_counter(), time.process_time(), db_cpu()
    run_jobs(app)
    timings["worker_s"] = time.perf_counter() - began
    timings["worker_cpu_s"] = time.process_time() - cpu
    timings["worker_db_cpu_s"] = db_cpu() - db
    timings["confirm_and_worker_s"] = timings["confirm_s"] + timings["worker_s"]
    timings["end_to_end_s"] = timings["preview_s"] + timings["confirm_and_worker_s"]

    bad = len(range(0, rows, 97))
    figures = [int(f) for f in re.findall(r'<span class="figure[^"]*">(\d+)</span>', page)]
    assert figures == [rows - bad - 3, 1, 0, bad + 2]  # new, changed, unchanged, errors
    # The first 50 rows are listed, not the file; every error is.
    assert page.count("@example.com</td>") == 50
    assert page.count("is not a valid email address") == bad
    session.expire_all()
    readers = session.scalar(select(func.count(Subscriber.id)))
    # The file's good rows, and the reader who had unsubscribed (refused, still there).
    assert readers == rows - bad - 1
    assert session.scalar(select(Subscriber.status).where(
        Subscriber.email_key == "reader2@example.com")) == SubscriberStatus.UNSUBSCRIBED
    assert session.scalar(select(func.count(ConsentRecord.id))) == rows - bad - 2
    links = session.scalar(select(func.count()).select_from(subscriber_topics))
    assert links is not None and links >= rows - bad - 2
    return timings


@pytest.mark.postgres
def test_a_large_file_is_imported_in_batches_with_the_same_result_on_both_databases(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(csv_jobs, "IMPORT_BATCH", 700)  # several batches, and chunks within
    scale(app, admin_client, factories, session, 2500)


def server_cpu_seconds(data: Path) -> float:
    """CPU time of a PostgreSQL server so far: the postmaster, its children that have exited,
    and the live ones (backends). A figure the other work on a shared machine does not bend,
    as the wall clock is."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
        elif ppid == postmaster:
            total += sum(int(f) for f in fields[11:13]) / tick
    return total


@pytest.mark.postgres
@pytest.mark.skipif(not BENCH_ROWS, reason="the benchmark: YUEBAO_CSV_BENCH=100000")
def test_bench_csv_import(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session,
    database_url: str, request: pytest.FixtureRequest,
) -> None:
    server = request.getfixturevalue("postgres_server") if "postgresql" in database_url else None
    cpu = time.process_time()
    db_cpu = server_cpu_seconds(server.data) if server else 0.0
    timings = scale(app, admin_client, factories, session, BENCH_ROWS,
                    (lambda: server_cpu_seconds(server.data)) if server else (lambda: 0.0))
    timings["app_cpu_s"] = time.process_time() - cpu
    if server:
        timings["db_cpu_s"] = server_cpu_seconds(server.data) - db_cpu
    backend = database_url.split(":", 1)[0]
    print(f"\nCSV import, {backend}, load average {os.getloadavg()[0]:.1f}: " + ", ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in timings.items()))
