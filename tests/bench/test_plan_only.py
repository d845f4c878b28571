"""`--plan-only` runs end to end (populate, plan, the database's size): no timing asserts."""

from __future__ import annotations

import pytest

from tests.tools.bench.report import text_report
from tests.tools.bench.run import BenchOptions, run_bench


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
def test_plan_only_plans_every_reader_and_reports_the_database(postgres: bool) -> None:
    figures = run_bench(BenchOptions(readers=2000, plan_only=True, postgres=postgres,
                                     explain=postgres, sized_server=False))
    assert figures["planned"] + figures["excluded"] == 2000
    assert figures["plan_s"] >= 0 and "plan_10m_s" not in figures  # only at 10,000,000
    report = text_report(figures)
    assert "plan (start_send + commit)" in report
    if postgres:
        assert figures["database_mb"] > 0 and figures["plan_db_cpu_s"] >= 0
        assert {"deliveries", "uq_deliveries_token"} <= {r["name"] for r in figures["biggest"]}
        assert "Insert on public.deliveries" in figures["explain"]
        assert "deliveries_parents_insert" in figures["explain"]
