"""Backups of the database and their restore into an empty database.

SQLite: Python's online backup API, a consistent copy while the web app and workers keep
writing. PostgreSQL: `pg_dump -Fc` and `pg_restore` from the server binaries on the machine.
Each backup first commits an audit entry `database.backup`, so a restored database knows when
its backup was taken (the erasure journal's newer entries are re-applied from then on).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess  # nosec B404: runs pg_dump and pg_restore, see _run
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func, inspect, make_url, select, table
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.db import make_engine
from webapp.models import AuditEntry

BACKUP_ACTION = "database.backup"
_KEPT_WHEN_EMPTY = frozenset({"alembic_version"})  # `db upgrade` alone fills only this


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; nothing was changed. The message says why."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    method: str  # "sqlite online backup" | "pg_dump -Fc"
    taken_at: datetime
    size: int


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("DATABASE_URL names an in-memory SQLite database: nothing to back up")
    return Path(database)


def pg_bindir() -> Path:
    """Where pg_dump and pg_restore are: Debian keeps them per major version, newest wins
    (pg_dump must not be older than the server); else pg_config's, else the PATH's."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run(  # nosec B603: pg_config from PATH, fixed argument, no shell
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        candidates.append(Path(out.stdout.strip()))
    on_path = shutil.which("pg_dump")
    if on_path:
        candidates.append(Path(on_path).parent)
    for path in candidates:
        if (path / "pg_dump").exists() and (path / "pg_restore").exists():
            return path
    raise BackupError("pg_dump and pg_restore not found; install the PostgreSQL client "
                      "(Debian: postgresql-client)")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI for the tools and their environment; the password goes in PGPASSWORD,
    not on a command line every user of the machine can read."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None)
    return uri.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    # The PostgreSQL client tools by path, with an argument list and no shell.
    result = subprocess.run(  # nosec B603: our own command list, no shell
        command, capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        name = Path(command[0]).name
        raise BackupError(f"{name} failed: {(result.stderr or result.stdout).strip()}")


def _mark(engine: Engine, path: Path) -> datetime:
    """Commit the audit entry that dates this backup; the copy taken after holds it."""
    with Session(engine) as session:
        entry = record_audit(session, BACKUP_ACTION, actor="cli", target=path.name)
        session.commit()
        taken_at: datetime = entry.at
    return taken_at


def backup(url: str, path: Path) -> BackupResult:
    """Write a backup of the database at `url` to `path`, which must not exist yet."""
    if path.exists():
        raise BackupError(f"{path} exists; give a new file name (backups are never overwritten)")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a directory")
    engine = make_engine(url)
    try:
        taken_at = _mark(engine, path)
    finally:
        engine.dispose()
    # Written beside the target and renamed into place: a failed or interrupted backup never
    # leaves a file that looks like a good one.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(temp_name)
    try:
        if _is_sqlite(url):
            method = "sqlite online backup"
            source = sqlite3.connect(_sqlite_path(url), timeout=10)
            target = sqlite3.connect(temp)
            try:
                with target:
                    source.backup(target)
                # One self-contained file: the live database's WAL mode would want -wal and
                # -shm files beside the copy.
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
                source.close()
        else:
            method = "pg_dump -Fc"
            uri, env = _libpq(url)
            _run([str(pg_bindir() / "pg_dump"), "-Fc", "--no-owner", "--no-privileges",
                  "-f", str(temp), uri], env)
        with temp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return BackupResult(path=path, method=method, taken_at=taken_at, size=path.stat().st_size)


def non_empty_table(engine: Engine) -> str | None:
    """The first table holding a row, or None when the database is empty (tables or not)."""
    with engine.connect() as connection:
        for name in sorted(inspect(connection).get_table_names()):
            if name in _KEPT_WHEN_EMPTY:
                continue
            count = connection.scalar(select(func.count()).select_from(table(name)))
            if count:
                return name
    return None


def restore(url: str, path: Path) -> str:
    """Restore the backup at `path` into the empty database at `url`; returns the method."""
    if not path.is_file():
        raise BackupError(f"{path} is not a backup file")
    engine = make_engine(url)
    try:
        occupied = non_empty_table(engine)
    finally:
        engine.dispose()
    if occupied is not None:
        raise BackupError(
            f"the database is not empty (table {occupied} has rows); restore only into a new, "
            "empty database — nothing was changed"
        )
    if _is_sqlite(url):
        _restore_sqlite(path, _sqlite_path(url))
        return "sqlite online backup"
    uri, env = _libpq(url)
    # --clean drops what `db upgrade` may have created in the empty database; one
    # transaction, so a failed restore leaves it as it was.
    _run([str(pg_bindir() / "pg_restore"), "--no-owner", "--no-privileges", "--clean",
          "--if-exists", "--single-transaction", "-d", uri, str(path)], env)
    return "pg_restore"


def _restore_sqlite(path: Path, target_path: Path) -> None:
    source = sqlite3.connect(path)
    try:
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        source.close()
        raise BackupError(f"{path} is not an SQLite backup: {error}") from None
    target_path.parent.mkdir(parents=True, exist_ok=True)
    target = sqlite3.connect(target_path)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()


def backup_taken_at(engine: Engine) -> datetime | None:
    """When the restored backup was taken (its last `database.backup` entry), if known."""
    with engine.connect() as connection:
        stmt = select(func.max(AuditEntry.at)).where(AuditEntry.action == BACKUP_ACTION)
        value = connection.scalar(stmt)
    return value if isinstance(value, datetime) else None


