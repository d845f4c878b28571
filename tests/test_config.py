from __future__ import annotations

from pathlib import Path

import pytest

from webapp import create_app
from webapp.config import ConfigError, load_config


def test_development_generates_and_keeps_secrets(tmp_path: Path) -> None:
    env = {"YUEBAO_VAR_DIR": str(tmp_path / "var")}
    first = load_config(env)
    second = load_config(env)
    assert len(first["SECRET_KEY"]) >= 40
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert first["ERASURE_KEY"] != first["SECRET_KEY"]
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    assert first["DATABASE_URL"].startswith("sqlite:///")
    assert first["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "ERASURE_KEY"])
def test_production_refuses_missing_secrets(missing: str, tmp_path: Path) -> None:
    env = {
        "YUEBAO_ENV": "production",
        "YUEBAO_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "s" * 40,
        "ERASURE_KEY": "e" * 40,
        "DATABASE_URL": "postgresql://db/yuebao",
    }
    del env[missing]
    with pytest.raises(ConfigError, match=missing):
        load_config(env)
    assert not (tmp_path / "secret_key").exists()


def test_production_turns_on_secure_cookies_and_hsts(tmp_path: Path) -> None:
    app = create_app(
        {
            "YUEBAO_ENV": "production",
            "SECRET_KEY": "s" * 40,
            "ERASURE_KEY": "e" * 40,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_production_refuses_the_test_certificate() -> None:
    env = {
        "YUEBAO_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "ERASURE_KEY": "e" * 40,
        "DATABASE_URL": "postgresql://db/yuebao",
        "SNS_TEST_CERT": "/tmp/cert.pem",
    }
    with pytest.raises(ConfigError, match="SNS_TEST_CERT"):
        load_config(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [("YUEBAO_ENV", "staging"), ("MAIL_TRANSPORT", "smtp"), ("TRUSTED_PROXIES", "two")],
)
def test_bad_values_are_named(name: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({"YUEBAO_VAR_DIR": str(tmp_path), name: value})


def test_defaults_follow_the_design(tmp_path: Path) -> None:
    config = load_config({"YUEBAO_VAR_DIR": str(tmp_path)})
    assert config["BASE_URL"] == "http://127.0.0.1:5000"
    assert config["TIMEZONE"] == "Asia/Shanghai"
    assert config["MAIL_TRANSPORT"] == "outbox"
    assert config["OUTBOX_DIR"] == str(tmp_path / "outbox")
    assert config["TRACKING"] is True
    assert config["BOUNCE_SUPPRESS_AFTER"] == 3
    assert config["IN_DOUBT_WAIT_MINUTES"] == 30
    assert config["UNCONFIRMED_RETENTION_DAYS"] == 7
    assert config["SNS_MAX_AGE_HOURS"] == 24
    assert config["UNSUBSCRIBE_MAILTO"] is None


def test_trusted_proxies_sets_the_client_address(tmp_path: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "ERASURE_KEY": "e",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "TRUSTED_PROXIES": 1,
        }
    )
    seen: list[str | None] = []

    @app.get("/_ip")
    def _ip() -> str:
        from flask import request

        seen.append(request.remote_addr)
        return "ok"

    app.test_client().get("/_ip", headers={"X-Forwarded-For": "203.0.113.9"})
    assert seen == ["203.0.113.9"]
