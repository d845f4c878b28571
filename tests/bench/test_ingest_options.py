"""The bench's SNS ingest runs gunicorn as the Procfile's web line does."""

from __future__ import annotations

from pathlib import Path

from tests.tools.bench.ingest import procfile_web_options


def test_the_ingest_bench_takes_the_procfiles_web_options(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "# a comment\n"
        "web: gunicorn --bind 127.0.0.1:${PORT:-5000} --workers ${WEB_CONCURRENCY:-2} "
        "--threads 4 --keep-alive=5 'webapp:create_app()'\n"
        "worker: yuebao worker\n"
    )
    assert procfile_web_options(procfile) == ["--workers", "2", "--threads", "4",
                                              "--keep-alive=5"]


def test_the_shipped_procfile_runs_gunicorn_with_threads_and_no_access_log() -> None:
    options = procfile_web_options()
    assert "--threads" in options
    assert not any(option.startswith("--access-log") for option in options)
