"""The bench's figures as text, each beside its target and the naive baseline."""

from __future__ import annotations

from typing import Any

from tests.tools.bench.calls import call_lines
from tests.tools.bench.inbox import event_lines
from tests.tools.bench.item_tallies import item_lines
from tests.tools.bench.rate_workers import rate_lines
from tests.tools.bench.rss import rss_lines


def _line(name: str, value: str, target: str, met: bool | None) -> str:
    mark = "" if met is None else ("met" if met else "MISSED")
    return f"{name:<44} {value:>18}   {target:<34} {mark}"


def address_lines(f: dict[str, Any]) -> list[str]:
    """Known vs unknown address, per public form: the gap is what a stranger could time."""
    return [
        _line(f"{form['form']}: known − unknown address", f"{form['gap_ms']:+.2f} ms",
              f"median {form['known_ms']:g} vs {form['unknown_ms']:g} ms "
              f"(n={form['requests']})", None)
        for form in f.get("address_timing", [])
    ]


def text_report(f: dict[str, Any]) -> str:
    if "size_before" in f:  # --plan-only
        from tests.tools.bench.planscale import plan_lines

        return "\n".join(plan_lines(f, _line))
    if "fill_us" not in f and "events_received_per_s" in f:  # --events-only
        return "\n".join([f"bench — SES events, {f['readers']:,} readers on {f['database']}",
                          "", *event_lines(f)])
    if "scale" in f and "plan_s" not in f:  # --rss-only
        return "\n".join(rss_lines(f, _line))
    if "rates" in f and "plan_s" not in f:  # --rates-only
        heading = (f"bench — sending windows, {f['planned']:,} planned on {f['database']}, "
                   f"windows of {f['window_s']:g} s, SES latency {f['latency_ms']:g} ms")
        return "\n".join([heading, "", *rate_lines(f["rates"])])
    if "call_body_kb" in f and "plan_s" not in f:  # --calls-only
        heading = f"bench — one SendBulkEmail call, {f['database']}"
        return "\n".join([heading, "", *call_lines(f, _line)])
    if "plan_s" not in f:  # --forms-only
        heading = f"bench — public forms, {f['readers']:,} readers on {f['database']}"
        return "\n".join([heading, "", *address_lines(f)])
    stats = _line("dashboard stats", f"{f['stats_ms']:.0f} ms",
                  f"≤ 60 ms at 1,000,000 ({f['events_loaded']:,} events)", f["stats_ms"] <= 60)
    page = _line("dashboard_ms (rendered page, server time)", f"{f['dashboard_ms']:.0f} ms",
                 f"≤ 200 ms at 1,000,000 ({f['dashboard_kb']:g} KB)", f["dashboard_ms"] <= 200)
    first = _line("  first page (readers counted behind it)",
                  f"{f.get('dashboard_first_ms', 0):.0f} ms",
                  f"count done at {f.get('reader_count_ms', 0):.0f} ms; then a snapshot", None)
    tallies = _line("  tallies equal a recount", str(f["tallies_match_recount"]), "",
                    f["tallies_match_recount"])
    plan_target = 60 * max(1, f["readers"] / 1_000_000)
    rows = [
        f"bench — {f['readers']:,} readers on {f['database']}, "
        f"{f['machine']['cpus']} CPUs, windows of {f['window_s']:g} s, "
        f"SES latency {f['latency_ms']:g} ms",
        "",
        *address_lines(f),
        _line("plan (INSERT … SELECT)", f"{f['plan_s']:.2f} s",
              f"≤ {plan_target:.0f} s (60 s per 1,000,000, PG)", f["plan_s"] <= plan_target),
    ]
    if "fill_us" not in f:  # --stats-only
        from tests.tools.bench.statsscale import stats_lines

        return "\n".join([*rows, stats, *stats_lines(f, _line), page, first, tallies,
                          *item_lines(f)])
    rows += [
        _line("fill, cached variant (SES bulk entry)", f"{f['fill_us']:.1f} µs", "≤ 50 µs",
              f["fill_us"] <= 50),
        _line("compile MJML per reader", f"{f['compile_per_reader_us']:.0f} µs",
              f"speed-up {f['fill_speedup']:g}× (≥ 10×)", f["fill_speedup"] >= 10),
    ]
    rows += rate_lines(f["rates"])
    rows += [
        _line("naive pipeline (MJML+MIME+SendEmail Raw)", f"{f['naive_cpu_ms_per_msg']:.2f} ms",
              f"{f['naive_rate']:g}/s one at a time", None),
        _line("client CPU: naive ÷ ours", f"{f['cpu_ratio']:g}×", "≥ 60×", f["cpu_ratio"] >= 60),
        *call_lines(f, _line),
        _line("worker peak RSS", f"{f['peak_rss_mb']:.0f} MB", "≤ 150 MB, flat",
              f["peak_rss_mb"] <= 150),
        _line("  RSS (MB) after sent", " ".join(f"{n // 1000}k:{mb:g}" for n, mb in
                                               f["scale"]["rss_samples"]) or "-", "", None),
        _line("  unthrottled send", f"{f['scale']['rate']:g}/s",
              f"{f['scale']['cpu_ms_per_msg']:.3f} ms CPU/msg", None),
        *event_lines(f),
        *sqs_lines(f),
        stats,
        page,
        first,
        tallies,
    ]
    return "\n".join(rows)


def sqs_lines(f: dict[str, Any]) -> list[str]:
    """SES events through SQS (moto's server): correctness across a kill -9, not speed."""
    if "sqs_lost" not in f:
        return []
    ok = f["sqs_lost"] == 0 and f["sqs_applied_twice"] == 0
    return [_line("SQS path (moto server → worker → applied)", f"{f['sqs_events_per_s']:g}/s",
                  f"0 lost, 0 twice across kill -9: {f['sqs_lost']}, {f['sqs_applied_twice']}",
                  ok)]
