"""Configuration read from the environment, with embedded defaults for development.

The names are the ones in DESIGN.md's configuration table; `load_config` is the only place that
reads them, so the rest of the code looks them up in `app.config`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("development", "production")


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says which setting and why."""


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "on", "true", "yes"}


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None


def _float(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None


def _secret_file(var_dir: Path, name: str) -> str:
    """A secret kept in `var/` so development sessions and links survive restarts."""
    path = var_dir / name
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def load_config(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Read DESIGN.md's settings from `environ` (default: the process environment).

    `overrides` (tests, embedding) win: string values as if they were environment variables,
    anything else as the final value.
    """
    env = dict(os.environ if environ is None else environ)
    if overrides:
        env.update({k: v for k, v in overrides.items() if isinstance(v, str)})
    mode = env.get("YUEBAO_ENV", "development")
    if mode not in ENVIRONMENTS:
        raise ConfigError(f"YUEBAO_ENV must be one of {', '.join(ENVIRONMENTS)}, not {mode!r}")
    production = mode == "production"
    var_dir = Path(env.get("YUEBAO_VAR_DIR", "var")).resolve()

    def secret(name: str, file_name: str) -> str:
        value = env.get(name, "")
        if value:
            return value
        if production:
            raise ConfigError(f"{name} must be set when YUEBAO_ENV=production")
        return _secret_file(var_dir, file_name)

    if production and not env.get("DATABASE_URL"):
        raise ConfigError("DATABASE_URL must be set when YUEBAO_ENV=production")
    if production and env.get("SNS_TEST_CERT"):
        raise ConfigError("SNS_TEST_CERT is for tests and the simulator; production refuses it")

    transport = env.get("MAIL_TRANSPORT", "outbox")
    if transport not in ("outbox", "ses"):
        raise ConfigError(f"MAIL_TRANSPORT must be outbox or ses, not {transport!r}")

    config: dict[str, Any] = {
        "YUEBAO_ENV": mode,
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'yuebao.sqlite3'}",
        "SECRET_KEY": secret("SECRET_KEY", "secret_key"),
        "ERASURE_KEY": secret("ERASURE_KEY", "erasure_key"),
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "TIMEZONE": env.get("TIMEZONE", "Asia/Shanghai"),
        "MAIL_TRANSPORT": transport,
        "OUTBOX_DIR": str(Path(env.get("OUTBOX_DIR", str(var_dir / "outbox"))).resolve()),
        "MAIL_FROM": env.get("MAIL_FROM", "月报 <newsletter@localhost>"),
        "MAIL_REPLY_TO": env.get("MAIL_REPLY_TO") or None,
        "ORG_NAME": env.get("ORG_NAME", "yuebao"),
        "ORG_POSTAL_ADDRESS": env.get("ORG_POSTAL_ADDRESS", ""),
        "LIST_ID": env.get("LIST_ID", "<monthly.yuebao.localhost>"),
        "FEEDBACK_ID": env.get("FEEDBACK_ID", "edition:yuebao"),
        "UNSUBSCRIBE_MAILTO": env.get("UNSUBSCRIBE_MAILTO") or None,
        "SES_REGION": env.get("SES_REGION", "us-east-1"),
        "SES_CONFIGURATION_SET": env.get("SES_CONFIGURATION_SET") or None,
        "SES_ENDPOINT_URL": env.get("SES_ENDPOINT_URL") or None,
        "SES_MAX_SEND_RATE": (
            _float("SES_MAX_SEND_RATE", env["SES_MAX_SEND_RATE"])
            if env.get("SES_MAX_SEND_RATE")
            else None
        ),
        "SNS_TOPIC_ARNS": tuple(a for a in env.get("SNS_TOPIC_ARNS", "").split(",") if a),
        "TRACKING": _flag(env.get("TRACKING", "on")),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "0")),
        "UNCONFIRMED_RETENTION_DAYS": _int(
            "UNCONFIRMED_RETENTION_DAYS", env.get("UNCONFIRMED_RETENTION_DAYS", "7")
        ),
        "EVENT_PAYLOAD_RETENTION_DAYS": _int(
            "EVENT_PAYLOAD_RETENTION_DAYS", env.get("EVENT_PAYLOAD_RETENTION_DAYS", "400")
        ),
        "SNS_MAX_AGE_HOURS": _int("SNS_MAX_AGE_HOURS", env.get("SNS_MAX_AGE_HOURS", "24")),
        "SNS_TEST_CERT": env.get("SNS_TEST_CERT") or None,
        "BOUNCE_SUPPRESS_AFTER": _int(
            "BOUNCE_SUPPRESS_AFTER", env.get("BOUNCE_SUPPRESS_AFTER", "3")
        ),
        "IN_DOUBT_WAIT_MINUTES": _int(
            "IN_DOUBT_WAIT_MINUTES", env.get("IN_DOUBT_WAIT_MINUTES", "30")
        ),
        # Flask and extension settings derived from the above.
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": env.get("TIMEZONE", "Asia/Shanghai"),
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": True,
    }
    if overrides:
        # String overrides were read above exactly like environment variables; other values
        # (numbers, flags, Flask settings) replace what was derived.
        config.update({k: v for k, v in overrides.items() if not isinstance(v, str)})
        config.update({k: v for k, v in overrides.items() if k not in config})
    return config
