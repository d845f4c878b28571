"""Sending windows in worker processes: each target rate with one and with several workers.

Each worker is a fresh interpreter built as `yuebao worker` builds its engine (two malloc
arenas, `build_engine`: GetAccount, the shared database schedule, SendBulkEmail through boto3),
so its CPU time is its own and several of them share the one rate the way production workers
do. The parent starts them, waits until every one has built its engine, then lets them go
together for the window; each stops itself when the window ends and prints what it did.

Figures per window: the achieved rate (messages settled after a warm-up second, from the
deliveries' `sent_at`, over all workers), throttled requests (the simulator's 429 answers),
client CPU per message (the workers' CPU over the messages they sent) and the simulator's own
CPU per message (its process's user + system time from /proc), so which side of the two cores
is the limit can be read off.

With `BENCH_PROFILE_DIR` set, py-spy samples every worker and the simulator through each
window (folded stacks, one file each). Run as
`python -m tests.tools.bench.rate_workers CONFIG_JSON EDITION_ID SECONDS` (one worker; the
parent does this).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from tests.tools.bench.rates import WARM_UP, _reset_bucket, _settled_rate
from tests.tools.bench.simproc import SimulatorProcess

TICK = os.sysconf("SC_CLK_TCK")
FULL_RATES = (100.0, 1000.0, 2000.0, 5000.0)
FULL_WORKERS = (1, 2)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def _worker(config: dict[str, Any], edition_id: int, seconds: float) -> dict[str, Any]:
    """One worker's window: build the engine, say so, wait for the go, send, report."""
    import threading

    from tests.tools.bench.scale import peak_rss_mb
    from webapp import create_app
    from webapp.config import settings_of
    from webapp.db import database
    from webapp.delivery.memory import limit_malloc_arenas
    from webapp.delivery.runner import build_engine

    limit_malloc_arenas()  # as `yuebao worker` does
    app = create_app(config, web=False)  # as `yuebao worker` builds it
    stop = threading.Event()
    with app.app_context():
        engine = build_engine(settings_of(app), database(app).sessionmaker, stop=stop)
        warmed = _warm_variants(engine, database(app).sessionmaker, edition_id, seconds)
        print("ready", flush=True)
        sys.stdin.readline()  # the go: every worker starts together
        timer = threading.Timer(seconds, stop.set)
        profile = _cpu_profile(os.environ.get("BENCH_CPU_PROFILE"))
        compiles = _count_compiles()
        cpu0 = time.process_time()
        timer.start()
        result = engine.run(edition_id)
        cpu = time.process_time() - cpu0
        timer.cancel()
        profile()
    # First compiles of variants the warm-up did not reach: once per variant per worker in
    # production too, where ~8,000 readers a variant share each (here a few hundred).
    steady = cpu - compiles.cpu_s
    return {
        "sent": result.sent, "retried": result.retried, "cpu_s": round(steady, 3),
        "cpu_with_compiles_s": round(cpu, 3), "compiles": compiles.count,
        "compile_cpu_s": round(compiles.cpu_s, 3),
        "chunk": engine.config.chunk_size, "concurrency": engine.config.concurrency,
        "batch": engine.config.chunk_size * engine.config.concurrency
        * engine.config.batch_chunks,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "warmed_variants": warmed[0], "warm_up_cpu_s": round(warmed[1], 3),
    }


class _Compiles:
    count = 0
    cpu_s = 0.0


def _count_compiles() -> _Compiles:
    """Count the variants the engine compiles from now on, and their CPU (the compiling
    thread's own time: a compile runs in one thread, start to end)."""
    from webapp.delivery import engine as engine_module

    tally = _Compiles()
    compile_variant = engine_module.compile_variant  # type: ignore[attr-defined]

    def counted(*args: Any, **kwargs: Any) -> Any:
        began = time.thread_time()
        try:
            return compile_variant(*args, **kwargs)
        finally:
            tally.count += 1
            tally.cpu_s += time.thread_time() - began

    engine_module.compile_variant = counted  # type: ignore[attr-defined]
    return tally


def _warm_variants(engine: Any, sessions: sessionmaker[Session], edition_id: int,
                   seconds: float) -> tuple[int, float]:
    """Before the clock: compile the variants the window will meet first, as many as the
    engine keeps (VARIANT_CACHE), sending nothing. A worker compiles each variant once per
    send (~10-40 ms): a million-reader send spreads that over ~8,000 readers a variant, a
    short window over a few hundred, so a window's CPU would be mostly first compiles.
    Variants beyond the cache still compile inside the window. Returns how many were
    compiled and the CPU seconds that took (reported, not counted in the window)."""
    from sqlalchemy import select

    from webapp.delivery.engine import VARIANT_CACHE
    from webapp.models import Delivery, DeliveryStatus

    cpu0 = time.process_time()
    horizon = int(engine.config.rate * seconds * 1.5)
    first: list[str] = []
    with sessions() as session:  # streamed: the horizon is 225,000 rows at 5,000/s
        keys = session.scalars(
            select(Delivery.variant_key)
            .where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.QUEUED)
            .order_by(Delivery.id).limit(horizon).execution_options(yield_per=2000)
        )
        for key in keys:
            if key not in first:
                first.append(key)
                if len(first) == VARIANT_CACHE:
                    break
        keys.close()
    content = engine._content(edition_id)
    for key in first:
        engine._variant(content, key)
    return len(first), time.process_time() - cpu0


def _cpu_profile(path: str | None) -> Callable[[], None]:
    """With `BENCH_CPU_PROFILE` set (and yappi importable, e.g. from a `pip install --target`
    directory on PYTHONPATH): the CPU time of every function in every thread through the
    window, written to that path, most costly first; returns what stops it."""
    if not path:
        return lambda: None
    import yappi

    yappi.set_clock_type("cpu")
    yappi.start()

    def done() -> None:
        yappi.stop()
        stats = yappi.get_func_stats()
        with open(path, "w") as out:
            for key in ("ttot", "tsub"):
                stats.sort(key, "desc")
                out.write(f"--- by {key}\n")
                for row in list(stats)[:120]:
                    out.write(f"{row.ttot:8.3f} {row.tsub:8.3f} {row.ncall:>8} "
                              f"{row.name} {row.module}:{row.lineno}\n")

    return done


def _profilers(pids: dict[str, int], seconds: float, directory: str | None,
               label: str) -> list[subprocess.Popen[bytes]]:
    """py-spy (`BENCH_PY_SPY`, or on the PATH) sampling each process for the window, folded
    stacks written to `directory` (`BENCH_PY_SPY_ARGS` adds options, e.g. `--idle`); none
    when no directory was asked for or py-spy is missing."""
    spy = os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")
    if not directory or not spy:
        return []
    os.makedirs(directory, exist_ok=True)
    return [
        subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                          "--rate", "200", "--format", "raw", "--nonblocking", "--threads",
                          "--output", f"{directory}/{label}-{name}.txt",
                          *os.environ.get("BENCH_PY_SPY_ARGS", "").split()],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, pid in pids.items()
    ]


def send_window(
    config: dict[str, Any], sessions: sessionmaker[Session], sim: SimulatorProcess,
    edition_id: int, rate: float, seconds: float, latency: float, workers: int,
    *, profile_dir: str | None = None,
) -> dict[str, Any]:
    """`workers` worker processes sending at `rate` together for `seconds`."""
    # The workers' warnings go to a file: a pipe could fill and block them.
    with tempfile.TemporaryFile("w+") as logs:
        return _send_window(config, sessions, sim, edition_id, rate, seconds, latency, workers,
                            logs, profile_dir)


def _send_window(
    config: dict[str, Any], sessions: sessionmaker[Session], sim: SimulatorProcess,
    edition_id: int, rate: float, seconds: float, latency: float, workers: int,
    logs: IO[str], profile_dir: str | None,
) -> dict[str, Any]:
    from webapp.models import utcnow

    sim.configure(max_send_rate=rate, latency=latency, jitter=0.0)
    _reset_bucket(sessions)
    children = []
    for _ in range(workers):
        command = [sys.executable, "-m", "tests.tools.bench.rate_workers", json.dumps(config),
                   str(edition_id), str(seconds)]
        children.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=logs, text=True))
    for child in children:  # each has built its engine (and asked GetAccount)
        line = child.stdout.readline() if child.stdout else ""
        if line.strip() != "ready":
            _kill(children)
            raise RuntimeError(f"rate worker failed: {_tail(logs)}")
    sim.reset()
    load = os.getloadavg()[0]
    sim_cpu0 = process_cpu_s(sim.process.pid)
    began = utcnow()
    for child in children:
        assert child.stdin is not None  # nosec B101: opened with a pipe
        child.stdin.write("go\n")
        child.stdin.flush()
    pids = {"sim": sim.process.pid} | {f"worker{n}": c.pid for n, c in enumerate(children)}
    spies = _profilers(pids, seconds, profile_dir, f"{rate:g}x{workers}")
    reports = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"rate worker failed: {_tail(logs)}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    sim_cpu = process_cpu_s(sim.process.pid) - sim_cpu0
    for spy in spies:
        spy.wait()
    achieved = _settled_rate(sessions, edition_id, began + timedelta(seconds=WARM_UP))
    counts = sim.stats()
    requests = int(counts.get("requests", 0))
    throttled = int(counts.get("requests.429", 0))
    sent = sum(r["sent"] for r in reports)
    cpu = sum(r["cpu_s"] for r in reports)
    return {
        "rate_target": rate,
        "workers": workers,
        "rate_achieved": round(achieved, 1),
        "rate_ratio": round(achieved / rate, 4),
        "sent": sent,
        "requests": requests,
        "throttled": throttled,
        "throttled_ratio": round(throttled / max(1, requests), 5),
        "retried": sum(r["retried"] for r in reports),
        # Steady state: without the first compiles of variants met inside the window (their
        # CPU is kept beside it, and in the figure with them).
        "cpu_ms_per_msg": round(cpu / max(sent, 1) * 1000, 3),
        "cpu_ms_per_msg_with_compiles": round(
            sum(r["cpu_with_compiles_s"] for r in reports) / max(sent, 1) * 1000, 3),
        "compiles_in_window": sum(r["compiles"] for r in reports),
        "compile_cpu_s": round(sum(r["compile_cpu_s"] for r in reports), 3),
        "worker_cpu_s": [r["cpu_s"] for r in reports],
        "sim_cpu_ms_per_msg": round(sim_cpu / max(sent, 1) * 1000, 3),
        "sim_cpu_s": round(sim_cpu, 2),
        # Cores the target would take at these CPU costs (workers + simulator; not the
        # database), and the machine's load when the window began: others share the cores.
        "cores_needed": round((cpu + sim_cpu) / max(sent, 1) * rate, 2),
        "load_avg": round(load, 1),
        "chunk": reports[0]["chunk"],
        "concurrency": reports[0]["concurrency"],
        "batch": reports[0]["batch"],
        "worker_peak_rss_mb": max(r["peak_rss_mb"] for r in reports),
        "warmed_variants": sum(r["warmed_variants"] for r in reports),
        "warm_up_cpu_s": round(sum(r["warm_up_cpu_s"] for r in reports), 3),
    }


def _tail(logs: IO[str]) -> str:
    logs.seek(0)
    return logs.read()[-3000:]


def _kill(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def windows(
    config: dict[str, Any], sessions: sessionmaker[Session], sim: SimulatorProcess,
    edition_id: int, rates: tuple[float, ...], worker_counts: tuple[int, ...], seconds: float,
    latency: float, say: Any, *, profile_dir: str | None = None,
) -> list[dict[str, Any]]:
    profile_dir = profile_dir or os.environ.get("BENCH_PROFILE_DIR")
    out = []
    for rate in rates:
        for workers in worker_counts:
            say(f"sending at {rate:g}/s for {seconds:g} s with {workers} worker(s)")
            out.append(send_window(config, sessions, sim, edition_id, rate, seconds, latency,
                                   workers, profile_dir=profile_dir))
    return out


def headline(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Today's top-level keys: the worst window's rate, all throttling, and the CPU per
    message at 1,000/s with one worker (the figure the naive baseline is held against)."""
    worst = min(entries, key=lambda w: w["rate_ratio"])
    at_1000 = [w for w in entries if w["rate_target"] == 1000 and w["workers"] == 1]
    return {
        "rate_target": worst["rate_target"], "rate_achieved": worst["rate_achieved"],
        "throttled": sum(w["throttled"] for w in entries),
        "throttled_ratio": max(w["throttled_ratio"] for w in entries),
        "cpu_ms_per_msg": (at_1000 or entries[-1:])[0]["cpu_ms_per_msg"],
    }


def _line(name: str, value: str, target: str, met: bool | None) -> str:
    """As the report's lines (tests.tools.bench.report)."""
    mark = "" if met is None else ("met" if met else "MISSED")
    return f"{name:<44} {value:>18}   {target:<34} {mark}"


def rate_lines(entries: list[dict[str, Any]]) -> list[str]:
    """Each window beside its target: ≥ 98% of the rate, ≤ 0.1% throttled; the CPU of the
    workers and of the simulator per message (the two share the machine's cores)."""
    rows = []
    for w in entries:
        ok = w["rate_ratio"] >= 0.98 and w["throttled_ratio"] <= 0.001
        workers = w.get("workers", 1)
        rows.append(_line(
            f"send at {w['rate_target']:g}/s ×{workers} worker{'s' if workers > 1 else ''} "
            f"(chunk {w['chunk']}, ×{w['concurrency']})",
            f"{w['rate_achieved']:g}/s {w['rate_ratio']:.1%}",
            f"≥ 98%, throttled {w['throttled']}/{w['requests']} (≤ 0.1%)", ok))
        sim = (f", simulator {w['sim_cpu_ms_per_msg']:.3f} ms; needs {w['cores_needed']:g} "
               f"cores, load {w['load_avg']:g}" if "sim_cpu_ms_per_msg" in w else "")
        # The target is at 1,000/s and above: below, a worker's fixed work each second (its
        # heartbeat, the events thread, the schedule) is shared by few messages.
        held = w["rate_target"] >= 1000
        rows.append(_line("  client CPU per message", f"{w['cpu_ms_per_msg']:.3f} ms",
                          f"{'≤ 0.15 ms' if held else 'target at ≥ 1,000/s'}{sim}",
                          w["cpu_ms_per_msg"] <= 0.15 if held else None))
        if w.get("compiles_in_window"):  # first compiles inside the window, apart
            rows.append(_line("    with first compiles of variants",
                              f"{w['cpu_ms_per_msg_with_compiles']:.3f} ms",
                              f"{w['compiles_in_window']} compiled in the window "
                              f"({w['compile_cpu_s']:g} s)", None))
    return rows


def rates_only(
    options: Any, config: Callable[[str, str, str], dict[str, str]], out: dict[str, Any]
) -> dict[str, Any]:
    """`--rates-only`: populate, plan, and the sending windows alone (the bench's options;
    `config` makes the app's configuration from database URL, root and simulator URL)."""
    from tests.tools.bench.population import planned_sample, throwaway_database
    from webapp import create_app
    from webapp.db import database
    from webapp.models import utcnow

    with throwaway_database(options.postgres) as db, SimulatorProcess(
        rate=options.rates[0], latency_ms=options.latency * 1000
    ) as sim:
        out["database"] = db.dialect
        env = config(db.url, str(db.root), sim.endpoint_url)
        app = create_app(env)
        sessions = database(app).sessionmaker
        with app.app_context(), sessions() as session:
            options.log(f"populating {options.readers} readers")
            edition_id, out["planned"] = planned_sample(session, options.readers, utcnow())
        out["rates"] = windows(env, sessions, sim, edition_id, options.rates, options.workers,
                               options.window, options.latency, options.log)
        out.update(headline(out["rates"]))
        database(app).engine.dispose()
    return out


if __name__ == "__main__":
    figures = _worker(json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
    print(json.dumps(figures), flush=True)
