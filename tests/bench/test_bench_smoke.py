"""The quick benchmark runs end to end (it must run, not meet targets: no timing asserts)."""

from __future__ import annotations

import json

import pytest

from tests.tools.bench.report import text_report
from tests.tools.bench.run import BenchOptions, run_bench

FIGURES = ("readers", "plan_s", "fill_us", "compile_per_reader_us", "cpu_ms_per_msg",
           "naive_cpu_ms_per_msg", "rate_target", "rate_achieved", "throttled", "peak_rss_mb",
           "sns_events_per_s", "stats_ms", "dashboard_ms", "address_timing",
           "events_received_per_s", "events_received_cpu_ms", "events_applied_per_s",
           "sqs_events_per_s", "sqs_lost")


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


@pytest.mark.servers  # the simulator in its own process, a worker, gunicorn
def test_the_quick_bench_produces_every_figure() -> None:
    # Enough readers that the windows (now at their full rates) leave the worker a rest to send.
    options = BenchOptions(readers=5000, window=2.0, rates=(100.0, 500.0), fill_sample=300,
                           compile_sample=10, sns_events=200, form_requests=5, sqs_events=60)
    figures = run_bench(options)
    assert set(FIGURES) <= set(figures)
    assert figures["planned"] + figures["excluded"] == 5000
    assert figures["scale"]["finished"], "the worker sent the rest of the edition"
    assert figures["sns_lost"] == 0 and figures["sns_refused"] == 0
    assert figures["sqs_lost"] == 0 and figures["sqs_applied_twice"] == 0
    assert "naive pipeline" in text_report(figures)
    for window in figures["rates"]:  # one per target rate and worker count
        assert {"rate_target", "rate_achieved", "throttled", "cpu_ms_per_msg",
                "workers"} <= set(window)


@pytest.mark.servers  # gunicorn
def test_the_events_bench_receives_and_applies_every_event() -> None:
    figures = run_bench(BenchOptions(readers=1000, events_only=True, sns_events=100,
                                     apply_deliveries=200))
    assert figures["sns_lost"] == 0 and figures["sns_refused"] == 0
    assert figures["events_received_cpu_ms"] > 0
    # The 100 Delivery events ingest stored, and a Send and a Delivery for 200 more.
    assert figures["events_applied"] == 500 and figures["events_applied_lost"] == 0
    assert figures["events_left_unprocessed"] == 0
    assert "SES events applied" in text_report(figures)


@pytest.mark.servers  # the simulator in its own process
def test_the_calls_bench_measures_one_call_in_both_forms() -> None:
    figures = run_bench(BenchOptions(readers=1000, calls_only=True))
    assert figures["call_readers"] == 50
    assert figures["call_body_kb"] < figures["call_body_kb_slots"]
    assert figures["call_cpu_ms_per_msg"] > 0 and figures["call_cpu_ms_per_msg_slots"] > 0
    assert "transport CPU per message (tokens)" in text_report(figures)


def test_the_forms_bench_times_known_and_unknown_addresses_per_form() -> None:
    figures = run_bench(BenchOptions(readers=1000, forms_only=True, form_requests=5))
    forms = {f["form"]: f for f in figures["address_timing"]}
    assert set(forms) == {"subscribe", "preferences link", "password reset"}
    for figure in forms.values():
        assert figure["requests"] == 5 and figure["known_ms"] > 0 and figure["unknown_ms"] > 0
        assert figure["gap_ms"] == round(figure["known_ms"] - figure["unknown_ms"], 2)
    assert "password reset: known − unknown address" in text_report(figures)


def test_the_command_passes_options_through_and_prints_only_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from tests.tools.bench import __main__ as command

    seen: list[BenchOptions] = []

    def fake_run(options: BenchOptions) -> dict[str, object]:
        seen.append(options)
        if options.log is not None:
            options.log("progress goes to standard error")
        return {"readers": options.readers}

    monkeypatch.setattr(command, "run_bench", fake_run)
    result = CliRunner().invoke(command.main, ["--readers", "50000", "--window", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"readers": 50000}
    assert (seen[0].readers, seen[0].window) == (50000, 3.0)


def test_rates_and_workers_pass_through_and_the_full_run_measures_the_higher_rates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from tests.tools.bench import __main__ as command

    seen: list[BenchOptions] = []

    def fake_run(options: BenchOptions) -> dict[str, object]:
        seen.append(options)
        return {}

    monkeypatch.setattr(command, "run_bench", fake_run)
    result = CliRunner().invoke(command.main, ["--rates", "100,2000", "--workers", "1,2",
                                               "--rates-only", "--json"])
    assert result.exit_code == 0, result.output
    assert (seen[0].rates, seen[0].workers, seen[0].rates_only) == ((100.0, 2000.0), (1, 2), True)
    full = BenchOptions.full()
    assert (full.rates, full.workers) == ((100.0, 1000.0, 2000.0, 5000.0), (1, 2))
