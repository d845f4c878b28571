"""`yuebao worker` runs on an application without the web pages, and loads none of what only
pages (or only other commands) use: that stays out of the worker's resident memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from flask.cli import ScriptInfo

from tests.conftest import app_config
from webapp import create_app
from webapp.cli import main
from webapp.db import database

# Loaded by the web application or other commands, never by a worker that sends, applies SES's
# raw events and runs the scheduler: the consoles and API, alembic (migrations), Pillow (logo
# uploads), cryptography (SNS signatures, webhook secrets: loaded when first used).
WEB_ONLY = ("webapp.admin", "webapp.api", "webapp.editor", "webapp.public", "webapp.auth",
            "webapp.hooks", "alembic", "PIL", "cryptography", "marshmallow", "apispec")


def test_the_worker_app_has_no_pages_and_only_the_worker_command(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(app_config(database_url, tmp_path), web=False)
    try:
        assert app.blueprints == {}
        assert [rule.endpoint for rule in app.url_map.iter_rules()] == ["static"]
        assert sorted(app.cli.commands) == ["worker"]
        assert "babel" in app.extensions  # system mails are translated
    finally:
        database(app).engine.dispose()


def test_yuebao_worker_gets_the_worker_app_and_other_commands_the_whole_app(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app_config(database_url, tmp_path).items():
        monkeypatch.setenv(name, str(value))
    apps = {}
    for command in ("worker", "users"):
        with main.make_context("yuebao", [command]) as ctx:
            assert main.get_command(ctx, command) is not None
            apps[command] = ctx.ensure_object(ScriptInfo).load_app()
    try:
        assert apps["worker"].blueprints == {}
        assert "admin" in apps["users"].blueprints
        assert "worker" in apps["users"].cli.commands
    finally:
        for app in apps.values():
            database(app).engine.dispose()


def test_a_worker_process_never_imports_what_only_pages_use(
    database_url: str, tmp_path: Path
) -> None:
    # A fresh interpreter: this one has imported everything already.
    script = (
        "import json, sys\n"
        "from webapp import create_app\n"
        "import webapp.delivery.runner\n"
        "create_app(json.loads(sys.argv[1]), web=False)\n"
        "web_only = tuple(sys.argv[2:])\n"
        "inside = tuple(name + '.' for name in web_only)\n"
        "print(json.dumps(sorted(m for m in sys.modules if (m + '.').startswith(inside))))\n"
    )
    config = json.dumps(app_config(database_url, tmp_path))
    done = subprocess.run([sys.executable, "-c", script, config, *WEB_ONLY], capture_output=True,
                          text=True, check=True, cwd=Path(__file__).parent.parent)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
