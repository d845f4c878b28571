"""`python -m tests.tools.bench` (`make bench`, `make bench-full`): the performance benchmark.

BENCHMARKS.md says what it measures. With `--json`, standard output holds only the JSON object;
progress goes to standard error.
"""

from __future__ import annotations

import json

import click

from tests.tools.bench.report import text_report
from tests.tools.bench.run import BenchOptions, run_bench


@click.command("bench", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", "mode", flag_value="quick", default=True,
              help="20,000 readers, 5 s windows (about a minute or two).")
@click.option("--full", "mode", flag_value="full", help="1,000,000 readers, 30 s windows.")
@click.option("--readers", type=click.IntRange(min=1000), help="Override the number of readers.")
@click.option("--window", type=click.FloatRange(min=1.0), help="Seconds per sending window.")
@click.option("--postgres", is_flag=True, help="A throwaway PostgreSQL server, not SQLite.")
@click.option("--stats-only", is_flag=True,
              help="Only plan, mark every delivery sent, load events and time the dashboard.")
@click.option("--events-only", is_flag=True,
              help="Only SNS ingest through gunicorn and the events applied from the inbox.")
@click.option("--forms-only", is_flag=True,
              help="Only time the public forms that mail, for known and unknown addresses.")
@click.option("--form-requests", type=click.IntRange(min=5),
              help="Requests per form for each of known and unknown addresses.")
@click.option("--rates-only", is_flag=True, help="Only plan and the sending windows.")
@click.option("--rss-only", is_flag=True, help="Only plan and send it all in a worker process "
              "(its memory, unthrottled).")
@click.option("--calls-only", is_flag=True,
              help="Only one SendBulkEmail call's transport CPU, token and slots forms.")
@click.option("--rates", "rate_list", help="Target rates, comma-separated (e.g. 100,2000,5000).")
@click.option("--workers", "worker_list", help="Worker processes per rate, comma-separated (1,2).")
@click.option("--plan-only", is_flag=True,
              help="Only populate, plan the send and report its time and the database's size.")
@click.option("--explain", is_flag=True, help="With --plan-only: EXPLAIN ANALYZE the plan too.")
@click.option("--default-server", is_flag=True,
              help="With --plan-only: PostgreSQL's default buffers, not a server sized for it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def main(mode: str, readers: int | None, window: float | None, postgres: bool,
         stats_only: bool, events_only: bool, forms_only: bool, form_requests: int | None,
         rate_list: str | None, worker_list: str | None, rates_only: bool, calls_only: bool,
         plan_only: bool, rss_only: bool,
         explain: bool, default_server: bool, as_json: bool) -> None:
    """Measure planning, fill, paced sending, memory, SNS ingest and stats on a synthetic list,
    and how long the public forms take for known and unknown addresses."""
    overrides: dict[str, object] = {"postgres": postgres, "stats_only": stats_only,
                                    "forms_only": forms_only, "events_only": events_only,
                                    "rates_only": rates_only, "calls_only": calls_only,
                                    "plan_only": plan_only, "rss_only": rss_only,
                                    "explain": explain, "sized_server": not default_server}
    if readers:
        overrides["readers"] = readers
    if form_requests:
        overrides["form_requests"] = form_requests
    if window:
        overrides["window"] = window
    if rate_list:
        overrides["rates"] = tuple(float(r) for r in rate_list.split(","))
    if worker_list:
        overrides["workers"] = tuple(int(w) for w in worker_list.split(","))
    if not as_json:
        overrides["log"] = lambda line: click.echo(f"… {line}", err=True)
    options = (BenchOptions.full if mode == "full" else BenchOptions.quick)(**overrides)
    figures = run_bench(options)
    click.echo(json.dumps(figures, indent=2) if as_json else text_report(figures))


if __name__ == "__main__":
    main(prog_name="python -m tests.tools.bench")
