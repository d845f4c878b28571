"""A whole send in a worker process of its own, with its memory sampled as it goes.

Run as `python -m tests.tools.bench.scale CONFIG_JSON EDITION_ID`: the parent passes the app config
(database, simulator endpoint); this process builds the engine exactly as `yuebao worker` does,
sends every queued delivery, and prints one JSON line: messages, seconds, CPU, peak RSS and the
resident size at every tenth of the way, so "flat as N grows" can be read off.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(config: dict[str, Any], edition_id: int, planned: int) -> dict[str, Any]:
    from webapp import create_app
    from webapp.config import settings_of
    from webapp.db import database
    from webapp.delivery.engine import RunResult
    from webapp.delivery.memory import limit_malloc_arenas
    from webapp.delivery.runner import build_engine

    limit_malloc_arenas()  # as `yuebao worker` does
    app = create_app(config)
    samples: list[tuple[int, float]] = []
    step = max(1, planned // 10)
    next_at = step

    def progress(result: RunResult) -> None:
        nonlocal next_at
        if result.sent >= next_at:
            samples.append((result.sent, round(rss_mb(), 1)))
            next_at += step

    with app.app_context():
        engine = build_engine(settings_of(app), database(app).sessionmaker, on_progress=progress)
        start_rss = rss_mb()
        cpu0, start = time.process_time(), time.monotonic()
        result = engine.run(edition_id)
        elapsed = time.monotonic() - start
        cpu = time.process_time() - cpu0
    return {
        "sent": result.sent,
        "finished": result.finished,
        "seconds": round(elapsed, 1),
        "rate": round(result.sent / elapsed, 1),
        "cpu_ms_per_msg": round(cpu / max(result.sent, 1) * 1000, 3),
        "rss_start_mb": round(start_rss, 1),
        "rss_samples": samples,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def run_in_child(config: dict[str, Any], edition_id: int, planned: int) -> dict[str, Any]:
    """Run main() in a fresh interpreter and return what it printed."""
    command = [sys.executable, "-m", "tests.tools.bench.scale", json.dumps(config),
               str(edition_id), str(planned)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scale worker failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    figures = main(json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
    print(json.dumps(figures), flush=True)
