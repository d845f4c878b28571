"""`--rss-only`: a worker's memory through a whole unthrottled send, and nothing else.

Populates, plans, and runs the send in a fresh worker process (`scale.run_in_child`, built as
`yuebao worker` builds it) against the simulator with no rate limit and no latency: the most
calls in flight, the highest resident size. Reported: the resident size before the first call,
the peak sampled every 5 ms through the send and what the process maps at the end
(`/proc/self/smaps_rollup`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.tools.bench import scale
from tests.tools.bench.simproc import SimulatorProcess

TARGET_MB = 150.0  # issue 22: worker peak RSS for an unthrottled send of any size


def rss_only(
    options: Any, config: Callable[[str, str, str], dict[str, str]], out: dict[str, Any]
) -> dict[str, Any]:
    """Populate, plan and send it all in a worker process of its own; its memory figures."""
    from tests.tools.bench.population import planned_sample, throwaway_database
    from webapp import create_app
    from webapp.db import database
    from webapp.models import utcnow

    with throwaway_database(options.postgres) as db, SimulatorProcess(
        rate=1e9, latency_ms=0.0
    ) as sim:
        out["database"] = db.dialect
        env = config(db.url, str(db.root), sim.endpoint_url)
        app = create_app(env)
        sessions = database(app).sessionmaker
        with app.app_context(), sessions() as session:
            options.log(f"populating {options.readers} readers")
            edition_id, out["planned"] = planned_sample(session, options.readers, utcnow())
        database(app).engine.dispose()
        options.log("the send in a worker process (unthrottled simulator)")
        worker = scale.run_in_child(env, edition_id, out["planned"])
    out["scale"] = worker
    out["peak_rss_mb"] = worker["peak_rss_mb"]
    return out


def rss_lines(f: dict[str, Any], line: Callable[[str, str, str, bool | None], str]) -> list[str]:
    w = f["scale"]
    peak = w["sampled_peak_rss_mb"]
    lines = [
        f"bench — worker memory, {f['planned']:,} planned on {f['database']}, "
        f"{w['concurrency']} calls in flight, unthrottled",
        "",
        line("worker RSS before the first call", f"{w['rss_start_mb']:.1f} MB", "", None),
        line("worker peak RSS (sampled every 5 ms)", f"{peak:.1f} MB",
             f"≤ {TARGET_MB:g} MB", peak <= TARGET_MB),
        line("worker peak RSS (getrusage, with start-up)", f"{w['peak_rss_mb']:.1f} MB", "",
             None),
        line("sent", f"{w['sent']:,} in {w['seconds']:g} s", f"{w['rate']:g}/s", None),
        "RSS at each tenth (sent → MB): "
        + "; ".join(f"{sent:,} → {mb}" for sent, mb in w["rss_samples"]),
    ]
    for name, mb in w.get("startup_rss_mb", {}).items():
        lines.append(f"  start-up: {name:<40} {mb:.1f} MB")
    for name, kb in w.get("smaps_rollup_kb", {}).items():
        lines.append(f"  smaps_rollup at the end: {name:<22} {kb / 1024:.1f} MB")
    lines += [f"  {entry}" for entry in w.get("traced", [])]
    return lines
