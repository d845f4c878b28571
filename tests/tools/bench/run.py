"""The benchmark (`make bench`): every figure of issue 11 from one run, beside the naive baseline.

Order: build the population, time the public forms that mail for known and unknown addresses,
plan, per-reader fill, a sending window at each target rate, the naive pipeline for the same
window, the rest of the send in a worker process of its own (peak memory), SNS ingest through
gunicorn, and dashboard stats and the rendered dashboard page over the sent edition.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from tests.tools.bench import (
    address_timing,
    calls,
    inbox,
    pipeline,
    planscale,
    rate_workers,
    rates,
    rss,
    scale,
    statsscale,
)
from tests.tools.bench.ingest import ingest
from tests.tools.bench.population import approved_sample, populate, throwaway_database
from tests.tools.bench.simproc import SimulatorProcess
from tests.tools.bench.sqs import sqs_path
from tests.tools.bench.statsload import dashboard_latency, load_events, stats_latency


@dataclass
class BenchOptions:
    readers: int = 20_000
    window: float = 5.0  # seconds of sending at each target rate, and for the naive pipeline
    rates: tuple[float, ...] = (100.0, 500.0, 1000.0)
    workers: tuple[int, ...] = (1,)  # worker processes sending each rate together
    latency: float = 0.030
    fill_sample: int = 2000
    compile_sample: int = 100
    sns_events: int = 2000
    sqs_events: int = 600  # through moto's SQS server: correctness, moto is the slow part
    form_requests: int = 100  # requests per form for each of known and unknown addresses
    postgres: bool = False
    stats_only: bool = False  # plan, mark sent and load events in SQL, time stats (statsscale.py)
    forms_only: bool = False  # populate, time the public forms, stop
    events_only: bool = False  # plan, mark every delivery sent in SQL, SNS ingest, apply events
    apply_deliveries: int = 5000  # deliveries whose Send and Delivery events are applied
    rates_only: bool = False  # populate, plan, the sending windows, stop
    rss_only: bool = False  # populate, plan, the whole send in a worker process (rss.py)
    calls_only: bool = False  # populate, plan, one SendBulkEmail call's CPU (calls.py), stop
    plan_only: bool = False  # populate, plan, measure the database's size, stop (planscale.py)
    explain: bool = False  # with plan_only: EXPLAIN ANALYZE the plan first (rolled back)
    sized_server: bool = True  # with plan_only: PostgreSQL with planscale.SERVER_SETTINGS
    log: Callable[[str], None] = field(default=lambda _: None)

    @classmethod
    def quick(cls, **kw: Any) -> BenchOptions:
        return cls(**kw)

    @classmethod
    def full(cls, **kw: Any) -> BenchOptions:
        defaults: dict[str, Any] = {"readers": 1_000_000, "window": 30.0, "fill_sample": 20_000,
                                    "compile_sample": 300, "sns_events": 20_000,
                                    "sqs_events": 2000, "form_requests": 300,
                                    "apply_deliveries": 50_000, "rates": rate_workers.FULL_RATES,
                                    "workers": rate_workers.FULL_WORKERS}
        return cls(**{**defaults, **kw})


def _config(url: str, root: str, endpoint: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url, "SECRET_KEY": "bench-secret", "ERASURE_KEY": "bench-erasure",
        "YUEBAO_VAR_DIR": f"{root}/var", "BASE_URL": "https://news.example.com",
        "MAIL_TRANSPORT": "ses", "SES_ENDPOINT_URL": endpoint, "SES_REGION": "us-east-1",
        "SES_CONFIGURATION_SET": "yuebao", "LOG_LEVEL": "WARNING",
    }


def machine() -> dict[str, Any]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "memory_gb": round(memory, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def run_bench(options: BenchOptions) -> dict[str, Any]:
    from webapp import create_app
    from webapp.config import settings_of
    from webapp.db import database
    from webapp.delivery import sending
    from webapp.mailer import edition_content, links, mail_settings
    from webapp.models import utcnow

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")  # the simulator ignores them; botocore wants some
    out: dict[str, Any] = {"readers": options.readers, "window_s": options.window,
                           "latency_ms": options.latency * 1000, "machine": machine()}
    say = options.log
    if options.forms_only:
        return _forms_only(options, out)
    if options.rates_only:
        return rate_workers.rates_only(options, _config, out)
    if options.rss_only:
        return rss.rss_only(options, _config, out)
    if options.calls_only:
        return calls.calls_only(options, _config, out)
    if options.plan_only:
        return planscale.plan_only(
            options, out, lambda url, root: _config(url, root, "http://127.0.0.1:9"), say)
    if options.stats_only:
        return statsscale.stats_only(
            options, out, lambda url, root: _config(url, root, "http://127.0.0.1:9"), say)
    with throwaway_database(options.postgres) as db, SimulatorProcess(
        rate=options.rates[0], latency_ms=options.latency * 1000
    ) as sim:
        out["database"] = db.dialect
        env = _config(db.url, str(db.root), sim.endpoint_url)
        app = create_app(env)
        sessions = database(app).sessionmaker
        with app.app_context(), sessions() as session:
            say(f"populating {options.readers} readers")
            start = time.monotonic()
            edition = approved_sample(session, options.readers, utcnow())
            session.commit()
            out["populate_s"] = round(time.monotonic() - start, 1)

            if not options.events_only:
                say(f"public forms, {options.form_requests} known and unknown addresses each")
                out["address_timing"] = _address_timing(env, session, options.form_requests)

            say("planning")
            start = time.monotonic()
            plan = sending.start_send(session, edition, actor="bench")
            session.commit()
            out["plan_s"] = round(time.monotonic() - start, 2)
            out["planned"], out["excluded"] = plan.planned, plan.excluded
            edition_id = edition.id
            if options.events_only:
                inbox.mark_sent(session, edition_id)
                say(f"SNS ingest of {options.sns_events} events through gunicorn")
                out.update(ingest(env, session, db.root, options.sns_events))
                say(f"applying the Send and Delivery of {options.apply_deliveries} deliveries")
                out.update(inbox.applied_per_s(sessions, session, options.apply_deliveries))
                return out
            content = edition_content(sending.load_edition(session, edition.month))

            say("per-reader fill")
            readers = _sample_readers(session, options.fill_sample)
            out.update(pipeline.fill_figures(
                content, mail_settings(settings_of(app)), links(settings_of(app)), readers,
                compile_sample=options.compile_sample))
            out["fill_speedup"] = round(out["compile_per_reader_us"] / out["fill_us"], 1)

            session.rollback()  # nothing held open while the workers write
            windows = rate_workers.windows(env, sessions, sim, edition_id, options.rates,
                                           options.workers, options.window, options.latency, say)
            out["rates"] = windows
            out.update(rate_workers.headline(windows))
            say(f"sending at {options.rates[-1]:g}/s again, every call in the slots form (before)")
            out["engine_slots"] = calls.engine_slots_window(lambda: rates.send_window(
                settings_of(app), sessions, sim, edition_id, options.rates[-1], options.window,
                options.latency))

            say(f"naive pipeline for {options.window:g} s")
            sim.configure(max_send_rate=max(options.rates), latency=options.latency)
            sim.reset()
            naive = pipeline.naive_send(
                _boto_client(sim.endpoint_url), content, mail_settings(settings_of(app)),
                links(settings_of(app)), readers, options.window)
            out.update(naive)
            out["cpu_ratio"] = round(out["naive_cpu_ms_per_msg"] / out["cpu_ms_per_msg"], 1)

            say("the rest of the send in a worker process (unthrottled simulator)")
            sim.configure(max_send_rate=1e9, latency=0.0)
            out.update(calls.call_figures(settings_of(app), content, mail_settings(
                settings_of(app)), links(settings_of(app)), [r.recipient for r in readers]))
            sim.reset()
            session.rollback()
            worker = scale.run_in_child(env, edition_id, out["planned"])
            out["scale"] = worker
            out["peak_rss_mb"] = worker["peak_rss_mb"]
            say(f"figures so far: {out}")

            say(f"SNS ingest of {options.sns_events} events through gunicorn")
            out.update(ingest(env, session, db.root, options.sns_events))
            say(f"applying the Send and Delivery of {options.apply_deliveries} deliveries")
            out.update(inbox.applied_per_s(sessions, session, options.apply_deliveries))
            say(f"SQS: {options.sqs_events} events through moto's server and a worker, kill -9")
            out.update(sqs_path(env, session, db.root, options.sqs_events))

            say("dashboard stats")
            out["events_loaded"] = load_events(session, edition_id)
            out.update(stats_latency(session, edition_id))
            say("dashboard page")
            out.update(dashboard_latency(app, session, edition.month))
    return out


def _address_timing(env: dict[str, str], session: Any, requests: int) -> list[dict[str, Any]]:
    """The forms through an app of their own: no CSRF tokens and no rate limits to get past
    (the figure is the work behind the form), mail queued as always."""
    from webapp import create_app
    from webapp.db import database

    app = create_app({**env, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    request_log = logging.getLogger("webapp.request")
    level = request_log.level
    request_log.setLevel(logging.WARNING)  # a line per request: the same for both, and noise
    try:
        return address_timing.measure(app, session, requests)
    finally:
        request_log.setLevel(level)
        database(app).engine.dispose()


def _forms_only(options: BenchOptions, out: dict[str, Any]) -> dict[str, Any]:
    from webapp import create_app
    from webapp.db import database
    from webapp.models import utcnow

    with throwaway_database(options.postgres) as db:
        out["database"] = db.dialect
        env = _config(db.url, str(db.root), "http://127.0.0.1:9")  # never called: forms queue
        app = create_app(env)
        with app.app_context(), database(app).sessionmaker() as session:
            options.log(f"populating {options.readers} readers")
            populate(session, options.readers, utcnow())
            session.commit()
            options.log(f"public forms, {options.form_requests} known and unknown addresses each")
            out["address_timing"] = _address_timing(env, session, options.form_requests)
        database(app).engine.dispose()
    return out


def _boto_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("sesv2", region_name="us-east-1", endpoint_url=endpoint)


def _sample_readers(session: Any, count: int) -> list[pipeline.Reader]:
    from emails import Recipient
    from webapp.models import Delivery, Subscriber

    rows = session.execute(
        select(Delivery.id, Delivery.variant_key, Delivery.token, Subscriber.email,
               Subscriber.name, Subscriber.token, Subscriber.language)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .order_by(Delivery.id.desc())  # the end of the queue: the windows send the start
        .limit(count)
    ).tuples()
    return [
        pipeline.Reader(id_, key, Recipient(email=email, name=name, subscriber_token=s_token,
                                            delivery_token=token, language=language))
        for id_, key, token, email, name, s_token, language in rows
    ]
