"""API keys: made with scopes, kept as a digest, found by prefix, revoked for good; the CLI."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.accounts.api_keys import (
    AlreadyRevoked,
    ApiKeyNameInvalid,
    ScopesInvalid,
    authenticate,
    create_api_key,
    note_use,
    revoke_api_key,
)
from webapp.models import ApiKey, AuditEntry

NOW = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
KEY_SHAPE = re.compile(r"yb_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")


def test_a_key_is_shown_once_and_stored_only_as_a_digest(session: Session) -> None:
    made = create_api_key(
        session, "  CRM  sync ", ["subscribers:read", "stats:read", "subscribers:read"],
        actor="cli", now=NOW,
    )
    session.commit()
    assert KEY_SHAPE.fullmatch(made.key)
    row = session.get(ApiKey, made.row.id)
    assert row is not None
    assert row.name == "CRM sync"
    assert row.scopes == ["subscribers:read", "stats:read"]
    assert made.key.startswith(f"yb_{row.prefix}_")
    assert row.secret_hash == hashlib.sha256(made.key.encode()).hexdigest()
    stored = " ".join(str(v) for v in session.execute(select(ApiKey.__table__)).one())
    assert made.key not in stored and made.key.rsplit("_", 1)[1] not in stored
    audit = session.scalars(select(AuditEntry)).one()
    assert (audit.action, audit.actor) == ("api_key.create", "cli")
    assert audit.target == f"api_key:{row.id}"
    assert made.key not in str(audit.detail)


@pytest.mark.parametrize(
    ("name", "scopes", "error"),
    [
        ("", ["stats:read"], ApiKeyNameInvalid),
        ("x" * 101, ["stats:read"], ApiKeyNameInvalid),
        ("two\nlines", ["stats:read"], ApiKeyNameInvalid),
        ("CRM", [], ScopesInvalid),
        ("CRM", ["stats:read", "subscribers:delete"], ScopesInvalid),
    ],
)
def test_bad_names_and_scopes_are_refused(
    session: Session, name: str, scopes: list[str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        create_api_key(session, name, scopes, actor="cli", now=NOW)
    session.rollback()
    assert session.scalar(select(ApiKey)) is None


def test_authenticate_finds_live_keys_only(session: Session) -> None:
    made = create_api_key(session, "CRM", ["stats:read"], actor="cli", now=NOW)
    other = create_api_key(session, "Intake", ["stats:read"], actor="cli", now=NOW)
    session.commit()
    assert authenticate(session, made.key) == made.row
    wrong_secret = made.key[:-4] + ("AAAA" if not made.key.endswith("AAAA") else "BBBB")
    mixed = f"yb_{made.row.prefix}_{other.key.rsplit('_', 1)[1]}"
    for bad in (wrong_secret, mixed, "", "yb_", "Bearer " + made.key, made.key + "x"):
        assert authenticate(session, bad) is None, bad
    revoke_api_key(session, made.row, actor="cli", now=NOW)
    session.commit()
    assert authenticate(session, made.key) is None
    assert authenticate(session, other.key) == other.row
    with pytest.raises(AlreadyRevoked):
        revoke_api_key(session, made.row, actor="cli", now=NOW)


@pytest.mark.postgres
def test_last_use_is_written_at_most_once_a_minute(session: Session) -> None:
    key = create_api_key(session, "CRM", ["stats:read"], actor="cli", now=NOW).row
    session.commit()
    assert note_use(session, key, NOW) is True
    assert note_use(session, key, NOW + timedelta(seconds=59)) is False
    session.commit()
    assert key.last_used_at == NOW
    assert note_use(session, key, NOW + timedelta(seconds=60)) is True
    session.commit()
    session.expire_all()
    assert session.get(ApiKey, key.id).last_used_at == NOW + timedelta(seconds=60)  # type: ignore[union-attr]


def test_the_cli_creates_lists_and_revokes(runner: FlaskCliRunner, session: Session) -> None:
    made = runner.invoke(
        args=["api-keys", "create", "--name", "CRM", "--scope", "subscribers:read",
              "--scope", "stats:read"]
    )
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert KEY_SHAPE.fullmatch(key)
    row = session.scalars(select(ApiKey)).one()
    assert authenticate(session, key) == row

    listed = runner.invoke(args=["api-keys", "list"])
    assert listed.exit_code == 0
    line = f"yb_{row.prefix}_…\tCRM\tsubscribers:read,stats:read\tactive\tnever used"
    assert line in listed.output
    assert key not in listed.output

    revoked = runner.invoke(args=["api-keys", "revoke", str(row.id)])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(args=["api-keys", "revoke", str(row.id)])
    assert again.exit_code != 0 and "revoked already" in again.output
    assert runner.invoke(args=["api-keys", "revoke", "999"]).exit_code != 0
    session.expire_all()
    assert authenticate(session, key) is None
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["api_key.create", "api_key.revoke"]


def test_the_cli_refuses_an_unknown_scope(runner: FlaskCliRunner, session: Session) -> None:
    result = runner.invoke(args=["api-keys", "create", "--name", "CRM", "--scope", "all"])
    assert result.exit_code != 0
    assert session.scalar(select(ApiKey)) is None
