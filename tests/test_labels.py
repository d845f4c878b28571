"""The label table: every code the product stores has a display name, unknown codes show as
they are, and details read as field: value without JSON."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.factories import Factories
from webapp.labels import TABLES, detail_lines, label, problem
from webapp.models import (
    ConsentSource,
    DeliveryStatus,
    EditionLayout,
    EditionStatus,
    JobKind,
    JobStatus,
    Role,
    SubscriberStatus,
    UntranslatedPolicy,
)
from webapp.readers.consent import ConsentAction

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"


def _audit_actions_in_code() -> set[str]:
    """The actions `record_audit` is called with, as literals (or either side of an `if`)."""
    found: set[str] = set()
    for path in WEBAPP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and len(node.args) > 1):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name != "record_audit":
                continue
            action = node.args[1]
            options = [action.body, action.orelse] if isinstance(action, ast.IfExp) else [action]
            found |= {o.value for o in options
                      if isinstance(o, ast.Constant) and isinstance(o.value, str)}
    return found


@pytest.fixture
def zh(app: Flask) -> Iterator[None]:
    with app.test_request_context("/?lang=zh_CN"):
        yield


def test_every_audit_action_the_code_records_has_a_label() -> None:
    actions = _audit_actions_in_code()
    assert len(actions) > 30  # the scan found the calls
    missing = sorted(actions - set(TABLES["audit_action"]()))
    assert missing == [], f"add these to webapp.labels._audit_actions: {missing}"


@pytest.mark.parametrize(
    ("table", "codes"),
    [
        ("status", [*EditionStatus, *DeliveryStatus, *SubscriberStatus]),
        ("consent_source", list(ConsentSource)),
        ("consent_action", list(ConsentAction)),
        ("role", list(Role)),
        ("job_kind", list(JobKind)),
        ("job_status", list(JobStatus)),
        ("layout", list(EditionLayout)),
        ("untranslated", list(UntranslatedPolicy)),
    ],
)
def test_every_member_of_a_stored_enum_has_a_label(table: str, codes: list[object]) -> None:
    known = TABLES[table]()
    assert sorted(str(c) for c in codes if str(c) not in known) == []


def test_codes_read_in_the_page_language_and_unknown_ones_as_they_are(zh: None) -> None:
    assert label("user.two_factor_on", "audit_action") == "开启了两步验证"
    assert label("manual", "suppression_reason") == "管理员添加"
    assert label(ConsentSource.CSV, "consent_source") == "CSV 导入"
    assert label("something.new", "audit_action") == "something.new"


def test_details_are_field_value_pairs_in_chinese_without_json(zh: None) -> None:
    lines = detail_lines({
        "note": "客户要求",
        "from": "draft", "to": "approved",
        "was": {"reason": "bounce", "source": "ses", "since": "2024-07-01T00:00:00+00:00"},
        "fields": ["subject", "intro_en"],
        "again": True,
    })
    assert lines == [
        ("备注", "客户要求"),
        ("之前", "草稿"),
        ("之后", "已批准"),
        ("之前", "原因: 硬退信; 来源: Amazon SES 回报; 起始时间: 2024-07-01 08:00"),
        ("字段", "主题行, 英文导语"),
        ("再次", "是"),
    ]
    assert detail_lines(None) == []


def test_a_stored_failure_reads_as_a_sentence_with_amazons_words_apart(zh: None) -> None:
    assert problem("quota: Daily message quota exceeded.", "sending") == (
        "SES 每日发送配额已用完", "Daily message quota exceeded.")
    assert problem("cancelled", "sending") == ("本期已取消", "")
    assert problem("Something else: odd", "sending") == ("Something else: odd", "")
    assert problem("TooLong: the English is longer than 200 characters", "translation")[0] == (
        "英文草稿超出该字段的长度")


def test_topics_in_details_read_by_their_names(zh: None, factories: Factories) -> None:
    ai = factories.topic("ai", name_zh="人工智能", name_en="AI")
    assert detail_lines({"topics": ["ai", "retired-one"]}, [ai]) == [
        ("主题", "人工智能、retired-one")]
