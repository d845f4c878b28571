"""A month in the life, as a test: one monthly send to `--rehearsal-size` readers (400 by
default, 5,000 for the long run) while everything that goes wrong in real operation does.

The installation is the real one, on loopback: gunicorn serving the app and `/hooks/ses`
behind one trusted proxy, one `yuebao worker` whose scheduler starts the send and whose jobs
thread sends the system mails, the SES simulator (SendBulkEmail, SendEmail, GetAccount; SNS
events signed and posted to the hook, retried while nobody answers), and the database (SQLite
or PostgreSQL). `BASE_URL` is a real domain's 60 characters. The sample report is imported,
approved and scheduled a few seconds ahead. Around and during the send, readers act over HTTP
as a browser and a mail client do (own cookies, CSRF tokens, own address): newcomers
subscribe and confirm with the link in the mail they get; readers change topics and language,
unsubscribe (one-click POST to the `List-Unsubscribe` URL of the message they got, or the
button on the page), pause, and erase themselves. At points of the send's progress the
simulator throttles (a 429 storm), fails (a 5xx burst), slows to 2 s a call and pauses the
account until an editor resumes the edition; the worker is killed with kill -9 twice and
gunicorn once, each restarted at once; on PostgreSQL the server restarts. When nothing moves
any more, what the worker and its housekeeping do once STALE_AFTER, IN_DOUBT_WAIT_MINUTES, a
job's lease and its retry backoff have passed is done with the clock passed to them (the
worker stopped meanwhile), not waited for.

"Eligible when their batch went out" is decided from what each side observed, not guessed.
The engine reads a reader's status again when it prepares their batch, which is after the
claim (`claimed_at`, kept on the row, and set anew if the delivery was ever returned to the
queue) and before SES accepted the message (the simulator's own timestamp). For each action
the test keeps when its first attempt left and when its answer came back; the change
committed in between. So a reader whose leaving (unsubscribe, pause, erasure) was answered
before their delivery was claimed must have got nothing; one whose leaving started after SES
accepted their message must have it (`sent`); one skipped must have started leaving before the
skip was written; in between (their batch was in flight) either is right, but never two.
Every reader who never left and had a delivery planned gets exactly one message; every `sent`
delivery is exactly one accepted message carrying its own delivery tag and the reader's
`List-Unsubscribe` on the 60-character domain verbatim, every `skipped` one none; readers
who joined after the plan get no edition. Addresses are the ones planned: an erasure removes
them from the database, not from what SES was given.

Then: every SNS notification posted was stored once as an event (a repeat after a lost answer
changes nothing), every system mail was sent and none given up, every newcomer is active, the
running worker's scheduler holds the lease and ticked within the minute, every process ended
the way the test ended it (kill -9 or SIGTERM, status 0), and the stats tallies equal a
recount of the rows.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from emails.ses_events import parse_ses_event
from tests.factories import Factories
from tests.rehearsal import readers
from tests.rehearsal.readers import LEAVING, Action, Browser
from tests.rehearsal.stage import BASE_URL, Stage
from tests.tools.ses_simulator import SentMessage
from tests.tools.ses_simulator.faults import bare
from webapp.cli.content import read_report
from webapp.cli.demo import SAMPLE_REPORT
from webapp.config import settings_of
from webapp.delivery import jobs, sending
from webapp.delivery.heartbeat import STALE_AFTER
from webapp.editions.records import import_report, suggest_report_topics
from webapp.models import (
    BackgroundJob,
    DeliveryStatus,
    EditionStatus,
    JobStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from webapp.models.event import Event, SnsReceipt
from webapp.scheduler.jobs import housekeeping
from webapp.stats import tallies
from webapp.stats.workers import scheduler_status

pytestmark = [
    pytest.mark.servers,  # starts servers and processes: not under libfaketime
    pytest.mark.postgres,  # on both databases
    # A helper thread (progress, readers) that died would leave the run waiting or blind.
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

MONTH = "2024-07"
SEND_SECONDS = 20  # the send's length at full speed, whatever the size


@dataclass
class Cast:
    """Who is who: every reader's address and token as planned (erasure removes the address
    from the database, not from what SES was given)."""

    addresses: dict[int, str]
    tokens: dict[int, str]
    topics: list[str]


def _arrange(stage: Stage, size: int) -> Cast:
    with stage.sessions() as session:
        suggested = suggest_report_topics(session, read_report(SAMPLE_REPORT, None))
        edition = import_report(session, suggested, actor="editor")
        sending.approve(session, edition, actor="editor")
        session.commit()
        slugs = sorted({t.slug for s in edition.sections for i in s.items for t in i.topics})
        sets = [[slug] for slug in slugs] + [slugs[:2], slugs[2:5], slugs]
        ids = Factories(session).many_subscribers(size, sets, prefix="reader")
        rows = session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.token)
            .where(Subscriber.id.in_(ids))
        ).tuples().all()
    return Cast({i: e or "" for i, e, _ in rows}, {i: t for i, _, t in rows}, slugs)


def _schedule(stage: Stage, seconds: float) -> None:
    with stage.sessions() as session:
        edition = sending.load_edition(session, MONTH)
        sending.schedule(session, edition, utcnow() + timedelta(seconds=seconds), actor="editor")
        session.commit()


class Progress:
    """The share of the send's deliveries done (sent, skipped or failed), read once every
    0.2 s for everyone waiting on it: readers and trouble come at points of the send, not of
    the clock, whatever its size or the machine's speed."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.share = 0.0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, edition_id: int) -> None:
        def poll() -> None:
            while not self._stop.wait(0.2):
                try:
                    counts = self.stage.statuses(edition_id)
                except OperationalError:  # the database is restarting: ask again
                    continue
                done = sum(counts.get(s, 0) for s in ("sent", "skipped", "failed"))
                with self._changed:
                    self.share = done / max(1, sum(counts.values()))
                    self._changed.notify_all()

        self._thread = threading.Thread(target=poll, name="progress", daemon=True)
        self._thread.start()

    def reached(self, share: float, timeout: float = 120.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.share >= share, timeout)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Cohort:
    """The readers' actions, run by a few threads at planned points of the send; some come
    before it starts (they have no delivery then)."""

    def __init__(self, stage: Stage, cast: Cast, size: int, rng: random.Random,
                 progress: Progress) -> None:
        self.stage, self.cast, self.progress = stage, cast, progress
        self.actions: list[Action] = []
        self._plan: list[tuple[float, Action, Callable[[Action, Browser], None]]] = []
        each = max(5, size // 25)
        chosen = rng.sample(sorted(cast.addresses), each * 5)
        kinds = [*LEAVING, "topics"]
        for n, reader in enumerate(chosen):
            kind = kinds[n % len(kinds)]
            action = Action(kind, reader, cast.addresses[reader])
            self._add(rng.uniform(-0.15, 0.85), action, self._leave_or_change)
        for n in range(max(5, size // 50)):
            action = Action("subscribe", None, f"newcomer{n}@example.org")
            self._add(rng.uniform(-0.15, 0.85), action, self._subscribe)
        self.later: list[tuple[str, Browser]] = []
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reader")

    def _add(self, at: float, action: Action, run: Callable[[Action, Browser], None]) -> None:
        self.actions.append(action)
        self._plan.append((at, action, run))

    def start(self) -> None:
        for n, (at, action, run) in enumerate(sorted(self._plan, key=lambda p: p[0])):
            browser = Browser(self.stage.url, f"10.16.{n // 250}.{n % 250 + 1}")
            self._threads.submit(self._at, at, action, run, browser)

    def _at(self, at: float, action: Action, run: Callable[[Action, Browser], None],
            browser: Browser) -> None:
        if at > 0:
            self.progress.reached(at)
        try:
            run(action, browser)
        except Exception as error:  # kept for the assertions: a thread must not hide it
            action.problem = f"{type(error).__name__}: {error}"

    def wait(self) -> None:
        self._threads.shutdown(wait=True)

    def _leave_or_change(self, action: Action, browser: Browser) -> None:
        assert action.reader is not None
        token = self.cast.tokens[action.reader]
        if action.kind == "one-click":
            got = _editions_to(self.stage, action.address)
            header = got[0].header("List-Unsubscribe") if got else f"<{BASE_URL}/u/{token}>"
            assert header is not None
            readers.attempt(action, lambda: readers.one_click(browser, header))
        elif action.kind == "unsubscribe-page":
            readers.attempt(action, lambda: readers.unsubscribe_on_page(browser, token))
        elif action.kind == "pause":
            readers.attempt(action, lambda: readers.pause(browser, token))
        elif action.kind == "erase":
            readers.attempt(action, lambda: readers.erase(browser, token))
        else:
            topics = self.cast.topics[1:3]
            readers.attempt(action, lambda: readers.change_topics(browser, token, topics))

    def _subscribe(self, action: Action, browser: Browser) -> None:
        readers.attempt(action, lambda: readers.subscribe(browser, action.address,
                                                          self.cast.topics[:2]))
        if action.status == 200:
            # The worker sends the mail; a failed attempt is retried after 30 s, doubling:
            # whoever has none yet confirms once the send is over.
            self._confirm(action.address, browser, patience=10.0)

    def _confirm(self, address: str, browser: Browser, patience: float) -> None:
        deadline = time.monotonic() + patience
        while (link := _confirm_link(self.stage, address)) is None:
            if time.monotonic() > deadline:
                self.later.append((address, browser))
                return
            time.sleep(0.2)
        confirming = Action("confirm", None, address)
        self.actions.append(confirming)
        readers.attempt(confirming, lambda: readers.confirm(browser, link))

    def confirm_the_rest(self) -> None:
        waiting, self.later = self.later, []
        for address, browser in waiting:
            self._confirm(address, browser, patience=30.0)
        assert not self.later, f"no confirmation mail for {[a for a, _ in self.later]}"


def _confirm_link(stage: Stage, address: str) -> str | None:
    mails = [m for m in stage.sim.messages_to(address) if m.kind == "SendEmail"]
    return next((link for m in mails if (link := readers.confirm_link(m.text))), None)


def _editions_to(stage: Stage, address: str) -> list[SentMessage]:
    return [m for m in stage.sim.messages_to(address) if m.kind == "SendBulkEmail"]


class Conductor:
    """Trouble at points of the send's progress, one after the other."""

    def __init__(self, stage: Stage, progress: Progress, rate: float,
                 restart_database: Callable[[], None] | None) -> None:
        self.stage, self.progress, self.rate = stage, progress, rate
        self.restart_database = restart_database
        self.log: list[str] = []

    def at(self, share: float, what: str, trouble: Callable[[], None]) -> None:
        assert self.progress.reached(share), f"the send stalled before {what}"
        self.log.append(f"{time.strftime('%X')} {self.progress.share:.0%} done: {what}")
        trouble()

    def run(self) -> None:
        self.at(0.05, "a 429 storm", self._throttle)
        self.at(0.12, "a burst of 503s and 500s", self._server_errors)
        self.at(0.2, "kill -9 the worker", self._kill_worker)
        self.at(0.3, "2 s latency spike", self._latency)
        self.at(0.4, "kill -9 gunicorn", self._kill_web)
        self.at(0.5, "the account's sending paused, then resumed", self._account_pause)
        if self.restart_database is not None:
            self.at(0.6, "PostgreSQL restarts", self.restart_database)
        self.at(0.7, "kill -9 the worker again", self._kill_worker)

    def _throttle(self) -> None:
        # Calls paced for `rate` meet an account allowing a tenth of it: TooManyRequests.
        self.stage.sim.set_limits(max_send_rate=max(1.0, self.rate / 10))
        time.sleep(1.5)
        self.stage.sim.set_limits(max_send_rate=10_000)

    def _server_errors(self) -> None:
        self.stage.sim.faults.fail_next(3, status=503)
        self.stage.sim.faults.fail_next(2, status=500)

    def _kill_worker(self) -> None:
        self.stage.kill_worker()
        self.stage.start_worker()

    def _latency(self) -> None:
        self.stage.sim.config.latency = 2.0
        time.sleep(3.0)
        self.stage.sim.config.latency = 0.0

    def _kill_web(self) -> None:
        self.stage.kill_web()
        time.sleep(0.5)  # SNS and readers find nobody there for a moment
        self.stage.start_web()

    def _account_pause(self) -> None:
        self.stage.sim.faults.pause_sending(True)
        with self.stage.sessions() as session:
            # On a loaded machine the last calls may have gone out before the account paused:
            # a send that finished is not stuck, and has nothing left to pause.
            self.stage.wait_until(
                lambda: self.stage.edition(session, MONTH).status
                in (EditionStatus.PAUSED, EditionStatus.SENT),
                "the edition paused with the account", timeout=60)
            if self.stage.edition(session, MONTH).status == EditionStatus.SENT:
                self.log.append("the send finished before the account paused")
                self.stage.sim.faults.pause_sending(False)
                return
            reason = self.stage.edition(session, MONTH).pause_reason or ""
            self.log.append(f"paused: {reason}")
            self.stage.sim.faults.pause_sending(False)
            sending.resume(session, self.stage.edition(session, MONTH), actor="editor")
            session.commit()


def _events_applied(stage: Stage) -> None:
    """Every SES event the hook stored has been applied by the running worker."""
    def inbox_empty() -> bool:
        with stage.sessions() as session:
            return not session.scalar(
                select(func.count(SnsReceipt.id)).where(SnsReceipt.processed_at.is_(None)))

    stage.wait_until(inbox_empty, "the worker applies every stored SES event", timeout=120)


def _as_time_passes(stage: Stage, edition_id: int) -> None:
    """Once nothing moves: what the worker and its housekeeping do when STALE_AFTER,
    IN_DOUBT_WAIT_MINUTES, a job's lease and its retry backoff have passed. With the worker
    stopped (no live claim is touched), the clock is passed to them, not waited for."""
    assert stage.sim.flush_events(timeout=300), "SNS could not post every event"
    _events_applied(stage)
    with stage.sessions() as session:
        if (stage.edition(session, MONTH).status == EditionStatus.SENT
                and not _mail_waiting(stage)):
            return
    stage.stop_worker()
    settings = settings_of(stage.app)
    wait = timedelta(minutes=settings.in_doubt_wait_minutes)
    later = utcnow() + max(STALE_AFTER, wait, jobs.LEASE) + timedelta(minutes=1)
    housekeeping(stage.sessions, settings, later)
    with stage.sessions() as session:
        session.execute(update(BackgroundJob).where(BackgroundJob.status == JobStatus.PENDING)
                        .values(next_attempt_at=utcnow()))
        session.commit()
    stage.start_worker()


def test_a_month_in_the_life(stage: Stage, backend: str, request: pytest.FixtureRequest,
                             rehearsal_size: int) -> None:
    size, rng, began = rehearsal_size, random.Random(16), time.monotonic()
    rate = max(20.0, size / SEND_SECONDS)
    stage.env["SES_MAX_SEND_RATE"] = str(rate)
    cast = _arrange(stage, size)
    restart_database = None
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")

        def restart_database() -> None:
            server.halt()
            server.start_again()

    stage.start_web()
    stage.start_worker()
    with stage.sessions() as session:
        stage.wait_until(lambda: scheduler_status(session).holder is not None,
                         "a worker holds the scheduler lease", timeout=60)
    _schedule(stage, 3)
    progress = Progress(stage)
    cohort = Cohort(stage, cast, size, rng, progress)
    cohort.start()
    with stage.sessions() as session:
        stage.wait_until(lambda: stage.edition(session, MONTH).status != EditionStatus.SCHEDULED,
                         "the scheduler starts the send", timeout=40)
        edition_id = stage.edition(session, MONTH).id
    progress.follow(edition_id)
    conductor = Conductor(stage, progress, rate, restart_database)
    conductor.run()
    stage.wait_until(lambda: not stage.statuses(edition_id).get("queued"),
                     "nothing is left queued", timeout=180)
    cohort.wait()
    progress.close()
    _as_time_passes(stage, edition_id)
    with stage.sessions() as session:
        stage.wait_until(lambda: stage.edition(session, MONTH).status == EditionStatus.SENT,
                         f"the edition is sent: {stage.statuses(edition_id)}", timeout=180)
    cohort.confirm_the_rest()
    stage.wait_until(lambda: _mail_waiting(stage) == 0, "every system mail is sent", timeout=60)
    assert stage.sim.flush_events(timeout=300), "SNS could not post every event"
    _events_applied(stage)

    _check_trouble_happened(stage)
    _check_readers(stage, cohort, cast)
    _check_events(stage)
    _check_tallies(stage, edition_id)
    _check_scheduler(stage)
    stage.stop_worker()
    stage.stop_web()
    _check_processes(stage)
    # Shown with -s: what happened when, and the figures of the run.
    print("\n".join([*conductor.log, _figures(stage, cohort, edition_id, began)]))


def _figures(stage: Stage, cohort: Cohort, edition_id: int, began: float) -> str:
    with stage.sessions() as session:
        events = session.scalar(select(func.count(Event.id)).where(Event.source == "ses"))
    answers = Counter(getattr(r, "status", 0) for r in stage.sim.requests)
    actions = Counter(a.kind for a in cohort.actions)
    retried = sum(a.attempts - 1 for a in cohort.actions)
    return (f"{time.monotonic() - began:.0f} s; deliveries {stage.statuses(edition_id)}; "
            f"SES answers {dict(answers)}; SES events stored {events}; "
            f"reader actions {dict(actions)}, {retried} retried while the site was down")


def _check_trouble_happened(stage: Stage) -> None:
    answers = Counter(getattr(r, "status", 0) for r in stage.sim.requests)
    assert answers[429] and answers[500] and answers[503], answers


def _mail_waiting(stage: Stage) -> int:
    with stage.sessions() as session:
        return session.scalar(select(func.count(BackgroundJob.id)).where(
            BackgroundJob.status == JobStatus.PENDING)) or 0


def _check_readers(stage: Stage, cohort: Cohort, cast: Cast) -> None:
    problems = [a for a in cohort.actions if a.problem]
    assert not problems, problems
    # Every page answered (410 "erased" for an erasure whose first answer was lost).
    answered = [a for a in cohort.actions
                if a.status not in ((200, 410) if a.kind == "erase" else (200,))]
    assert not answered, answered
    # Every system mail was sent (none given up), and every newcomer confirmed with theirs.
    with stage.sessions() as session:
        given_up = session.execute(select(BackgroundJob.kind, BackgroundJob.last_error).where(
            BackgroundJob.status != JobStatus.DONE)).all()
    assert not given_up
    joined = [a.address for a in cohort.actions if a.kind == "confirm"]
    assert sorted(joined) == sorted(a.address for a in cohort.actions if a.kind == "subscribe")
    with stage.sessions() as session:
        newcomers = dict(session.execute(
            select(Subscriber.email, Subscriber.status).where(Subscriber.email.in_(joined))
        ).tuples().all())
        addresses = dict(cast.addresses)
        addresses.update(session.execute(
            select(Subscriber.id, Subscriber.email).where(Subscriber.email.in_(joined))
        ).tuples().all())
    assert set(newcomers.values()) == {SubscriberStatus.ACTIVE}, newcomers

    editions: dict[str, list[SentMessage]] = {}
    for message in stage.sim.messages:
        if message.kind == "SendBulkEmail":
            editions.setdefault(bare(message.recipient), []).append(message)
    left = {a.reader: a for a in cohort.actions if a.kind in LEAVING}
    deliveries = stage.deliveries()
    planned = {d.subscriber_id for d in deliveries}
    assert {d.status for d in deliveries} <= {DeliveryStatus.SENT, DeliveryStatus.SKIPPED}
    wrong: list[str] = []
    for delivery in deliveries:
        address = bare(addresses[delivery.subscriber_id])
        got = editions.get(address, [])
        leaving = left.get(delivery.subscriber_id)
        sent = delivery.status == DeliveryStatus.SENT
        if sent and [m.tags.get("delivery") for m in got] != [str(delivery.id)]:
            wrong.append(f"{address}: sent, but SES took {len(got)} messages")
        token = cast.tokens.get(delivery.subscriber_id)
        if got and token and got[0].header("List-Unsubscribe") != f"<{BASE_URL}/u/{token}>":
            wrong.append(f"{address}: List-Unsubscribe {got[0].header('List-Unsubscribe')}")
        if not sent and got:
            wrong.append(f"{address}: skipped, but SES took {len(got)} messages")
        if leaving is None:
            if not sent:
                wrong.append(f"{address}: never left, yet skipped")
            continue
        assert leaving.started and leaving.answered and delivery.claimed_at
        if leaving.answered < delivery.claimed_at and got:
            wrong.append(f"{address}: {leaving.kind} answered at {leaving.answered:%X.%f}, "
                         f"before the claim at {delivery.claimed_at:%X.%f}, yet sent")
        if got and leaving.started > got[0].timestamp and not sent:
            wrong.append(f"{address}: left after SES took the message, yet skipped")
        if not sent and leaving.started > delivery.updated_at:
            wrong.append(f"{address}: skipped before the reader left")
    assert not wrong, wrong
    # Whoever had no delivery planned got no edition (newcomers after the plan).
    strays = {bare(addresses[i]) for i in addresses if i not in planned} & set(editions)
    assert not strays


def _check_events(stage: Stage) -> None:
    assert not stage.sim.events_dropped
    posted: dict[str, tuple[str, str]] = {}
    for envelope in stage.sim.notifications:  # a repeat after a lost answer is the same id
        event = parse_ses_event(json.loads(envelope["Message"]))
        posted[envelope["MessageId"]] = (event.kind, event.message_id)
    with stage.sessions() as session:
        stored = Counter(session.execute(
            select(Event.kind, Event.ses_message_id).where(Event.source == "ses")
        ).tuples().all())
        receipts = session.scalar(select(func.count(SnsReceipt.id)))
    assert stored == Counter(posted.values())
    assert set(stored.values()) == {1}
    assert receipts == len(posted)


def _check_tallies(stage: Stage, edition_id: int) -> None:
    with stage.sessions() as session:
        kept = tallies.tallies(session, [edition_id], by_variant=True)
        assert kept == tallies.recount(session, [edition_id])
        assert tallies.minutes(session, edition_id) == tallies.recount_minutes(session, edition_id)
        assert tallies.items(session, edition_id) == tallies.recount_items(session, edition_id)


def _check_scheduler(stage: Stage) -> None:
    assert stage.worker is not None
    pid = stage.worker.pid

    def holding() -> bool:
        with stage.sessions() as session:
            status = scheduler_status(session)
            return (status.holder or "").endswith(f":{pid}") and status.last_tick_at is not None

    stage.wait_until(holding, "the running worker's scheduler holds the lease and ticks",
                     timeout=60)
    with stage.sessions() as session:
        status = scheduler_status(session)
        assert not status.stale
        assert status.last_tick_at is not None
        assert datetime.now(UTC) - status.last_tick_at < timedelta(minutes=1)


def _check_processes(stage: Stage) -> None:
    by_us = {"kill -9": -9, "SIGTERM": 0}
    assert [e for e in stage.exits if by_us.get(e.how) != e.status] == []
    # No thread of a worker ended on an exception, and none gave up on the database.
    log = stage.read_log("worker")
    assert "Exception in thread" not in log and "worker exiting" not in log
    stopped = sum(1 for e in stage.exits if e.name == "worker" and e.how == "SIGTERM")
    assert log.count('"message": "worker stopped"') == stopped
    assert Counter(e.name for e in stage.exits if e.how == "kill -9") == {"worker": 2,
                                                                           "gunicorn": 1}
