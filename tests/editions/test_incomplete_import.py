"""A report cut short is refused with what it lacks, unless an editor gives the reason to
import it anyway (kept in the audit log); whatever the text, an import is whole or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tests.support.reports import HALF_REPORT, MISSING_FROM_HALF, SAMPLE_TEXT, with_contents
from webapp.editions.importer.errors import ReportFormatError, ReportIncomplete
from webapp.editions.records import EditionError, get_edition
from webapp.editions.upload import import_report_text
from webapp.models import AuditEntry, Edition, Item
from webapp.plain_text import UnsafeText


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- the service ---------------------------------------------------------------------------


def test_half_a_report_is_refused_with_what_it_lacks(session: Session) -> None:
    with pytest.raises(ReportIncomplete) as refused:
        import_report_text(session, HALF_REPORT, actor="tester")
    assert [str(part) for part in refused.value.missing] == MISSING_FROM_HALF
    assert "交易资讯 (the whole section)" in str(refused.value)
    session.rollback()
    assert _count(session, Edition) == _count(session, Item) == 0


@pytest.mark.postgres
def test_a_reason_imports_it_anyway_and_the_audit_log_keeps_it(session: Session) -> None:
    edition = import_report_text(
        session, HALF_REPORT, allow_incomplete="  deals follow next week  ", actor="tester"
    )
    session.commit()
    assert sum(len(s.items) for s in edition.sections) == 13
    (entry,) = _audit(session, "edition.import_incomplete")
    assert (entry.actor, entry.target) == ("tester", "2024-07")
    assert entry.detail == {"reason": "deals follow next week", "missing": MISSING_FROM_HALF}
    assert len(_audit(session, "edition.import")) == 1


def test_a_whole_report_needs_no_reason_and_leaves_no_such_entry(session: Session) -> None:
    import_report_text(session, with_contents(), allow_incomplete="just in case", actor="tester")
    session.commit()
    assert _count(session, Item) == 26
    assert _audit(session, "edition.import_incomplete") == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_blank_reason_is_no_reason(session: Session, reason: str) -> None:
    with pytest.raises(ReportIncomplete):
        import_report_text(session, HALF_REPORT, allow_incomplete=reason, actor="tester")


def test_a_reason_with_control_characters_is_refused(session: Session) -> None:
    with pytest.raises(UnsafeText):
        import_report_text(session, HALF_REPORT, allow_incomplete="ok\x00", actor="tester")


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def half_file(tmp_path: Path) -> Path:
    path = tmp_path / "half.txt"
    path.write_text(HALF_REPORT, encoding="utf-8")
    return path


@pytest.mark.parametrize("dry_run", [(), ("--dry-run",)])
def test_the_command_refuses_half_a_report_and_lists_what_it_lacks(
    runner: FlaskCliRunner, session: Session, half_file: Path, dry_run: tuple[str, ...]
) -> None:
    result = runner.invoke(args=["import-report", str(half_file), *dry_run])
    assert result.exit_code != 0
    for part in MISSING_FROM_HALF:
        assert f"{half_file}: missing: {part}" in result.output
    assert "nothing imported (use --allow-incomplete REASON" in result.output
    assert _count(session, Edition) == 0


def test_the_command_imports_it_anyway_with_a_reason(
    runner: FlaskCliRunner, session: Session, half_file: Path
) -> None:
    args = ["import-report", str(half_file), "--allow-incomplete", "deals follow"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "13 items imported" in result.output
    assert "missing, allowed by --allow-incomplete: 交易资讯 (the whole section)" in result.output
    (entry,) = _audit(session, "edition.import_incomplete")
    assert (entry.actor, entry.detail["reason"]) == ("cli", "deals follow")


# --- the editor console --------------------------------------------------------------------


def test_the_console_shows_what_is_missing_and_takes_a_reason(
    editor_client: FlaskClient, session: Session
) -> None:
    response = editor_client.post("/editor/editions/new?lang=en", data={"report_text": HALF_REPORT})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The report looks incomplete" in page
    assert "lists 14 sections or items that are not in its text" in page
    assert "交易资讯 — the whole section" in page
    assert "行业新闻: 3. 2024“共建中国智慧农业产业新生态”智慧农业论坛成功举办" in page
    assert 'name="incomplete_reason"' in page
    assert "deals follow" not in page and _count(session, Edition) == 0

    response = editor_client.post(
        "/editor/editions/new?lang=en",
        data={"report_text": HALF_REPORT, "incomplete_reason": "deals follow next week"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    edition = get_edition(session, "2024-07")
    assert edition is not None and sum(len(s.items) for s in edition.sections) == 13
    (entry,) = _audit(session, "edition.import_incomplete")
    assert entry.detail is not None and entry.detail["reason"] == "deals follow next week"
    assert entry.actor_id is not None


def test_the_console_refuses_a_reason_that_is_not_plain_text(
    editor_client: FlaskClient, session: Session
) -> None:
    response = editor_client.post(
        "/editor/editions/new?lang=en",
        data={"report_text": HALF_REPORT, "incomplete_reason": "deals\r\nfollow"},
    )
    assert response.status_code == 400
    assert "Line breaks are not allowed here (character 6)." in response.get_data(as_text=True)
    assert _count(session, Edition) == 0


# --- arbitrary input, stored on both databases --------------------------------------------

SAMPLE_LINES = with_contents(SAMPLE_TEXT).split("\n")
EDITS = st.lists(
    st.tuples(
        st.integers(0, len(SAMPLE_LINES) - 1),
        st.integers(0, 30),
        st.text(max_size=4) | st.sampled_from(["\x00", "\ud800", "\x85", "\u2028", "\r"]),
    ),
    max_size=5,
)


@pytest.mark.postgres
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    edits=EDITS,
    cut=st.integers(0, len(SAMPLE_LINES)),
    reason=st.sampled_from([None, "", "anyway"]) | st.text(max_size=6),
)
def test_any_text_imports_whole_or_not_at_all(
    session: Session, edits: list[tuple[int, int, str]], cut: int, reason: str | None
) -> None:
    lines = list(SAMPLE_LINES)
    for no, at, junk in edits:
        lines[no] = lines[no][:at] + junk + lines[no][at:]
    text = "\n".join(lines[: max(cut, 1)])
    try:
        edition = import_report_text(
            session, text, month="2024-07", allow_incomplete=reason, actor="fuzz"
        )
    except (ReportFormatError, ReportIncomplete, UnsafeText, EditionError):
        session.rollback()
        assert _count(session, Edition) == _count(session, Item) == 0
        return
    session.commit()  # the database takes whatever the importer let through
    stored = _count(session, Item)
    assert stored == sum(len(s.items) for s in edition.sections) > 0
    session.execute(delete(AuditEntry))
    session.delete(edition)
    session.commit()
    assert _count(session, Item) == 0
