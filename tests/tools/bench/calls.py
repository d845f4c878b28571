"""What one SendBulkEmail call costs the sender, in each template form (issue 22, part 3).

The same 50 readers of the largest variant (every topic, Chinese) are sent through the real
client (runner.ses_client: the engine's botocore configuration) to the simulator process,
unthrottled and without latency, in the token form and in the slots form (what every call
carried before), alternately, several rounds each: body bytes per call as botocore sent them
(a `before-send` hook), and the process's CPU per message for building, serializing, signing,
sending and parsing a call — the transport's whole share, without the database or the pacing.
The engine's own figure at 1,000/s is also taken with the slots form (`engine_slots_window`),
in the same run as the engine's usual windows.
`--calls-only` measures this alone, on a small list (`calls_only`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from statistics import median
from typing import Any

from emails import EditionContent, Links, MailSettings, Recipient, compile_variant
from emails.transports.batch import BatchEntry, SesBulkBatch
from webapp.config import Settings

READERS = 50
ROUNDS = 5


@contextmanager
def slots_only() -> Iterator[None]:
    """Every SesBulkBatch made meanwhile sends the slots form (as before the token form)."""
    token_form = SesBulkBatch.token_form
    SesBulkBatch.token_form = lambda self, *args: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        SesBulkBatch.token_form = token_form  # type: ignore[method-assign]


def _sizes(client: Any) -> list[int]:
    sizes: list[int] = []

    def record(request: Any, **_: Any) -> None:
        sizes.append(len(request.body or b""))

    client.meta.events.register("before-send.sesv2.SendBulkEmail", record)
    return sizes


def call_figures(
    settings: Settings, content: EditionContent, mail: MailSettings, links: Links,
    recipients: Sequence[Recipient], calls: int = 20,
) -> dict[str, Any]:
    """Body KB per 50-reader call and transport CPU ms per message, token vs slots form."""
    from webapp.delivery.runner import ses_client

    topics = {t for s in content.sections for i in s.items for t in i.topics}
    variant = compile_variant(content, topics, "zh-CN", settings=mail)
    chinese = [r for r in recipients if r.language == "zh-CN"][:READERS]
    entries = [BatchEntry(n, r) for n, r in enumerate(chinese, start=1)]
    client = ses_client(settings)
    client.get_account()  # botocore loads its models on first use: not a per-call cost
    sizes = _sizes(client)
    batch = SesBulkBatch(client, settings.ses_configuration_set)

    def run(slots: bool) -> tuple[float, int]:
        sizes.clear()
        with slots_only() if slots else _nothing():
            batch.send_batch(variant, entries, links)  # the template made once per variant
            cpu0 = time.process_time()
            for _ in range(calls):
                batch.send_batch(variant, entries, links)
            cpu = time.process_time() - cpu0
        return cpu / (calls * len(entries)) * 1000, sizes[-1]

    cpu: dict[str, list[float]] = {"tokens": [], "slots": []}
    body: dict[str, int] = {}
    for _ in range(ROUNDS):
        for name in ("slots", "tokens"):
            ms, size = run(name == "slots")
            cpu[name].append(ms)
            body[name] = size
    return {
        "call_readers": len(entries),
        "call_body_kb": round(body["tokens"] / 1024, 1),
        "call_body_kb_slots": round(body["slots"] / 1024, 1),
        "call_cpu_ms_per_msg": round(median(cpu["tokens"]), 4),
        "call_cpu_ms_per_msg_slots": round(median(cpu["slots"]), 4),
    }


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def engine_slots_window(window: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One engine window with every call in the slots form: the before of the same run."""
    with slots_only():
        return window()


def call_lines(f: dict[str, Any], line: Callable[[str, str, str, bool | None], str]
               ) -> list[str]:
    if "call_body_kb" not in f:
        return []
    rows = [
        line(f"SendBulkEmail body, {f['call_readers']} readers (tokens)",
             f"{f['call_body_kb']:g} KB", f"slots form (before): {f['call_body_kb_slots']:g} KB",
             None),
        line("  transport CPU per message (tokens)", f"{f['call_cpu_ms_per_msg']:.3f} ms",
             f"slots form (before): {f['call_cpu_ms_per_msg_slots']:.3f} ms", None),
    ]
    slots = f.get("engine_slots")
    if slots:
        rows.append(line(
            f"  engine at {slots['rate_target']:g}/s, slots form (before)",
            f"{slots['cpu_ms_per_msg']:.3f} ms", f"tokens: {f['cpu_ms_per_msg']:.3f} ms "
            f"(sent {slots['sent']} vs {f['rates'][-1]['sent']})", None))
    return rows


def calls_only(options: Any, config: Callable[[str, str, str], dict[str, str]],
               out: dict[str, Any]) -> dict[str, Any]:
    """`--calls-only`: populate a small list, plan, and only `call_figures` (the transport's
    CPU per message against the simulator process, token and slots forms)."""
    from sqlalchemy import select

    from tests.tools.bench.population import populate, throwaway_database
    from tests.tools.bench.simproc import SimulatorProcess
    from webapp import create_app
    from webapp.cli.content import read_report
    from webapp.cli.demo import SAMPLE_REPORT
    from webapp.config import settings_of
    from webapp.db import database
    from webapp.delivery import sending
    from webapp.editions.records import import_report, suggest_report_topics
    from webapp.mailer import edition_content, links, mail_settings
    from webapp.models import Delivery, Subscriber, utcnow

    with throwaway_database(options.postgres) as db, SimulatorProcess(
        rate=1e9, latency_ms=0.0
    ) as sim:
        out["database"] = db.dialect
        app = create_app(config(db.url, str(db.root), sim.endpoint_url))
        with app.app_context(), database(app).sessionmaker() as session:
            options.log(f"populating {options.readers} readers")
            populate(session, options.readers, utcnow())
            report = suggest_report_topics(session, read_report(SAMPLE_REPORT, None))
            edition = import_report(session, report, actor="bench")
            sending.approve(session, edition, actor="bench", allow_untranslated=True)
            sending.start_send(session, edition, actor="bench")
            session.commit()
            content = edition_content(sending.load_edition(session, edition.month))
            rows = session.execute(
                select(Delivery.token, Subscriber.email, Subscriber.name, Subscriber.token,
                       Subscriber.language)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Subscriber.language == "zh-CN").order_by(Delivery.id).limit(READERS)
            ).tuples()
            recipients = [
                Recipient(email=email or "", name=name, subscriber_token=s_token,
                          delivery_token=token, language=language)
                for token, email, name, s_token, language in rows
            ]
            settings = settings_of(app)
            options.log("SendBulkEmail calls, token and slots forms alternately")
            out.update(call_figures(settings, content, mail_settings(settings), links(settings),
                                    recipients))
        database(app).engine.dispose()
    return out
