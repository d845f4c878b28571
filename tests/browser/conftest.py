"""A live server on a loopback port and headless Debian Chromium, for reader journeys."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import app_config
from tests.support.browser import chromium  # noqa: F401  (the `browser` fixture)
from webapp import create_app
from webapp.config import install, settings_of
from webapp.db import database

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture
def live_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app as in production (CSRF, rate limits) served by werkzeug in a thread; BASE_URL is
    the server's own address."""
    config = app_config(
        database_url, tmp_path, TESTING=False, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=True
    )
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    install(app, replace(settings_of(app), base_url=f"http://127.0.0.1:{server.server_port}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(timeout=5)
        database(app).engine.dispose()
