"""What a readers' CSV may hold: every cell plain single-line text, quotes that pair up; any
other file is refused with the line and column, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from webapp.models import BackgroundJob, ConsentRecord, Subscriber
from webapp.plain_text import find_unsafe
from webapp.readers.csv_values import Attestation, ConsentBasis
from webapp.readers.subscribers_csv import CsvImportError, ImportOptions, import_subscribers_csv

HEADER = "email,name,topics,language,status\n"
ERASURE_KEY = "k" * 32

IMPORT = ["subscribers", "import", "--consent", "asked"]
ASKED = {"consent_basis": "asked"}  # how the readers agreed: asked to subscribe


def _import(runner: FlaskCliRunner, tmp_path: Path, body: str, *options: str) -> str:
    path = tmp_path / "readers.csv"
    path.write_text(HEADER + body, encoding="utf-8", newline="")
    result = runner.invoke(args=[*IMPORT, str(path), *options])
    assert result.exit_code != 0, result.output
    assert "nothing imported" in result.output
    return result.output


def _names(session: Session) -> list[str | None]:
    session.expire_all()
    return [s.name for s in session.scalars(select(Subscriber))]


@pytest.mark.parametrize("skip", [(), ("--skip-invalid",)])
def test_an_unclosed_quote_refuses_the_file_instead_of_swallowing_the_row(
    runner: FlaskCliRunner, session: Session, tmp_path: Path, skip: tuple[str, ...]
) -> None:
    output = _import(runner, tmp_path, 'ann@example.com,"A,ai,en,active\n', *skip)
    assert "readers.csv:2: column 2: a quote" in output
    assert "not closed on the same line" in output
    assert _names(session) == []  # not a reader named "A,ai,en,active"


@pytest.mark.parametrize("skip", [(), ("--skip-invalid",)])
def test_a_stray_quote_that_swallows_the_next_rows_refuses_the_file(
    runner: FlaskCliRunner, session: Session, tmp_path: Path, skip: tuple[str, ...]
) -> None:
    body = (
        "ok@example.com,Ok,ai,en,active\n"
        'ann@example.com,"Ann,ai,en,active\n'
        "bob@example.com,Bob,ai,en,active\n"
        'cid@example.com,Cid",ai,en,active\n'
    )
    output = _import(runner, tmp_path, body, *skip)
    assert "readers.csv:3: column 2: a quote" in output
    assert _names(session) == []


def test_text_after_a_closing_quote_refuses_the_file(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    output = _import(runner, tmp_path, 'ann@example.com,"Ann" Li,ai,en,active\n')
    assert "readers.csv:2: column 2: text after a closing quote" in output
    assert _names(session) == []


def test_quotes_written_properly_still_import(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "readers.csv"
    path.write_text(
        HEADER + '"ann@example.com","Ann ""Nan"" Li, PhD",ai,en,active\r\n'
        'bob@example.com,Bob "B" Wu,ai,en,active\r\n',
        encoding="utf-8",
    )
    result = runner.invoke(args=[*IMPORT, str(path)])
    assert result.exit_code == 0, result.output
    assert sorted(_names(session)) == ['Ann "Nan" Li, PhD', 'Bob "B" Wu']


@pytest.mark.postgres
@pytest.mark.parametrize("skip", [(), ("--skip-invalid",)])
def test_nul_refuses_the_whole_file_with_line_and_column(
    runner: FlaskCliRunner, session: Session, tmp_path: Path, skip: tuple[str, ...]
) -> None:
    body = "ok@example.com,Ok,ai,en,active\nann@example.com,A\x00B,ai,en,active\n"
    output = _import(runner, tmp_path, body, *skip)
    assert "readers.csv:3: name (column 2): control character U+0000 at character 2" in output
    assert "cannot be read as it is" in output
    assert _names(session) == []


def test_control_characters_are_bad_rows_named_by_line_and_column(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    body = (
        "ok@example.com,Ok,ai,en,active\n"
        "ann@example.com,Ann\x1b[31m,ai,en,active\n"
        "bob@example.com,Bob,ai\x7f,en,active\n"
        "cid@example.com,Cid\u2028Wu,ai,en,active\n"
    )
    output = _import(runner, tmp_path, body)
    assert "readers.csv:3: name (column 2): control character U+001B at character 4" in output
    assert "readers.csv:4: topics (column 3): control character U+007F at character 3" in output
    assert "readers.csv:5: name (column 2): line break at character 4" in output
    assert _names(session) == []
    path = tmp_path / "readers.csv"
    result = runner.invoke(args=[*IMPORT, str(path), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 3 skipped" in result.output
    assert _names(session) == ["Ok"]


def test_the_console_refuses_the_file_before_queueing_it(
    admin_client: FlaskClient, session: Session
) -> None:
    text = HEADER + 'ann@example.com,"A,ai,en,active\n'
    for data in ({"text": text, **ASKED},
                 {"text": text, "confirm": "1", "skip_invalid": "y", **ASKED}):
        response = admin_client.post("/admin/subscribers/import?lang=en", data=data)
        page = response.get_data(as_text=True)
        assert "Line 2, column 2: A quote (&#34;) opens the cell" in page
        assert "skip" not in page.split("<form")[0]  # a refused file offers no skipping
    assert session.scalar(select(func.count(BackgroundJob.id))) == 0
    assert _names(session) == []


# --- arbitrary input -------------------------------------------------------------------------

CELL = st.one_of(
    st.text(max_size=12),
    st.text(st.sampled_from('a"",\n\r\x00\x01\t ;\u2028\ud800'), max_size=6),
    st.sampled_from(
        [
            "ann@example.com",
            "bob@example.com",
            "ai",
            "ai;data",
            "en",
            "zh-CN",
            "active",
            "pending",
            '"',
            '""',
            "A,B",
            "\x00",
        ]
    ),
)
ROW = st.lists(CELL, min_size=1, max_size=6).map(",".join)
CSV_TEXT = st.one_of(
    st.text(),
    st.lists(ROW, max_size=6).map(lambda rows: HEADER + "\n".join(rows)),
    st.tuples(st.lists(ROW, max_size=6), st.sampled_from(["\n", "\r\n", "\r"])).map(
        lambda rows_end: HEADER + rows_end[1].join(rows_end[0])
    ),
)


@pytest.mark.postgres
@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=CSV_TEXT, skip_invalid=st.booleans())
def test_any_text_is_imported_whole_or_refused_without_a_trace(
    session: Session, text: str, skip_invalid: bool
) -> None:
    try:
        result = import_subscribers_csv(
            session, text, erasure_key=ERASURE_KEY, skip_invalid=skip_invalid,
            options=ImportOptions(Attestation(ConsentBasis.ASKED), all_topics=True),
        )
    except CsvImportError as error:
        assert error.errors and all(e.line >= 1 for e in error.errors)
        session.flush()
        assert session.scalar(select(func.count(Subscriber.id))) == 0  # nothing written
        session.rollback()
        return
    session.commit()  # the database takes whatever the reader let through
    readers = list(session.scalars(select(Subscriber)))
    assert len(readers) == result.created and result.updated == 0
    for reader in readers:
        assert reader.name is None or find_unsafe(reader.name) is None
        assert reader.email and find_unsafe(reader.email) is None
    session.execute(delete(ConsentRecord))
    for reader in readers:
        session.delete(reader)
    session.commit()
