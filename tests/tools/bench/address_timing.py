"""Does a public form that mails answer in the same time for a known and an unknown address?

Through Flask's test client, each form that may send mail (subscribe, "send me my link",
password reset) is posted with addresses the database knows (active readers; console users
for the reset) and with addresses it does not,
alternately, so that a warming cache or a growing table weighs on both alike. Each request
uses an address of its own: an unknown address posted twice would be known (a pending
reader) the second time. CSRF and rate limits are off: the figure is the work the request
does, not the checks in front of it. The gap is the medians' difference; no test asserts it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from webapp.models import Role, Subscriber, SubscriberStatus, Topic, User, utcnow

# A hash computed once: the forms never check it, and scrypt per user would cost seconds.
_HASH = "scrypt:32768:8:1$benchbenchbench0$" + "0" * 128


@dataclass(frozen=True)
class Form:
    name: str
    path: str
    fields: Callable[[str], dict[str, Any]]


def forms(topic: str) -> tuple[Form, ...]:
    return (
        Form("subscribe", "/", lambda email: {
            "email": email, "topics": [topic], "language": "zh-CN", "consent": "y"}),
        Form("preferences link", "/preferences/link", lambda email: {"email": email}),
        Form("password reset", "/password-reset", lambda email: {"email": email}),
    )


def _active_readers(session: Session, wanted: int) -> Iterator[str]:
    """Addresses of active readers, each once (subscribe and the link form share them: a
    reader asked for twice is still known, and a queued mail changes nothing they read)."""
    addresses = session.scalars(
        select(Subscriber.email)
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .order_by(Subscriber.id)
        .limit(wanted)
    )
    return iter([a for a in addresses if a])


def _console_users(session: Session, wanted: int) -> Iterator[str]:
    have = session.scalar(select(func.count()).select_from(User)) or 0
    if have < wanted:
        session.execute(insert(User), [
            {"email": f"bench-user{n}@bench.example.com", "password_hash": _HASH,
             "role": Role.EDITOR, "active": True, "created_at": utcnow()}
            for n in range(have, wanted)
        ])
        session.commit()
    return iter(list(session.scalars(select(User.email).order_by(User.id).limit(wanted))))


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def _timed(client: FlaskClient, form: Form, email: str) -> float:
    start = time.perf_counter()
    response = client.post(form.path, data=form.fields(email))
    elapsed = time.perf_counter() - start
    if response.status_code not in (200, 303):  # 303: the readers' forms redirect (PRG)
        raise RuntimeError(f"{form.name} answered {response.status_code} for {email}")
    return elapsed


def measure(app: Any, session: Session, requests: int) -> list[dict[str, Any]]:
    """Known vs unknown median per form, `requests` of each (after a few warm-up requests)."""
    client = app.test_client()
    topic = session.scalar(select(Topic.slug).where(Topic.retired.is_(False)).order_by(Topic.id))
    if topic is None:
        raise RuntimeError("the bench database has no topic to subscribe to")
    readers = _active_readers(session, 2 * requests + 20)
    users = _console_users(session, requests + 10)
    strangers = (f"stranger{n}@nobody.example.net" for n in count())
    session.commit()  # SQLite: the app's requests write while this session holds nothing
    figures = []
    for form in forms(topic):
        known_addresses = users if form.name == "password reset" else readers
        known: list[float] = []
        unknown: list[float] = []
        for turn in range(requests + 5):
            pair = [(known, next(known_addresses)), (unknown, next(strangers))]
            if turn % 2:  # alternate which goes first
                pair.reverse()
            for samples, email in pair:
                elapsed = _timed(client, form, email)
                if turn >= 5:  # the first few warm up templates and statements
                    samples.append(elapsed)
        known_ms, unknown_ms = _median_ms(known), _median_ms(unknown)
        figures.append({
            "form": form.name,
            "requests": requests,
            "known_ms": known_ms,
            "unknown_ms": unknown_ms,
            "gap_ms": round(known_ms - unknown_ms, 2),
        })
    return figures
