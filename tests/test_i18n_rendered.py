"""Every console and public page, and the errors a user can meet on them, rendered in zh-CN:
no sentence of the catalogue left in English and no raw code of the label table shown.

test_i18n.py checks that each message has a translation; this checks that what a page shows
went through one (a reason raised in English by a service, a code printed as stored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import link_in, outbox, subscribe
from webapp.audit import record_audit
from webapp.i18n import read_catalog
from webapp.labels import label_codes
from webapp.models import (
    BackgroundJob,
    ConsentSource,
    DeliveryStatus,
    Edition,
    EditionStatus,
    JobKind,
    JobStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    TestSend,
    User,
    utcnow,
)
from webapp.readers.consent import ConsentAction, record_consent
from webapp.readers.suppressions import suppress

# Attributes a person sees or hears (a screen reader reads the labels).
_SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|<[^>]*>|[“”\"'‘’(){}\[\]]")
_WORD = re.compile(r"[A-Za-z]{2,}")
# English on a Chinese page that is not the console's sentence but the reader's data, a
# product name or a format.
_NOT_UI = {
    "Amazon Translate", "Amazon SES", "Word file", "in Chinese",
}
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
# A run of four English words: a sentence a service or a template left untranslated.
_ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:'-]+[A-Za-z]{2,}){3,}")


_VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "wbr"})


class _VisibleText(HTMLParser):
    """The text nodes and shown attributes of a page, without scripts, styles and frames."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._literal: list[str] = []  # open elements marked lang="en" or translate="no"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template", "pre", "textarea"):
            self._hidden += 1
        marks = dict(attrs)
        if marks.get("lang") == "en" or marks.get("translate") == "no":
            if tag not in _VOID:
                self._literal.append(tag)
            return
        if self._literal:
            return
        for name, value in attrs:
            if name in _SHOWN_ATTRIBUTES and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template", "pre", "textarea") and self._hidden:
            self._hidden -= 1
        if self._literal and self._literal[-1] == tag:
            self._literal.pop()

    def handle_data(self, data: str) -> None:
        if not self._hidden and not self._literal and data.strip():
            self.parts.append(" ".join(data.split()))


def visible_parts(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    return parser.parts


def english_fragments() -> set[str]:
    """The English pieces of every catalogue message long enough to be unambiguous: the text
    between its placeholders and markup, at least two words."""
    found: set[str] = set()
    for message in read_catalog("zh"):
        if not message.id:
            continue
        text = message.id if isinstance(message.id, str) else message.id[0]
        for piece in _PLACEHOLDER.split(text):
            piece = " ".join(piece.split()).strip(" .,:;·…—-")
            if len(_WORD.findall(piece)) >= 2 and len(piece) >= 8 and piece not in _NOT_UI:
                found.add(piece)
    return found


def untranslated(
    html: str, fragments: set[str], codes: set[str], *, literal: bool = False
) -> list[str]:
    """What a zh-CN page shows that is a catalogue sentence in English or a raw code (only the
    former on a page that shows a file format's `literal` column names and values)."""
    parts = visible_parts(html)
    text = " ".join(parts)
    # A run of column names (`email,name,topics`) is a file's format, not a sentence.
    shown = [piece for piece in fragments if piece in text and (" " in piece or not literal)]
    problems = sorted(f"english: {piece!r}" for piece in shown)
    if literal:
        return problems
    problems += [f"sentence: {part[:100]!r}" for part in parts if _ENGLISH_RUN.search(part)]
    for part in parts:
        for token in _TOKEN.findall(part):
            if token.rstrip(".") in codes:
                problems.append(f"code: {token!r} in {part[:80]!r}")
    return problems


@pytest.fixture
def seeded(app: Flask, session: Session, factories: Factories, admin: User) -> dict[str, Any]:
    """The July sample report (a draft), a sent June edition, readers in every state, their
    consent ledger, suppressions of every kind, test sends, jobs and an audit log."""
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    # A reader's own subscribe request, before the jobs below exist: its confirmation link.
    subscribe(app.test_client(), "newcomer@example.com", name="新读者")
    confirm = link_in(outbox(app)[-1], "/confirm/")
    july = session.scalar(select(Edition).where(Edition.month == "2024-07"))
    assert july is not None
    june = factories.edition("2024-06", status=EditionStatus.SENT,
                             items={"policy": [{"topics": ["ai"]}]})
    factories.sent_to(june, 3, hard_bounced=1, complained=1)
    reader = factories.subscriber(topics=["ai"], name="王小明", language="zh-CN")
    factories.delivery(june, reader, status=DeliveryStatus.FAILED,
                       error="MessageRejected: Email address is not verified.")
    factories.edition("2024-05", status=EditionStatus.PAUSED,
                      pause_reason="quota: Daily message quota exceeded.",
                      items={"deals": [{"topics": ["ai"]}]})
    for status in SubscriberStatus:
        factories.subscriber(topics=["ai"], status=status)
    for source in ConsentSource:
        record_consent(session, reader, ConsentAction.TOPICS, source,
                       detail={"topics": ["ai", "data"], "language": "zh-CN", "note": "客户要求"})
    for action in ConsentAction:
        record_consent(session, reader, action, ConsentSource.FORM, ip="192.0.2.1")
    suppress(session, "bounced@example.com", reason="bounce", source="ses")
    suppress(session, "complained@example.com", reason="complaint", source="ses")
    suppress(session, "asked@example.com", reason="manual", source="admin", note="客户来电")
    session.add(Suppression(address_hash="0" * 64, reason="erased", source="reader"))
    session.add(TestSend(edition_id=july.id, to_address="me@example.com", topics=["ai"],
                         language="zh-CN", transport="outbox", actor=admin.email))
    session.add(TestSend(edition_id=july.id, to_address="me@example.com", topics=["ai", "data"],
                         language="en", transport="outbox", actor=admin.email, error="boom"))
    session.add(BackgroundJob(
        kind=JobKind.TRANSLATE, status=JobStatus.DONE, payload={"month": july.month, "scope": []},
        next_attempt_at=utcnow(), result={
            "drafted": [], "changed": [], "edition_texts": 0, "characters": 10,
            "failed": [{"key": "item-1", "label": "超长的条目",
                        "reason": "TextSizeLimitExceededException: Input text size exceeds"}],
            "stopped": "AccessDeniedException: User is not authorized",
        }))
    jobs = []
    for kind in JobKind:
        for job_status in JobStatus:
            job = BackgroundJob(kind=kind, status=job_status, payload=None,
                                next_attempt_at=utcnow() - timedelta(minutes=1),
                                last_error="timeout" if job_status == JobStatus.FAILED else None)
            session.add(job)
            jobs.append(job)
    for audit_action in AUDIT_SAMPLES:
        record_audit(session, audit_action, actor=admin, target="2024-07",
                     detail={"note": "客户要求", "from": "draft", "to": "approved",
                             "role": "editor", "fields": ["title", "summary"]})
    session.commit()
    suppression = session.scalar(select(Suppression).where(Suppression.reason == "manual"))
    assert suppression is not None
    item = july.sections[0].items[0]
    return {"july": july, "reader": reader, "suppression": suppression, "item": item,
            "jobs": jobs, "june": june, "confirm": confirm}


AUDIT_SAMPLES = (
    "edition.import", "edition.approve", "edition.schedule", "edition.unschedule",
    "edition.send", "edition.pause", "edition.cancel", "item.edit", "topic.create",
    "subscriber.edit", "suppression.add", "suppression.remove", "user.create", "user.invite",
    "user.two_factor_on", "user.role", "branding.update", "job.retry", "database.backup",
)


def _pages(seeded: dict[str, Any]) -> Iterator[str]:
    july: Edition = seeded["july"]
    reader: Subscriber = seeded["reader"]
    month = july.month
    yield from (
        "/editor/", f"/editor/editions/{month}", f"/editor/editions/{month}/preview",
        f"/editor/editions/{month}/send", f"/editor/editions/{month}/translate",
        f"/editor/editions/{month}/drafts", f"/editor/editions/{month}/items/new",
        f"/editor/editions/{month}/items/{seeded['item'].id}", "/editor/editions/new",
        "/editor/outbox", f"/editor/editions/{seeded['june'].month}",
        f"/editor/editions/{seeded['june'].month}/send",
        "/editor/editions/2024-05", "/editor/editions/2024-05/send",
        f"/editor/editions/{month}/preview?topics=nope",
        f"/editor/editions/{month}/preview?language=xx",
        f"/editor/editions/{month}/preview?reader=nobody@example.com",
    )
    yield from (
        "/admin/", "/admin/audit", "/admin/branding", "/admin/subscribers",
        f"/admin/subscribers/{reader.id}", "/admin/subscribers/import", "/admin/subscribers/new",
        "/admin/suppressions", f"/admin/suppressions/{seeded['suppression'].id}/remove",
        "/admin/topics", "/admin/topics/1", "/admin/users", "/account/two-factor",
    )
    yield from (f"/admin/jobs/{job.id}" for job in seeded["jobs"])
    yield from (
        "/", "/check-inbox", "/preferences/link", "/preferences/link/sent", "/archive",
        f"/p/{reader.token}", f"/u/{reader.token}", f"/p/{reader.token}/erase",
        "/confirm/not-a-link", "/invitation/not-a-link", "/password-reset",
        "/password-reset/not-a-link", "/no-such-page", "/p/not-a-token", seeded["confirm"],
        "/archive/2024-06", "/u/not-a-token", "/v/not-a-token", "/archive/1999-01",
    )


# Pages that name the CSV file's columns and values as the file must spell them.
_CSV_COLUMNS = {"/admin/subscribers/import"}


# Forms sent wrong, each as a user could: (path, form fields).
_ERRORS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/editor/editions/new", {"report_text": "hello\nworld"}),
    ("/editor/editions/new", {"report_text": "元宇宙与数字经济月报 | 2024年 7月\n政策速递\n"
                              "1. 标题\n来源：新华社"}),
    ("/editor/editions/new", {"report_text": "x", "month": "July"}),
    ("/editor/editions/2024-07/test-send", {"addresses": "not an address", "language": "zh-CN",
                                            "all_topics": "y"}),
    ("/admin/topics", {"slug": "Not A Slug!", "name_zh": "主题", "name_en": "Topic"}),
    ("/admin/topics", {"slug": "ai", "name_zh": "主题", "name_en": "Topic"}),
    ("/admin/suppressions", {"email": "not an address"}),
    ("/admin/subscribers/new", {"email": "not an address", "language": "xx"}),
    ("/admin/users", {"email": "not an address", "role": "boss", "mode": "x"}),
    ("/admin/users", {"email": "new@example.com", "role": "editor", "mode": "password",
                      "password": "short"}),
    ("/admin/topics/1", {"name_zh": "", "name_en": ""}),
    ("/admin/suppressions/1/remove", {"reason": ""}),
    ("/editor/editions/2024-07/approve", {}),
    ("/editor/editions/2024-07/schedule", {"date": "2020-01-01", "time": "09:00"}),
    ("/editor/editions/2024-07/unschedule", {}),
    ("/editor/editions/2024-07/translate", {}),
    ("/editor/editions/2024-07/send", {}),
    ("/editor/editions/2024-07/items/new", {"title": "", "url": "ftp://x", "section": "policy"}),
    ("/", {"email": "not an address"}),
    ("/preferences/link", {"email": "not an address"}),
)


# What a person who is not signed in meets: (path, form fields or {} for a GET).
_SIGNED_OUT: tuple[tuple[str, dict[str, str]], ...] = (
    ("/login", {}),
    ("/login", {"email": "nobody@example.com", "password": "wrong password"}),
    ("/login/code", {}),
    ("/password-reset", {"email": "not an address"}),
    ("/editor/", {}),
    ("/admin/audit", {}),
)


def test_every_page_and_error_reads_in_chinese(
    app: Flask, admin_client: FlaskClient, seeded: dict[str, Any]
) -> None:
    fragments = english_fragments()
    codes = label_codes()
    assert admin_client.get("/editor/?lang=zh_CN").status_code == 200
    found: dict[str, list[str]] = {}
    for path in _pages(seeded):
        response = admin_client.get(path)
        assert response.status_code in (200, 400, 404, 410), (path, response.status_code)
        page = response.get_data(as_text=True)
        if problems := untranslated(page, fragments, codes, literal=path in _CSV_COLUMNS):
            found[f"GET {path}"] = problems
    for path, data in _ERRORS:
        response = admin_client.post(path, data=data, follow_redirects=True)
        assert response.status_code in (200, 400, 404, 409, 422), (path, response.status_code)
        if problems := untranslated(response.get_data(as_text=True), fragments, codes):
            found[f"POST {path} {data}"] = problems
    stranger = app.test_client()
    assert stranger.get("/login?lang=zh_CN").status_code == 200
    for path, data in _SIGNED_OUT:
        response = (stranger.post(path, data=data, follow_redirects=True) if data
                    else stranger.get(path))
        assert response.status_code in (200, 302, 400, 401, 403), (path, response.status_code)
        if problems := untranslated(response.get_data(as_text=True), fragments, codes):
            found[f"signed out {path}"] = problems
    assert found == {}, "\n".join(f"{where}: {problems}" for where, problems in found.items())


def test_the_check_sees_english_and_codes() -> None:
    """The check itself: a sentence of the catalogue and a raw code are caught, Chinese is not."""
    fragments = english_fragments()
    codes = label_codes()
    page = "<p>Choose a time in the future.</p><td>user.two_factor_on</td><td>manual</td>"
    problems = untranslated(page, fragments, codes)
    assert any("Choose a time in the future" in p for p in problems)
    assert any("user.two_factor_on" in p for p in problems)
    assert any("'manual'" in p for p in problems)
    assert untranslated("<p>请选择将来的时间。</p><td>手动添加</td>", fragments, codes) == []
