from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.editions.importer.cleanup import clean_line
from webapp.editions.records import get_edition
from webapp.models import AuditEntry, Edition, EditionStatus, Item

SAMPLE = Path(__file__).resolve().parents[2] / "webapp" / "data" / "2024-07-report.txt"
EXPECTED = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "2024-07-report.expected.json").read_text()
)


def _squash(text: str) -> str:
    return "".join(text.split())


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_dry_run_prints_the_json_shape_and_stores_nothing(
    runner: FlaskCliRunner, session: Session
) -> None:
    result = runner.invoke(args=["import-report", str(SAMPLE), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["title"] == "元宇宙与数字经济月报"
    assert report["month"] == "2024-07"
    assert [s["key"] for s in report["sections"]] == ["policy", "industry", "deals"]
    assert [s["title"] for s in report["sections"]] == ["政策速递", "行业新闻", "交易资讯"]
    items = [item for section in report["sections"] for item in section["items"]]
    assert len(items) == len(EXPECTED["items"]) == 26
    assert set(items[0]) >= {
        "title", "published_on", "source", "url", "summary", "commentary", "topics"
    }
    deals = report["sections"][2]["items"]
    assert deals and all("investment" in item["topics"] for item in deals)
    assert _count(session, Edition) == 0


@pytest.mark.postgres
def test_import_stores_the_sample_field_for_field(
    runner: FlaskCliRunner, session: Session
) -> None:
    result = runner.invoke(args=["import-report", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "26 items imported" in result.output
    edition = get_edition(session, "2024-07")
    assert edition is not None
    assert edition.status == EditionStatus.DRAFT
    assert edition.title == "元宇宙与数字经济月报"
    assert edition.subject == edition.preheader == ""  # automatic, per variant
    stored = [(s.key, item) for s in edition.sections for item in s.items]
    assert len(stored) == 26
    for (section_key, item), expected in zip(stored, EXPECTED["items"], strict=True):
        assert section_key == expected["section"]
        assert _squash(item.title) == _squash(expected["title"])
        assert _squash(item.source) == _squash(expected["source"])
        assert item.published_on is not None
        assert item.published_on.isoformat() == expected["published_on"]
        assert item.url == expected["url"]
        assert (item.commentary is not None) == expected["has_commentary"]
        for fragment in expected.get("summary_contains", []):
            assert clean_line(fragment) in item.summary  # stored as the import cleaned it
        for text in (item.summary, item.commentary or ""):
            assert "元宇宙与数字经济月报" not in text
            assert "http" not in text
            assert "植德短评" not in text
        assert item.topics, f"no topic suggested for {item.title}"
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "edition.import"))
    assert audit is not None and audit.target == "2024-07"


def test_month_option_overrides_the_header(runner: FlaskCliRunner, session: Session) -> None:
    result = runner.invoke(args=["import-report", str(SAMPLE), "--month", "2024-08"])
    assert result.exit_code == 0, result.output
    assert session.scalar(select(Edition.month)) == "2024-08"


@pytest.mark.postgres
def test_reimport_is_refused_without_replace_and_changes_nothing(
    runner: FlaskCliRunner, session: Session
) -> None:
    assert runner.invoke(args=["import-report", str(SAMPLE)]).exit_code == 0
    first_id = session.scalar(select(Edition.id))
    again = runner.invoke(args=["import-report", str(SAMPLE)])
    assert again.exit_code != 0
    assert "already exists" in again.output and "--replace" in again.output
    assert session.scalar(select(Edition.id)) == first_id
    assert _count(session, Item) == 26

    replaced = runner.invoke(args=["import-report", str(SAMPLE), "--replace"])
    assert replaced.exit_code == 0, replaced.output
    session.expire_all()
    assert _count(session, Edition) == 1
    assert _count(session, Item) == 26  # the old items went with the old edition


@pytest.mark.parametrize(
    "status", [EditionStatus.SCHEDULED, EditionStatus.SENDING, EditionStatus.SENT]
)
@pytest.mark.parametrize("replace", [["--replace"], []])
def test_replace_only_works_on_draft_or_approved(
    runner: FlaskCliRunner, session: Session, factories: Factories, status: EditionStatus,
    replace: list[str],
) -> None:
    factories.edition("2024-07", status=status, items={"policy": [{"title": "Kept"}]})
    result = runner.invoke(args=["import-report", str(SAMPLE), *replace])
    assert result.exit_code != 0
    assert "only a draft or approved edition can be replaced" in result.output
    assert "use --replace" not in result.output  # it would not help
    session.expire_all()
    assert [i.title for i in session.scalars(select(Item))] == ["Kept"]


def test_replace_works_on_an_approved_edition(
    runner: FlaskCliRunner, session: Session, factories: Factories
) -> None:
    factories.edition("2024-07", status=EditionStatus.APPROVED, items={"policy": [{}]})
    result = runner.invoke(args=["import-report", str(SAMPLE), "--replace"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    edition = session.scalar(select(Edition))
    assert edition is not None and edition.status == EditionStatus.DRAFT
    assert _count(session, Item) == 26


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the report is empty"),
        (b"\xff\xfe\x00garbage\x81", "damaged"),  # a UTF-16 BOM, then odd bytes
        (
            "元宇宙与数字经济月报 | 2024年 7月\n政策速递\n\n1. 标题\n\n"
            "发布日期：2024年 7月 1日\n".encode(),
            "line ",
        ),
        ("政策速递\n\n1. 标题\n".encode(), "month"),
    ],
)
def test_bad_files_fail_with_a_line_and_write_nothing(
    runner: FlaskCliRunner, session: Session, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    result = runner.invoke(args=["import-report", str(path)])
    assert result.exit_code != 0
    assert message in result.output
    assert str(path) in result.output
    assert _count(session, Edition) == 0 and _count(session, Item) == 0


def test_a_damaged_report_fails_naming_the_line(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    lines = SAMPLE.read_text().splitlines()
    broken = [line for line in lines if not line.startswith("来源：")]
    path = tmp_path / "broken.txt"
    path.write_text("\n".join(broken))
    result = runner.invoke(args=["import-report", str(path)])
    assert result.exit_code != 0
    assert "line " in result.output
    assert _count(session, Edition) == 0


def test_a_report_without_a_header_takes_the_last_editions_name(
    runner: FlaskCliRunner, session: Session, factories: Factories, tmp_path: Path
) -> None:
    factories.edition("2024-06", title="数字经济月报")
    path = tmp_path / "typed.txt"
    path.write_text(
        "政策速递\n\n1. 一条新闻\n\n发布日期：2024年 8月 1日\n\n来源：新华社\n\n"
        "链接：https://example.com/a\n\n摘要：\n\n这是摘要。\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["import-report", str(path), "--month", "2024-08"])
    assert result.exit_code == 0, result.output
    edition = get_edition(session, "2024-08")
    assert edition is not None and edition.title == "数字经济月报"
    assert [i.summary for s in edition.sections for i in s.items] == ["这是摘要。"]
