"""`python -m tests.tools.bench.hook_cpu`: where /hooks/ses spends its CPU, on PostgreSQL.

Two measurements over the same signed SES Delivery notifications (tests/tools/bench/sqs.py's
builder, the simulator's test identity), each on a throwaway PostgreSQL server:

- in-process: the app's WSGI callable called directly, `time.process_time()` over every
  request (the environ is built before the clock), optionally under cProfile (`--profile N`
  prints the top N functions by their own time);
- through gunicorn, for each `--gunicorn` option set (`ingest.post_through_gunicorn`): the
  gunicorn processes' CPU per event (PostgreSQL's is not counted), alternated `--repeat` times
  so a load that moves hits every set alike.

The events need no deliveries: the hook only stores them.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import os
import pstats
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from tests.tools.bench.ingest import TOPIC, post_through_gunicorn, procfile_web_options
from tests.tools.bench.population import throwaway_database
from tests.tools.bench.sqs import signed_delivery_events
from tests.tools.ses_simulator import sns


def _bodies(count: int, offset: int) -> tuple[list[bytes], bytes]:
    identity = sns.default_identity()
    pairs = [(n, f"bench-{n}") for n in range(offset, offset + count)]
    bodies = signed_delivery_events(pairs, identity, TOPIC, version="1")
    return [body.encode() for body in bodies], identity.cert_pem


def _environ(body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/hooks/ses", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "text/plain; charset=UTF-8", "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
    }


def in_process(env: dict[str, str], bodies: list[bytes], profile: int) -> dict[str, Any]:
    from webapp import create_app

    app = create_app(env)
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc: Any = None, /
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda data: None

    warm, timed = bodies[:200], bodies[200:]
    for body in warm:
        b"".join(app.wsgi_app(_environ(body), start_response))
    profiler = cProfile.Profile(time.process_time) if profile else None
    rounds = []  # CPU ms per event of each round of 500: the load moves, the minimum less
    cpu_all, wall = 0.0, time.monotonic()
    for start in range(0, len(timed), 500):
        environs = [_environ(body) for body in timed[start:start + 500]]
        if profiler is not None:
            profiler.enable()
        cpu = time.process_time()
        for environ in environs:
            b"".join(app.wsgi_app(environ, start_response))
        cpu = time.process_time() - cpu
        if profiler is not None:
            profiler.disable()
        cpu_all += cpu
        rounds.append(cpu * 1000 / len(environs))
    cpu, wall = cpu_all, time.monotonic() - wall
    refused = sum(1 for status in statuses if not status.startswith("200"))
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(profile)
        click.echo(out.getvalue(), err=True)
    return {"requests": len(timed), "refused": refused, "profiled": bool(profile),
            "cpu_ms_per_event": round(cpu * 1000 / len(timed), 4),
            "cpu_ms_per_event_min": round(min(rounds), 4),
            "cpu_ms_per_event_median": round(statistics.median(rounds), 4),
            "wall_ms_per_event": round(wall * 1000 / len(timed), 4)}


def _recorder(
    py_spy: str, out: Path
) -> Callable[[Sequence[int]], contextlib.AbstractContextManager[object]]:
    """py-spy record of each worker while the events are posted (its own CPU is not counted:
    it is another process), written as speedscope-free raw text to out/hook-py-spy-PID.txt."""

    @contextlib.contextmanager
    def record(pids: Sequence[int]) -> Iterator[None]:
        spies = [subprocess.Popen([py_spy, "record", "--pid", str(pid), "--rate", "250",
                                   "--format", "raw", "--output",
                                   str(out / f"hook-py-spy-{pid}.txt"), "--nonblocking"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for pid in pids]
        time.sleep(1.0)
        try:
            yield
        finally:
            for spy in spies:
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                spy.wait(timeout=60)

    return record


@click.command()
@click.option("--events", default=3000, show_default=True, help="Events per measurement.")
@click.option("--profile", default=0, help="In-process under cProfile: print this many rows.")
@click.option("--no-in-process", is_flag=True, help="Only the gunicorn measurements.")
@click.option("--gunicorn", "option_sets", multiple=True,
              help="gunicorn options for one measurement, e.g. '--workers 2 --threads 4'; "
                   "repeat for several. Default: the Procfile's web line's.")
@click.option("--py-spy", "py_spy", help="py-spy's path: record each gunicorn worker (once).")
@click.option("--gunicorn-config", "config_extra", type=click.Path(exists=True),
              help="Python appended to the bench's gunicorn config (a profiler's hooks, say).")
@click.option("--repeat", default=1, show_default=True, help="Rounds over the option sets.")
def main(events: int, profile: int, no_in_process: bool, option_sets: tuple[str, ...],
         repeat: int, py_spy: str | None, config_extra: str | None) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    results: list[dict[str, Any]] = []
    with throwaway_database(True) as db:
        env = {
            "DATABASE_URL": db.url, "SECRET_KEY": "bench-secret", "ERASURE_KEY": "bench-erasure",
            "YUEBAO_VAR_DIR": f"{db.root}/var", "BASE_URL": "https://news.example.com",
            "LOG_LEVEL": "WARNING", "SNS_TOPIC_ARNS": TOPIC,
        }
        offset = 0
        if not no_in_process:
            bodies, cert_pem = _bodies(events + 200, offset)
            offset += len(bodies)
            cert = Path(db.root) / "in-process-cert.pem"
            cert.write_bytes(cert_pem)
            figures = in_process({**env, "SNS_TEST_CERT": str(cert)}, bodies, profile)
            results.append({"in_process": figures, "load": os.getloadavg()})
            click.echo(json.dumps(results[-1]), err=True)
        for _ in range(repeat):
            for options in option_sets or (shlex.join(procfile_web_options()),):
                bodies, cert_pem = _bodies(events, offset)
                offset += len(bodies)
                args = shlex.split(options)
                around = _recorder(py_spy, Path("/tmp")) if py_spy else None
                py_spy = None
                figures = post_through_gunicorn(
                    env, Path(db.root), bodies, cert_pem, options=args, around=around,
                    config_extra=Path(config_extra).read_text() if config_extra else "")
                results.append({"gunicorn": options, "load": os.getloadavg(), **figures})
                click.echo(json.dumps(results[-1]), err=True)
    click.echo(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
