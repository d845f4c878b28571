"""A whole send in a worker process of its own, with its memory sampled as it goes.

Run as `python -m tests.tools.bench.scale CONFIG_JSON EDITION_ID`: the parent passes the app config
(database, simulator endpoint); this process builds the engine exactly as `yuebao worker` does,
sends every queued delivery, and prints one JSON line: messages, seconds, CPU, peak RSS and the
resident size at every tenth of the way, so "flat as N grows" can be read off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def peak_rss_mb() -> float:
    """This process's highest resident size (VmHWM). Not getrusage's ru_maxrss: Linux carries
    that over `exec`, so a child started from the bench reported the bench's own size when it
    forked (a 1,000,000-reader run: 203 MB, while the child itself never passed 115 MB)."""
    with open("/proc/self/status") as status:
        for row in status:
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


class RssSampler(threading.Thread):
    """The resident size every few milliseconds: the highest seen, and how many messages were
    sent then, so a transient peak between the tenths can be placed."""

    def __init__(self, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.interval, self.sent, self.peak, self.peak_at = interval, 0, 0.0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            now = rss_mb()
            if now > self.peak:
                self.peak, self.peak_at = now, self.sent


class Traced:
    """`BENCH_TRACEMALLOC=1`: Python's own allocations at the highest point seen between
    batches (the next batch's calls are out then), by where they were made."""

    def __init__(self) -> None:
        import tracemalloc

        self.tracemalloc = tracemalloc
        tracemalloc.start(12)
        self.high = 0
        self.snapshot: Any = None

    def look(self) -> None:
        current = self.tracemalloc.get_traced_memory()[0]
        if current > self.high:
            self.high, self.snapshot = current, self.tracemalloc.take_snapshot()

    def top(self, count: int = 12) -> list[str]:
        if self.snapshot is None:
            return []
        lines = [f"traced {self.high / 2**20:.1f} MB"]
        for stat in self.snapshot.statistics("traceback")[:count]:
            frames = [f"{f.filename.split('site-packages/')[-1]}:{f.lineno}"
                      for f in stat.traceback if "/tracemalloc" not in f.filename]
            lines.append(f"{stat.size / 2**20:.2f} MB {stat.count} blocks: "
                         + " < ".join(frames[-1:-7:-1]))
        return lines


def smaps_rollup_kb() -> dict[str, int]:
    """What the process maps, by kind (Rss, Pss, Anonymous, ...), in KiB."""
    figures: dict[str, int] = {}
    with open("/proc/self/smaps_rollup") as rollup:
        for row in rollup:
            name, _, rest = row.partition(":")
            if rest.strip().endswith("kB"):
                figures[name] = int(rest.split()[0])
    return {name: figures[name] for name in ("Rss", "Anonymous", "Shared_Clean",
                                              "Private_Clean", "Private_Dirty") if name in figures}


def main(config: dict[str, Any], edition_id: int, planned: int) -> dict[str, Any]:
    startup = {"interpreter": round(rss_mb(), 1)}
    from webapp import create_app
    from webapp.config import settings_of
    from webapp.db import database
    from webapp.delivery.engine import RunResult
    from webapp.delivery.memory import limit_malloc_arenas
    from webapp.delivery.runner import build_engine

    startup["imports"] = round(rss_mb(), 1)
    limit_malloc_arenas()  # as `yuebao worker` does
    app = create_app(config, web=False)  # as `yuebao worker` builds it
    startup["create_app"] = round(rss_mb(), 1)
    samples: list[tuple[int, float]] = []
    step = max(1, planned // 10)
    next_at = step

    sampler = RssSampler()
    traced = Traced() if os.environ.get("BENCH_TRACEMALLOC") else None

    def progress(result: RunResult) -> None:
        nonlocal next_at
        sampler.sent = result.sent
        if traced is not None:
            traced.look()
        if result.sent >= next_at:
            samples.append((result.sent, round(rss_mb(), 1)))
            next_at += step

    with app.app_context():
        engine = build_engine(settings_of(app), database(app).sessionmaker, on_progress=progress)
        start_rss = rss_mb()
        startup["build_engine"] = round(start_rss, 1)
        sampler.start()
        cpu0, start = time.process_time(), time.monotonic()
        result = engine.run(edition_id)
        elapsed = time.monotonic() - start
        cpu = time.process_time() - cpu0
        sampler.done.set()
    return {
        "sent": result.sent,
        "finished": result.finished,
        "seconds": round(elapsed, 1),
        "rate": round(result.sent / elapsed, 1),
        "cpu_ms_per_msg": round(cpu / max(result.sent, 1) * 1000, 3),
        "rss_start_mb": round(start_rss, 1),
        "rss_samples": samples,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        # Sampled every 5 ms through the send (getrusage's peak also counts the start-up).
        "sampled_peak_rss_mb": round(sampler.peak, 1),
        "sampled_peak_at_sent": sampler.peak_at,
        "concurrency": engine.config.concurrency,
        "startup_rss_mb": startup,
        "smaps_rollup_kb": smaps_rollup_kb(),
        **({"traced": traced.top()} if traced is not None else {}),
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
