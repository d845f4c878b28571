from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from html import escape
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.mailbox import part_as_sent
from webapp.models import AuditEntry, Item, TestSend

SAMPLE = Path(__file__).resolve().parents[2] / "webapp" / "data" / "2024-07-report.txt"


@pytest.fixture
def july(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["import-report", str(SAMPLE)])
    assert result.exit_code == 0, result.output


def _eml(path: Path) -> EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.usefixtures("july")
def test_preview_writes_the_reader_email(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    out, eml = tmp_path / "ai.html", tmp_path / "ai.eml"
    result = runner.invoke(
        args=["preview", "2024-07", "--topics", "investment", "--out", str(out), "--eml", str(eml)]
    )
    assert result.exit_code == 0, result.output
    assert "variant zh-CN:investment" in result.output
    html = out.read_text()
    items = list(session.scalars(select(Item)))
    chosen = [i for i in items if "investment" in {t.slug for t in i.topics}]
    assert 0 < len(chosen) < len(items)
    for item in items:
        assert (escape(item.title) in html) == (item in chosen), item.title
    message = _eml(eml)
    first = chosen[0].title  # the hook comes first, the report's name after it
    assert message["Subject"].startswith(first[:20])
    assert "｜元宇宙与数字经济月报" in message["Subject"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<https://news.example.com/u/")
    assert message.get_body(preferencelist=("plain",)) is not None


@pytest.mark.usefixtures("july")
def test_preview_in_english_with_every_topic(runner: FlaskCliRunner, tmp_path: Path) -> None:
    out = tmp_path / "all.html"
    result = runner.invoke(args=["preview", "2024-07", "--lang", "en", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "26 items" in result.output
    assert 'lang="en"' in out.read_text()
    size = int(result.output.split("HTML: ")[1].split(" bytes")[0].replace(",", ""))
    assert size < 100_000


@pytest.mark.usefixtures("july")
def test_preview_shows_the_html_decoded_and_as_sent_against_the_limit(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out, eml = tmp_path / "all.html", tmp_path / "all.eml"
    result = runner.invoke(args=["preview", "2024-07", "--out", str(out), "--eml", str(eml)])
    assert result.exit_code == 0, result.output
    figures = re.search(
        r"HTML: ([\d,]+) bytes, ([\d,]+) as sent \(base64\); limit 100,000 as sent, "
        r"at most ([\d,]+) for any reader",
        result.output,
    )
    assert figures is not None, result.output
    decoded, sent, most = (int(n.replace(",", "")) for n in figures.groups())
    assert decoded == len(out.read_bytes())
    encoding, body = part_as_sent(eml.read_bytes(), "text/html")
    assert (encoding, len(body)) == ("base64", sent)
    assert decoded < sent <= most <= 100_000


@pytest.mark.usefixtures("july")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["preview", "2031-01"], "there is no edition for 2031-01"),
        (["preview", "2024-07", "--topics", "astrology"], "unknown topic(s) astrology"),
    ],
)
def test_preview_errors_are_plain(
    runner: FlaskCliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "x.html"
    result = runner.invoke(args=[*args, "--out", str(out)])
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists()


@pytest.mark.usefixtures("july")
def test_test_send_goes_to_the_outbox_and_is_recorded_apart(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    result = runner.invoke(
        args=["test-send", "2024-07", "--to", "Editor@Example.com", "--to", "b@example.com",
              "--topics", "ai,data"]
    )
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(files) == 2
    message = _eml(files[0])
    assert message["Subject"].startswith("[测试] ")
    assert message["To"] in {"Editor@example.com", "b@example.com"}
    records = list(session.scalars(select(TestSend)))
    assert {r.to_address for r in records} == {"Editor@example.com", "b@example.com"}
    assert all(r.topics == ["ai", "data"] and r.message_id and r.error is None for r in records)
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "edition.test_send"))


@pytest.mark.usefixtures("july")
def test_test_send_refuses_bad_addresses_and_sends_nothing(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    result = runner.invoke(
        args=["test-send", "2024-07", "--to", "ok@example.com", "--to", "not an address"]
    )
    assert result.exit_code != 0 and "not a valid email address" in result.output
    assert not (tmp_path / "var" / "outbox").exists()
    assert session.scalar(select(TestSend)) is None
