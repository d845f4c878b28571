from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from webapp import create_app
from webapp.config import (
    DEFAULT_WEB_CONCURRENCY,
    ConfigError,
    Settings,
    flask_config,
    load_settings,
    settings_of,
)

# What a production deployment must set beside its secrets.
PRODUCTION = {
    "YUEBAO_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "ERASURE_KEY": "e" * 40,
    "DATABASE_URL": "postgresql://db/yuebao",
    "BASE_URL": "https://newsletter.meritsandtree.com",
    "MAIL_FROM": "植德月报 <report@meritsandtree.com>",
    "ORG_POSTAL_ADDRESS": "北京市东城区东直门南大街 1 号",
    "UNSUBSCRIBE_MAILTO": "unsubscribe@meritsandtree.com",
    # One web process, so the default in-memory rate-limit storage is the real count.
    "WEB_CONCURRENCY": "1",
}


def test_development_generates_and_keeps_secrets(tmp_path: Path) -> None:
    env = {"YUEBAO_VAR_DIR": str(tmp_path / "var")}
    first = load_settings(env)
    second = load_settings(env)
    assert len(first.secret_key) >= 40
    assert first.secret_key == second.secret_key
    assert first.erasure_key != first.secret_key
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    assert first.database_url.startswith("sqlite:///")
    assert flask_config(first)["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "ERASURE_KEY"])
def test_production_refuses_missing_secrets(missing: str, tmp_path: Path) -> None:
    env = {**PRODUCTION, "YUEBAO_VAR_DIR": str(tmp_path)}
    del env[missing]
    with pytest.raises(ConfigError, match=missing):
        load_settings(env)
    assert not (tmp_path / "secret_key").exists()


def test_production_turns_on_secure_cookies_and_hsts(tmp_path: Path) -> None:
    app = create_app({**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_production_refuses_the_test_certificate() -> None:
    env = {**PRODUCTION, "SNS_TEST_CERT": "/tmp/cert.pem"}
    with pytest.raises(ConfigError, match="SNS_TEST_CERT"):
        load_settings(env)


def test_production_accepts_a_real_domain() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.base_url == "https://newsletter.meritsandtree.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BASE_URL", None),  # the embedded default, http://127.0.0.1:5000
        ("BASE_URL", "http://newsletter.meritsandtree.com"),
        ("BASE_URL", "https://127.0.0.1"),
        ("BASE_URL", "https://localhost:8443"),
        ("BASE_URL", "https://[::1]/news"),
        ("MAIL_FROM", None),  # the embedded default, newsletter@localhost
        ("MAIL_FROM", "report@localhost"),
        ("MAIL_FROM", "月报 <report@mailhost>"),
        ("MAIL_FROM", "report"),
        ("ORG_POSTAL_ADDRESS", None),
        ("ORG_POSTAL_ADDRESS", "  "),
    ],
)
def test_production_refuses_unsafe_mail_settings(name: str, value: str | None) -> None:
    env = dict(PRODUCTION)
    del env[name]
    if value is not None:
        env[name] = value
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


@pytest.mark.parametrize("processes", [None, "2", "4"])
@pytest.mark.parametrize("storage", [None, "memory://", "async+memory://"])
def test_production_refuses_rate_limits_counted_per_web_process(
    processes: str | None, storage: str | None
) -> None:
    # Unset WEB_CONCURRENCY means the Procfile's two gunicorn workers; unset storage, memory://.
    env = {k: v for k, v in PRODUCTION.items() if k != "WEB_CONCURRENCY"}
    if processes is not None:
        env["WEB_CONCURRENCY"] = processes
    if storage is not None:
        env["RATELIMIT_STORAGE_URI"] = storage
    with pytest.raises(ConfigError, match=r"RATELIMIT_STORAGE_URI=.*memory://.*WEB_CONCURRENCY="):
        load_settings(env)


@pytest.mark.parametrize(
    ("processes", "storage"),
    [("1", "memory://"), ("4", "redis://cache.internal:6379/0"),
     (None, "memcached://127.0.0.1:11211")],
)
def test_production_accepts_a_shared_store_or_one_web_process(
    processes: str | None, storage: str
) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "WEB_CONCURRENCY"}
    env["RATELIMIT_STORAGE_URI"] = storage
    if processes is not None:
        env["WEB_CONCURRENCY"] = processes
    settings = load_settings(env)
    assert settings.ratelimit_storage_uri == storage
    assert flask_config(settings)["RATELIMIT_STORAGE_URI"] == storage


def test_development_keeps_memory_rate_limits_with_several_processes(tmp_path: Path) -> None:
    settings = load_settings({"YUEBAO_VAR_DIR": str(tmp_path), "WEB_CONCURRENCY": "3"})
    assert (settings.ratelimit_storage_uri, settings.web_concurrency) == ("memory://", 3)


def test_the_procfile_starts_as_many_web_processes_as_the_settings_assume() -> None:
    procfile = (Path(__file__).parents[1] / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    assert f"--workers ${{WEB_CONCURRENCY:-{DEFAULT_WEB_CONCURRENCY}}}" in web


def test_production_warns_without_an_unsubscribe_mailto(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="webapp.config"):
        load_settings(PRODUCTION)
    assert "UNSUBSCRIBE_MAILTO" not in caplog.text
    env = {k: v for k, v in PRODUCTION.items() if k != "UNSUBSCRIBE_MAILTO"}
    with caplog.at_level(logging.WARNING, logger="webapp.config"):
        load_settings(env)
    assert "UNSUBSCRIBE_MAILTO is unset" in caplog.text


@pytest.mark.parametrize("name", ["LIST_ID", "FEEDBACK_ID"])
def test_header_settings_must_be_plain_ascii(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"YUEBAO_VAR_DIR": str(tmp_path), name: "月报.example.com"})


def test_a_feedback_id_set_whole_is_read_as_the_sender_id(tmp_path: Path) -> None:
    env = {"YUEBAO_VAR_DIR": str(tmp_path), "FEEDBACK_ID": "edition:meritsandtree"}
    assert load_settings(env).feedback_id == "meritsandtree"


@pytest.mark.parametrize(
    ("name", "value"),
    [("YUEBAO_ENV", "staging"), ("MAIL_TRANSPORT", "smtp"), ("TRUSTED_PROXIES", "two"),
     ("WORKER_DB_GRACE_SECONDS", "two minutes"), ("WORKER_DB_GRACE_SECONDS", "-1"),
     ("WEB_CONCURRENCY", "two"), ("WEB_CONCURRENCY", "0"),
     ("COMMENTARY_LABEL_ZH", "  "), ("COMMENTARY_LABEL_EN", "Our\nview"),
     ("COMMENTARY_LABEL_EN", "x" * 61), ("TRANSLATE", "google"),
     ("TRANSLATE_TERMINOLOGY", "firm glossary"), ("TRANSLATE_TERMINOLOGY", "a" * 257)],
)
def test_bad_values_are_named(name: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"YUEBAO_VAR_DIR": str(tmp_path), name: value})


def test_defaults_follow_the_design(tmp_path: Path) -> None:
    settings = load_settings({"YUEBAO_VAR_DIR": str(tmp_path)})
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.mail_transport == "outbox"
    assert settings.outbox_dir == str(tmp_path / "outbox")
    assert settings.tracking is True
    assert settings.bounce_suppress_after == 3
    assert settings.in_doubt_wait_minutes == 30
    assert settings.worker_db_grace_seconds == 120
    assert settings.unconfirmed_retention_days == 7
    assert settings.sns_max_age_hours == 24
    assert settings.unsubscribe_mailto is None
    assert settings.sns_topic_arns == ()
    assert settings.ratelimit_storage_uri == "memory://"
    assert settings.web_concurrency == DEFAULT_WEB_CONCURRENCY == 2
    assert (settings.commentary_label_zh, settings.commentary_label_en) == ("植德短评", "Our view")


def test_translation_is_off_unless_asked_and_follows_the_ses_region(tmp_path: Path) -> None:
    settings = load_settings({"YUEBAO_VAR_DIR": str(tmp_path), "SES_REGION": "eu-west-1"})
    assert (settings.translate, settings.translate_region) == ("off", "eu-west-1")
    assert settings.translate_terminology is None
    settings = load_settings({
        "YUEBAO_VAR_DIR": str(tmp_path), "TRANSLATE": "AWS", "SES_REGION": "eu-west-1",
        "TRANSLATE_REGION": "ap-northeast-1", "TRANSLATE_TERMINOLOGY": " firm-glossary_2024 ",
    })
    assert (settings.translate, settings.translate_region) == ("aws", "ap-northeast-1")
    assert settings.translate_terminology == "firm-glossary_2024"


def test_the_commentary_labels_are_the_firms_own(tmp_path: Path) -> None:
    settings = load_settings({"YUEBAO_VAR_DIR": str(tmp_path), "COMMENTARY_LABEL_ZH": " 律所观点 ",
                              "COMMENTARY_LABEL_EN": "The firm's take"})
    assert (settings.commentary_label_zh, settings.commentary_label_en) == (
        "律所观点", "The firm's take"
    )


def test_settings_are_typed_frozen_and_read_once(tmp_path: Path) -> None:
    env = {"YUEBAO_VAR_DIR": str(tmp_path), "TRACKING": "off", "SES_MAX_SEND_RATE": "14.5",
           "SNS_TOPIC_ARNS": "arn:a,arn:b", "BOUNCE_SUPPRESS_AFTER": "5",
           "WORKER_DB_GRACE_SECONDS": "300"}
    settings = load_settings(env)
    assert (settings.tracking, settings.ses_max_send_rate) == (False, 14.5)
    assert settings.worker_db_grace_seconds == 300
    assert settings.sns_topic_arns == ("arn:a", "arn:b")
    assert settings.bounce_suppress_after == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.tracking = True  # type: ignore[misc]
    app = create_app({"YUEBAO_VAR_DIR": str(tmp_path), "TESTING": True, "SECRET_KEY": "k",
                      "ERASURE_KEY": "e", "ORG_NAME": "植德", "IN_DOUBT_WAIT_MINUTES": 5})
    built = settings_of(app)
    assert isinstance(built, Settings)
    assert (built.org_name, built.in_doubt_wait_minutes) == ("植德", 5)
    # Flask reads only what it needs; our settings are not looked up by string.
    assert app.config["SECRET_KEY"] == "k" and "ORG_NAME" not in app.config
    assert app.config["TESTING"] is True


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


# --- MAIL_TRANSPORT=smtp ----------------------------------------------------------------------

SMTP = {"MAIL_TRANSPORT": "smtp", "SMTP_HOST": "email-smtp.eu-west-1.amazonaws.com",
        "SMTP_USERNAME": "AKIAEXAMPLE", "SMTP_PASSWORD": "smtp-password"}


def test_smtp_defaults_to_starttls_on_587_at_a_modest_rate(tmp_path: Path) -> None:
    settings = load_settings({**SMTP, "YUEBAO_VAR_DIR": str(tmp_path)})
    assert (settings.mail_transport, settings.smtp_tls, settings.smtp_port) == (
        "smtp", "starttls", 587)
    assert settings.smtp_max_send_rate == 10.0
    tls = load_settings({**SMTP, "SMTP_TLS": "TLS", "YUEBAO_VAR_DIR": str(tmp_path)})
    assert (tls.smtp_tls, tls.smtp_port) == ("tls", 465)
    given = load_settings({**SMTP, "SMTP_PORT": "2587", "SMTP_MAX_SEND_RATE": "14",
                           "YUEBAO_VAR_DIR": str(tmp_path)})
    assert (given.smtp_port, given.smtp_max_send_rate) == (2587, 14.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"SMTP_HOST": ""}, "SMTP_HOST must be set when MAIL_TRANSPORT=smtp"),
        ({"SMTP_PORT": "submission"}, "SMTP_PORT must be a whole number"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT must be a port number from 1 to 65535"),
        ({"SMTP_TLS": "ssl"}, "SMTP_TLS must be starttls, tls or off, not 'ssl'"),
        ({"SMTP_PASSWORD": ""}, "SMTP_USERNAME and SMTP_PASSWORD go together"),
        ({"SMTP_MAX_SEND_RATE": "0"}, "SMTP_MAX_SEND_RATE must be more than 0"),
        ({"MAIL_TRANSPORT": "sendmail"}, "MAIL_TRANSPORT must be outbox, ses or smtp"),
    ],
)
def test_smtp_settings_that_cannot_work_are_refused_at_start(
    changes: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**SMTP, **changes, "YUEBAO_VAR_DIR": str(tmp_path)})


def test_production_refuses_smtp_without_tls_except_to_this_machine() -> None:
    with pytest.raises(ConfigError, match="SMTP_TLS=off sends mail and the SMTP password"):
        load_settings({**PRODUCTION, **SMTP, "SMTP_TLS": "off"})
    for loopback in ("127.0.0.1", "localhost", "::1"):
        settings = load_settings({**PRODUCTION, **SMTP, "SMTP_TLS": "off",
                                  "SMTP_HOST": loopback})
        assert settings.smtp_port == 25
    assert load_settings({**PRODUCTION, **SMTP}).smtp_tls == "starttls"


def test_smtp_settings_are_not_checked_for_other_transports(tmp_path: Path) -> None:
    settings = load_settings({"SMTP_TLS": "ssl", "YUEBAO_VAR_DIR": str(tmp_path)})
    assert settings.mail_transport == "outbox"


def test_the_ses_events_queue_is_off_unless_its_url_is_set(tmp_path: Path) -> None:
    env = {"YUEBAO_VAR_DIR": str(tmp_path / "var")}
    assert load_settings(env).ses_events_queue_url is None
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/yuebao-ses-events"
    settings = load_settings({**env, "SES_EVENTS_QUEUE_URL": url,
                              "SES_EVENTS_QUEUE_WAIT_SECONDS": "1",
                              "SES_EVENTS_QUEUE_THREADS": "2", "SES_EVENTS_QUEUE_RAW": "on"})
    assert (settings.ses_events_queue_url, settings.ses_events_queue_wait_seconds,
            settings.ses_events_queue_threads, settings.ses_events_queue_raw) == (url, 1, 2, True)
    assert load_settings({**PRODUCTION, "SES_EVENTS_QUEUE_URL": url}).ses_events_queue_url == url


@pytest.mark.parametrize(("name", "value", "production"), [
    ("SES_EVENTS_QUEUE_URL", "yuebao-ses-events", False),  # a name, not the queue's URL
    ("SES_EVENTS_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/yuebao", False),
    ("SES_EVENTS_QUEUE_URL", "http://sqs.us-east-1.amazonaws.com/1/yuebao", True),
    ("SES_EVENTS_QUEUE_WAIT_SECONDS", "21", False),  # SQS waits at most 20 s
    ("SES_EVENTS_QUEUE_THREADS", "0", False),
])
def test_queue_settings_that_cannot_work_are_refused(
    name: str, value: str, production: bool, tmp_path: Path
) -> None:
    base = PRODUCTION if production else {"YUEBAO_VAR_DIR": str(tmp_path / "var")}
    with pytest.raises(ConfigError, match=name):
        load_settings({**base, name: value})
