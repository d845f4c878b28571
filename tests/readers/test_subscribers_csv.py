from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import (
    ConsentRecord,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from webapp.readers.suppressions import address_hash
from webapp.readers.topics import active_topics

HEADER = "email,name,topics,language,status\n"
IMPORT = ["subscribers", "import", "--consent", "asked"]


def _write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "readers.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def _subscribers(session: Session) -> dict[str, Subscriber]:
    session.expire_all()
    return {s.email_key or "": s for s in session.scalars(select(Subscriber))}


@pytest.mark.postgres
def test_import_creates_readers_with_topics_and_consent(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "Wang.Lei@Example.com,王磊,ai;data,zh-CN,active\n"
        "emily@example.com,Emily,cross-border,en,pending\n"
        "bare@example.com,,,,\n",
    )
    result = runner.invoke(args=["subscribers", "import", "--consent", "clients", "--all-topics",
                                 str(path)])
    assert result.exit_code == 0, result.output
    assert "3 created, 0 updated, 0 skipped" in result.output
    readers = _subscribers(session)
    wang = readers["wang.lei@example.com"]
    assert wang.email == "Wang.Lei@example.com"  # domain normalised, local part kept
    assert wang.name == "王磊" and wang.status == SubscriberStatus.ACTIVE
    assert [t.slug for t in wang.topics] == ["ai", "data"]
    assert readers["emily@example.com"].language == "en"
    bare = readers["bare@example.com"]
    assert bare.status == SubscriberStatus.PENDING and bare.language == "zh-CN"
    assert [t.slug for t in bare.topics] == [t.slug for t in active_topics(session)]  # chosen
    consents = list(session.scalars(select(ConsentRecord)))
    assert len(consents) == 3
    assert {c.source for c in consents} == {ConsentSource.CSV}
    assert {c.detail["attestation"]["basis"] for c in consents if c.detail} == {"clients"}
    assert all(len(s.token) >= 40 for s in readers.values())
    assert len({s.token for s in readers.values()}) == 3


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "good@example.com,Good,ai,zh-CN,active\n"
        "not-an-address,Bad,ai,zh-CN,active\n"
        "x@example.com,X,astrology,zh-CN,active\n"
        "y@example.com,Y,ai,fr,active\n"
        "z@example.com,Z,ai,en,bounced\n"
        "GOOD@example.com,Again,ai,zh-CN,active\n",
    )
    result = runner.invoke(args=[*IMPORT, str(path)])
    assert result.exit_code != 0
    output = result.output
    assert f"{path}:3:" in output and "not a valid email address" in output
    assert f"{path}:4:" in output and "unknown topic 'astrology'" in output
    assert f"{path}:5:" in output and "language must be one of" in output
    assert f"{path}:6:" in output and "status must be one of" in output
    assert f"{path}:7:" in output and "already on line 2" in output
    assert "nothing imported" in output
    assert _subscribers(session) == {}


def test_skip_invalid_imports_the_valid_rows(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = _write(
        tmp_path, "good@example.com,Good,ai,zh-CN,active\nnot-an-address,Bad,ai,zh-CN,active\n"
    )
    result = runner.invoke(args=[*IMPORT, str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 1 skipped" in result.output
    assert "3: skipped" in result.output
    assert list(_subscribers(session)) == ["good@example.com"]


def test_suppressed_addresses_are_refused(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    session.add(Suppression(email_key="bounced@example.com", reason="bounce", source="ses"))
    session.add(
        Suppression(
            address_hash=address_hash("test-erasure-key", "Erased@example.com"),
            reason="erased",
            source="reader",
        )
    )
    session.commit()
    path = _write(
        tmp_path,
        "bounced@example.com,,ai,zh-CN,active\nerased@example.com,,ai,zh-CN,active\n",
    )
    result = runner.invoke(args=[*IMPORT, str(path)])
    assert result.exit_code != 0
    assert result.output.count("is suppressed") == 2
    assert _subscribers(session) == {}


def test_a_list_cannot_opt_a_reader_back_in(
    runner: FlaskCliRunner, session: Session, factories: Factories, tmp_path: Path
) -> None:
    factories.subscriber(email="gone@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    path = _write(tmp_path, "gone@example.com,,ai,zh-CN,active\n")
    result = runner.invoke(args=[*IMPORT, str(path)])
    assert result.exit_code != 0
    assert "only the reader can subscribe again" in result.output
    assert _subscribers(session)["gone@example.com"].status == SubscriberStatus.UNSUBSCRIBED


def test_existing_readers_are_updated(
    runner: FlaskCliRunner, session: Session, factories: Factories, tmp_path: Path
) -> None:
    factories.subscriber(email="known@example.com", name="Old", topics=["ai"])
    path = _write(tmp_path, "known@example.com,New,data;fintech,en,paused\n")
    result = runner.invoke(args=[*IMPORT, str(path)])
    assert "0 created, 1 updated" in result.output, result.output
    known = _subscribers(session)["known@example.com"]
    assert known.name == "New" and known.language == "en"
    assert known.status == SubscriberStatus.PAUSED
    assert [t.slug for t in known.topics] == ["data", "fintech"]


@pytest.mark.parametrize(
    ("header", "message"),
    [("name,topics\n", "the header must name the columns"), ("email,phone\n", "unknown column")],
)
def test_bad_headers_are_refused(
    runner: FlaskCliRunner, session: Session, tmp_path: Path, header: str, message: str
) -> None:
    path = _write(tmp_path, "a@example.com,x\n", header=header)
    result = runner.invoke(args=[*IMPORT, str(path)])
    assert result.exit_code != 0 and message in result.output
    assert f"{path}:1:" in result.output
    assert _subscribers(session) == {}


def test_non_utf8_files_are_refused(runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(HEADER.encode() + "王磊@example.com,王磊,,,\n".encode("gbk"))
    result = runner.invoke(args=[*IMPORT, str(path)])
    assert result.exit_code != 0 and "not UTF-8" in result.output


def test_export_writes_every_status_and_defuses_formulas(
    runner: FlaskCliRunner, factories: Factories, tmp_path: Path
) -> None:
    factories.subscriber(email="a@example.com", name="=HYPERLINK(\"x\")", topics=["ai", "data"])
    factories.subscriber(email="b@example.com", name="+cmd", status=SubscriberStatus.BOUNCED)
    factories.subscriber(email="c@example.com", name="王磊", status=SubscriberStatus.UNSUBSCRIBED)
    result = runner.invoke(args=["subscribers", "export"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["email", "name", "topics", "language", "status"]
    assert rows[1] == ["a@example.com", "'=HYPERLINK(\"x\")", "ai;data", "zh-CN", "active"]
    assert rows[2][1] == "'+cmd" and rows[2][4] == "bounced"
    assert rows[3][1] == "王磊" and rows[3][4] == "unsubscribed"

    out = tmp_path / "export.csv"
    written = runner.invoke(args=["subscribers", "export", "--out", str(out)])
    assert written.exit_code == 0
    assert out.read_bytes().startswith("\ufeff".encode())
    assert "王磊" in out.read_text(encoding="utf-8-sig")


def test_export_then_import_round_trips(
    runner: FlaskCliRunner, session: Session, factories: Factories, tmp_path: Path
) -> None:
    factories.subscriber(email="r@example.com", name="Reader", topics=["cross-border"])
    out = tmp_path / "export.csv"
    runner.invoke(args=["subscribers", "export", "--out", str(out)])
    result = runner.invoke(args=[*IMPORT, str(out)])
    assert "0 created, 1 updated" in result.output, result.output
    assert session.scalar(select(func.count(Subscriber.id))) == 1


def test_demo_load_fills_an_empty_database_once(
    runner: FlaskCliRunner, session: Session
) -> None:
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "sample report imported: 2024-07, 26 items" in first.output
    assert "demo readers imported: 12" in first.output
    second = runner.invoke(args=["demo", "load"])
    assert second.output == ""
    assert session.scalar(select(func.count(Subscriber.id))) == 12
