"""`--plan-only`: populate N readers, plan the send, report the plan's time and the database's size.

The ten-million-reader figure of issue 22: the plan is `sending.start_send` and its commit (the
tally triggers fold their change rows into the counters at commit), timed on the wall clock;
the database's size (`pg_database_size`) and its biggest tables and indexes are read after the
commit, so they include the plan's rows. With `explain`, the plan's INSERT … SELECT is also run
once under EXPLAIN (ANALYZE, BUFFERS) in a transaction that is rolled back first, to show where
its time goes (sorts spilling to disk, index and trigger time).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

TARGET_10M_S = 300.0  # issue 22: plan 10,000,000 readers on PostgreSQL in at most 5 minutes
# The server as one holding ten million readers would be set up (README's production guide):
# PostgreSQL's defaults (128 MB of buffers, a checkpoint every 1 GB of WAL) are sized for a
# small machine; a plan then rereads and rewrites the pages of indexes bigger than the
# buffers. A quarter of this machine's 24 GB would be the usual share; 2 GB holds what a plan
# touches at 10,000,000 (the deliveries' indexes as they grow).
SERVER_SETTINGS = {"shared_buffers": "2GB", "max_wal_size": "8GB"}


def database_size(session: Session, top: int = 8) -> dict[str, Any]:
    """The database's size and its biggest relations (tables with their TOAST, and indexes), in
    MB; empty on SQLite (the bench's file is the database)."""
    if session.get_bind().dialect.name != "postgresql":
        return {}
    total = session.scalar(text("SELECT pg_database_size(current_database())")) or 0
    rows = session.execute(text(
        "SELECT c.relname, c.relkind, pg_table_size(c.oid) FROM pg_class AS c "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') "
        "ORDER BY 3 DESC LIMIT :top"
    ), {"top": top}).tuples()
    return {
        "database_mb": round(total / 2**20),
        "biggest": [{"name": name, "kind": "index" if kind == "i" else "table",
                     "mb": round(size / 2**20)} for name, kind, size in rows],
    }


def load_average() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def backend_pid(session: Session) -> int | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    pid: int | None = session.scalar(text("SELECT pg_backend_pid()"))
    return pid


def backend_cpu_s(pid: int | None) -> float | None:
    """CPU seconds a PostgreSQL backend has used (user + system, from /proc: the bench's
    server runs on this machine), or None where that cannot be read."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def plan_once(session: Session, edition_month: str, actor: str) -> dict[str, Any]:
    """Plan the edition and commit, timed: wall seconds, the database backend's CPU seconds
    (the work; on a shared machine the wall time also holds waiting for a core), and this
    process's CPU seconds (the client only waits)."""
    from webapp.delivery import sending

    edition = sending.load_edition(session, edition_month)
    pid = backend_pid(session)  # the transaction's connection: the plan runs on it
    db_cpu = backend_cpu_s(pid)
    wall, cpu = time.monotonic(), time.process_time()
    plan = sending.start_send(session, edition, actor=actor)
    session.commit()
    out = {"plan_s": round(time.monotonic() - wall, 2),
           "plan_client_cpu_s": round(time.process_time() - cpu, 2),
           "planned": plan.planned, "excluded": plan.excluded}
    after = backend_cpu_s(pid)
    if db_cpu is not None and after is not None:
        out["plan_db_cpu_s"] = round(after - db_cpu, 1)
    return out


def explain_plan(session: Session, edition_month: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the plan, in a transaction rolled back afterwards."""
    from webapp.delivery import sending
    from webapp.delivery.plan import plan_deliveries
    from webapp.models import utcnow

    edition = sending.load_edition(session, edition_month)
    captured: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               executemany: bool) -> tuple[str, Any]:
        if statement.lstrip().upper().startswith("INSERT INTO DELIVERIES"):
            return "EXPLAIN (ANALYZE, BUFFERS, VERBOSE) " + statement, params
        return statement, params

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
              executemany: bool) -> None:
        if statement.startswith("EXPLAIN"):
            captured.extend(row[0] for row in cursor.fetchall())

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", before, retval=True)
    event.listen(engine, "after_cursor_execute", after)
    try:
        plan_deliveries(session, edition, utcnow())
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        session.rollback()
    return "\n".join(captured)


def plan_only(options: Any, out: dict[str, Any], config: Callable[[str, str], dict[str, str]],
              say: Callable[[str], None]) -> dict[str, Any]:
    """Populate, plan, measure the database, stop."""
    from tests.tools.bench.population import approved_sample, throwaway_database, vacuum_analyze
    from webapp import create_app
    from webapp.db import database
    from webapp.models import utcnow

    settings = SERVER_SETTINGS if options.sized_server else None
    with throwaway_database(options.postgres, settings) as db:
        out["server_settings"] = settings or {}
        out["database"] = db.dialect
        app = create_app(config(db.url, str(db.root)))
        with app.app_context(), database(app).sessionmaker() as session:
            say(f"populating {options.readers:,} readers")
            start = time.monotonic()
            edition = approved_sample(session, options.readers, utcnow())
            session.commit()
            month = edition.month
            out["populate_s"] = round(time.monotonic() - start, 1)
            if db.dialect == "postgresql":
                # A list in use has been vacuumed (autovacuum: visibility map set, statistics
                # gathered); a freshly loaded one not until the daemon comes round.
                out["vacuum_s"] = vacuum_analyze(database(app).engine)
            out["size_before"] = database_size(session)
            if options.explain and db.dialect == "postgresql":
                say("EXPLAIN ANALYZE of the plan (rolled back)")
                out["explain"] = explain_plan(session, month)
            say("planning")
            out["load_before"] = load_average()
            out.update(plan_once(session, month, "bench"))
            out["load_after"] = load_average()
            out.update(database_size(session))
            if options.readers >= 10_000_000 and db.dialect == "postgresql":
                out["plan_10m_s"] = out["plan_s"]
        database(app).engine.dispose()
    return out


def plan_lines(f: dict[str, Any], line: Callable[[str, str, str, bool | None], str]) -> list[str]:
    """The `--plan-only` figures as text; the 5-minute target is per 10,000,000 readers, so a
    smaller run is held to its share (a plan should grow no faster than the list)."""
    share = TARGET_10M_S * f["readers"] / 10_000_000
    rows = [
        f"bench — plan only, {f['readers']:,} readers on {f['database']}, "
        f"{f['machine']['cpus']} CPUs, load {f['load_before'][0]:g} → {f['load_after'][0]:g}",
        "server: " + (", ".join(f"{k}={v}" for k, v in f.get("server_settings", {}).items())
                      or "PostgreSQL's defaults"),
        "",
        line("populate", f"{f['populate_s']:.1f} s",
             f"then VACUUM ANALYZE {f.get('vacuum_s', 0)} s", None),
        line("plan (start_send + commit)", f"{f['plan_s']:.1f} s",
             f"≤ {share:.0f} s ({TARGET_10M_S:.0f} s per 10,000,000)", f["plan_s"] <= share),
        line("  database CPU (its backend)", f"{f.get('plan_db_cpu_s', 0):.1f} s",
             "wall time beyond it: waiting for a core", None),
        line("  client CPU", f"{f['plan_client_cpu_s']:.1f} s", "the database does the work",
             None),
        line("  planned / excluded", f"{f['planned']:,} / {f['excluded']:,}", "", None),
    ]
    if "database_mb" in f:
        rows.append(line("database size (pg_database_size)", f"{f['database_mb']:,} MB",
                         f"{f['size_before'].get('database_mb', 0):,} MB before the plan", None))
        rows += [line(f"  {r['kind']} {r['name']}", f"{r['mb']:,} MB", "", None)
                 for r in f["biggest"]]
    if f.get("explain"):
        rows += ["", "EXPLAIN ANALYZE of the plan (rolled back):", f["explain"]]
    return rows
