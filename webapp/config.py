"""Configuration read from the environment, with embedded defaults for development.

The names are the ones in DESIGN.md's configuration table. `load_settings` is the only place
that reads them, once, into one frozen, typed `Settings`: `create_app` keeps it on the app
(`current_settings()`), the CLI and the worker get it from there, and services take it (or the
values they need) as an argument, so mypy checks every use. A dataclass rather than
pydantic-settings: the parsing is a dozen small rules and the refusals are ours to word.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from emails.transports.smtp import DEFAULT_PORTS as SMTP_DEFAULT_PORTS
from emails.transports.smtp import TLS_MODES as SMTP_TLS_MODES

ENVIRONMENTS = ("development", "production")
# TRANSLATE's values: drafts of English texts off, or through Amazon Translate.
TRANSLATE_SERVICES = ("off", "aws")
# Web processes when WEB_CONCURRENCY is unset: the Procfile's `--workers ${WEB_CONCURRENCY:-2}`.
DEFAULT_WEB_CONCURRENCY = 2
MAIL_TRANSPORTS = ("outbox", "ses", "smtp")
# Messages a second through SMTP when SMTP_MAX_SEND_RATE is unset: below what relays commonly
# allow a new sender (SES's SMTP interface starts at 14).
DEFAULT_SMTP_RATE = 10.0

log = logging.getLogger(__name__)


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


def _seconds(name: str, value: str) -> float:
    seconds = _float(name, value)
    if seconds < 0:
        raise ConfigError(f"{name} must be zero or more seconds, not {value!r}")
    return seconds


def _rate_limit(name: str, value: str) -> str:
    """A Flask-Limiter limit such as "300 per minute" (several joined by ";")."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be a rate limit such as '300 per minute', not {value!r}"
        ) from None
    return value


def _label(name: str, value: str) -> str:
    """A short single-line text shown to readers."""
    label = value.strip()
    if not label or not label.isprintable() or len(label) > 60:
        raise ConfigError(f"{name} must be one printable line of 1 to 60 characters")
    return label


# Amazon Translate's rule for a resource name (botocore's model of TranslateText).
_TERMINOLOGY_NAME = re.compile(r"^([A-Za-z0-9-]_?)+$")


def _terminology(value: str) -> str | None:
    """The custom terminology (the firm's glossary) passed with every request, if any."""
    name = value.strip()
    if not name:
        return None
    if len(name) > 256 or not _TERMINOLOGY_NAME.match(name):
        raise ConfigError(
            f"TRANSLATE_TERMINOLOGY must be the name of a custom terminology in Amazon "
            f"Translate (letters, digits, - and _, at most 256), not {value!r}"
        )
    return name


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


@dataclass(frozen=True)
class Settings:
    """DESIGN.md's configuration table, typed; one instance per process, never changed."""

    yuebao_env: str
    var_dir: str
    database_url: str
    secret_key: str
    erasure_key: str
    base_url: str
    timezone: str
    mail_transport: str
    outbox_dir: str
    mail_from: str
    mail_reply_to: str | None
    org_name: str
    org_postal_address: str
    commentary_label_zh: str
    commentary_label_en: str
    list_id: str
    feedback_id: str
    unsubscribe_mailto: str | None
    ses_region: str
    ses_configuration_set: str | None
    ses_endpoint_url: str | None
    ses_max_send_rate: float | None
    smtp_host: str | None
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    smtp_tls: str  # one of SMTP_TLS_MODES
    smtp_max_send_rate: float
    sns_topic_arns: tuple[str, ...]
    tracking: bool
    ratelimit_storage_uri: str
    api_rate_limit: str
    # Exact origins (scheme://host[:port]) whose pages may use the embeddable subscribe form.
    embed_origins: tuple[str, ...]
    web_concurrency: int
    trusted_proxies: int
    unconfirmed_retention_days: int
    event_payload_retention_days: int
    sns_max_age_hours: int
    sns_test_cert: str | None
    bounce_suppress_after: int
    in_doubt_wait_minutes: int
    worker_db_grace_seconds: float
    # How old the dashboard's reader-wide figures may be (webapp.stats.reader_figures); 0
    # counts them on every request.
    reader_figures_max_age_seconds: float
    # How long a process's first dashboard waits for the first count of those figures before
    # showing the page with them marked as being counted.
    reader_figures_first_wait_seconds: float
    translate: str  # "off" or "aws"
    translate_region: str
    translate_terminology: str | None
    # Webhook receivers on this machine (tests, development); production refuses it.
    webhook_allow_loopback: bool = False
    # SES events through SQS (webapp.events.sqs): the queue, the long poll's seconds (at most
    # SQS's 20), threads per worker, and whether the subscription has raw message delivery.
    ses_events_queue_url: str | None = None
    ses_events_queue_wait_seconds: int = 20
    ses_events_queue_threads: int = 4
    ses_events_queue_raw: bool = False

    @property
    def production(self) -> bool:
        return self.yuebao_env == "production"


# The environment variable of each setting: its name in capitals (DESIGN.md's table), but for
# the runtime directory, which carries the product's prefix.
SETTING_NAMES = {
    ("YUEBAO_VAR_DIR" if f.name == "var_dir" else f.name.upper()): f.name
    for f in fields(Settings)
}


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Read DESIGN.md's settings from `environ` (default: the process environment).

    `overrides` (tests, embedding) win: string values as if they were environment variables,
    other values of a setting's name as its final value. Names that are no setting are left
    for `flask_config`.
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
    if production and _flag(env.get("WEBHOOK_ALLOW_LOOPBACK", "off")):
        raise ConfigError("WEBHOOK_ALLOW_LOOPBACK is for tests and development; production "
                          "refuses it")
    if production and env.get("SNS_TEST_CERT"):
        raise ConfigError("SNS_TEST_CERT is for tests and the simulator; production refuses it")

    transport = env.get("MAIL_TRANSPORT", "outbox")
    if transport not in MAIL_TRANSPORTS:
        raise ConfigError(
            f"MAIL_TRANSPORT must be {', '.join(MAIL_TRANSPORTS[:-1])} or {MAIL_TRANSPORTS[-1]}, "
            f"not {transport!r}"
        )
    smtp_tls = env.get("SMTP_TLS", "starttls").strip().lower() or "starttls"

    translate = env.get("TRANSLATE", "off").strip().lower() or "off"
    if translate not in TRANSLATE_SERVICES:
        raise ConfigError(
            f"TRANSLATE must be {' or '.join(TRANSLATE_SERVICES)}, not {env['TRANSLATE']!r}"
        )
    ses_region = env.get("SES_REGION", "us-east-1")

    settings = Settings(
        yuebao_env=mode,
        var_dir=str(var_dir),
        database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'yuebao.sqlite3'}",
        secret_key=secret("SECRET_KEY", "secret_key"),
        erasure_key=secret("ERASURE_KEY", "erasure_key"),
        base_url=env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        timezone=env.get("TIMEZONE", "Asia/Shanghai"),
        mail_transport=transport,
        outbox_dir=str(Path(env.get("OUTBOX_DIR", str(var_dir / "outbox"))).resolve()),
        mail_from=env.get("MAIL_FROM", "月报 <newsletter@localhost>"),
        mail_reply_to=env.get("MAIL_REPLY_TO") or None,
        org_name=env.get("ORG_NAME", "yuebao"),
        org_postal_address=env.get("ORG_POSTAL_ADDRESS", ""),
        # The label of an item's commentary in emails and the archive: the firm's own words.
        commentary_label_zh=_label(
            "COMMENTARY_LABEL_ZH", env.get("COMMENTARY_LABEL_ZH", "植德短评")
        ),
        commentary_label_en=_label(
            "COMMENTARY_LABEL_EN", env.get("COMMENTARY_LABEL_EN", "Our view")
        ),
        list_id=env.get("LIST_ID", "<monthly.yuebao.localhost>"),
        # The sender id, last field of every Feedback-ID; the mail type goes before it. It was
        # once configured whole as `edition:<id>`, which would now read `edition:edition:<id>`.
        feedback_id=env.get("FEEDBACK_ID", "yuebao").removeprefix("edition:"),
        unsubscribe_mailto=env.get("UNSUBSCRIBE_MAILTO") or None,
        ses_region=ses_region,
        ses_configuration_set=env.get("SES_CONFIGURATION_SET") or None,
        ses_endpoint_url=env.get("SES_ENDPOINT_URL") or None,
        ses_max_send_rate=(
            _float("SES_MAX_SEND_RATE", env["SES_MAX_SEND_RATE"])
            if env.get("SES_MAX_SEND_RATE")
            else None
        ),
        smtp_host=env.get("SMTP_HOST", "").strip() or None,
        smtp_port=_smtp_port(env.get("SMTP_PORT", ""), smtp_tls),
        smtp_username=env.get("SMTP_USERNAME") or None,
        smtp_password=env.get("SMTP_PASSWORD") or None,
        smtp_tls=smtp_tls,
        smtp_max_send_rate=_float(
            "SMTP_MAX_SEND_RATE", env.get("SMTP_MAX_SEND_RATE") or str(DEFAULT_SMTP_RATE)
        ),
        sns_topic_arns=tuple(a for a in env.get("SNS_TOPIC_ARNS", "").split(",") if a),
        tracking=_flag(env.get("TRACKING", "on")),
        ratelimit_storage_uri=env.get("RATELIMIT_STORAGE_URI", "memory://"),
        api_rate_limit=_rate_limit("API_RATE_LIMIT", env.get("API_RATE_LIMIT", "300 per minute")),
        embed_origins=_embed_origins(env.get("EMBED_ORIGINS", "")),
        web_concurrency=_int(
            "WEB_CONCURRENCY", env.get("WEB_CONCURRENCY", str(DEFAULT_WEB_CONCURRENCY))
        ),
        trusted_proxies=_int("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "0")),
        unconfirmed_retention_days=_int(
            "UNCONFIRMED_RETENTION_DAYS", env.get("UNCONFIRMED_RETENTION_DAYS", "7")
        ),
        event_payload_retention_days=_int(
            "EVENT_PAYLOAD_RETENTION_DAYS", env.get("EVENT_PAYLOAD_RETENTION_DAYS", "400")
        ),
        sns_max_age_hours=_int("SNS_MAX_AGE_HOURS", env.get("SNS_MAX_AGE_HOURS", "24")),
        sns_test_cert=env.get("SNS_TEST_CERT") or None,
        webhook_allow_loopback=_flag(env.get("WEBHOOK_ALLOW_LOOPBACK", "off")),
        bounce_suppress_after=_int(
            "BOUNCE_SUPPRESS_AFTER", env.get("BOUNCE_SUPPRESS_AFTER", "3")
        ),
        in_doubt_wait_minutes=_int(
            "IN_DOUBT_WAIT_MINUTES", env.get("IN_DOUBT_WAIT_MINUTES", "30")
        ),
        worker_db_grace_seconds=_seconds(
            "WORKER_DB_GRACE_SECONDS", env.get("WORKER_DB_GRACE_SECONDS", "120")
        ),
        reader_figures_max_age_seconds=_seconds(
            "READER_FIGURES_MAX_AGE_SECONDS", env.get("READER_FIGURES_MAX_AGE_SECONDS", "300")
        ),
        reader_figures_first_wait_seconds=_seconds(
            "READER_FIGURES_FIRST_WAIT_SECONDS",
            env.get("READER_FIGURES_FIRST_WAIT_SECONDS", "2"),
        ),
        # Machine drafts of English texts: off unless a service is named.
        translate=translate,
        translate_region=env.get("TRANSLATE_REGION") or ses_region,
        translate_terminology=_terminology(env.get("TRANSLATE_TERMINOLOGY", "")),
        ses_events_queue_url=_queue_url(env.get("SES_EVENTS_QUEUE_URL", "")),
        ses_events_queue_wait_seconds=_bounded(
            "SES_EVENTS_QUEUE_WAIT_SECONDS", env.get("SES_EVENTS_QUEUE_WAIT_SECONDS", "20"), 0, 20
        ),
        ses_events_queue_threads=_bounded(
            "SES_EVENTS_QUEUE_THREADS", env.get("SES_EVENTS_QUEUE_THREADS", "4"), 1, 32
        ),
        ses_events_queue_raw=_flag(env.get("SES_EVENTS_QUEUE_RAW", "off")),
    )
    if overrides:
        final = {
            SETTING_NAMES[k]: v
            for k, v in overrides.items()
            if k in SETTING_NAMES and not isinstance(v, str)
        }
        settings = replace(settings, **final)
    _check_header_values(settings)
    if settings.mail_transport == "smtp":
        _check_smtp(settings)
    if settings.web_concurrency < 1:
        raise ConfigError(
            f"WEB_CONCURRENCY must be 1 or more web processes, not {settings.web_concurrency}"
        )
    if settings.production:
        _refuse_unsafe_production(settings)
    return settings


def _bounded(name: str, value: str, low: int, high: int) -> int:
    number = _int(name, value)
    if not low <= number <= high:
        raise ConfigError(f"{name} must be from {low} to {high}, not {value!r}")
    return number


def _queue_url(value: str) -> str | None:
    """SES_EVENTS_QUEUE_URL: an SQS queue URL, http(s)://host/<account>/<name>."""
    value = value.strip()
    if not value:
        return None
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https") or not parts.hostname
        or len(parts.path.strip("/").split("/")) != 2 or parts.query or parts.fragment
    ):
        raise ConfigError(
            "SES_EVENTS_QUEUE_URL must be an SQS queue URL such as "
            f"https://sqs.us-east-1.amazonaws.com/123456789012/yuebao-ses-events, not {value!r}"
        )
    return value


def _embed_origins(value: str) -> tuple[str, ...]:
    """EMBED_ORIGINS: comma-separated exact origins such as https://www.example.com, or `*`
    (any site; refused in production). A path, query or user part is refused: browsers send
    the bare origin, so anything more would never match."""
    origins: list[str] = []
    for raw in value.split(","):
        entry = raw.strip().rstrip("/")
        if not entry:
            continue
        if entry == "*":
            origins.append(entry)
            continue
        parts = urlsplit(entry)
        if (
            parts.scheme not in ("http", "https") or not parts.hostname or parts.path
            or parts.query or parts.fragment or parts.username or parts.password
        ):
            raise ConfigError(
                f"EMBED_ORIGINS must list origins such as https://www.example.com, not {raw!r}"
            )
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(dict.fromkeys(origins))


def _check_header_values(settings: Settings) -> None:
    """LIST_ID and FEEDBACK_ID go out verbatim in every mail: refuse at start what cannot."""
    for name, value in (("LIST_ID", settings.list_id), ("FEEDBACK_ID", settings.feedback_id)):
        if not value or not (value.isascii() and value.isprintable()) or len(value) > 200:
            raise ConfigError(f"{name} must be printable ASCII of at most 200 characters")


def _smtp_port(value: str, tls: str) -> int:
    """SMTP_PORT, or the usual port of the TLS mode (587 STARTTLS, 465 TLS, 25 without)."""
    if not value.strip():
        return SMTP_DEFAULT_PORTS.get(tls, 587)
    port = _int("SMTP_PORT", value.strip())
    if not 0 < port < 65536:
        raise ConfigError(f"SMTP_PORT must be a port number from 1 to 65535, not {value!r}")
    return port


def _check_smtp(settings: Settings) -> None:
    """MAIL_TRANSPORT=smtp: refuse at start what would fail at the first send."""
    if not settings.smtp_host:
        raise ConfigError("SMTP_HOST must be set when MAIL_TRANSPORT=smtp")
    if settings.smtp_tls not in SMTP_TLS_MODES:
        raise ConfigError(
            f"SMTP_TLS must be starttls, tls or off, not {settings.smtp_tls!r}"
        )
    if bool(settings.smtp_username) != bool(settings.smtp_password):
        raise ConfigError(
            "SMTP_USERNAME and SMTP_PASSWORD go together: set both to log in, or neither"
        )
    if settings.smtp_max_send_rate <= 0:
        raise ConfigError(
            f"SMTP_MAX_SEND_RATE must be more than 0 messages a second, "
            f"not {settings.smtp_max_send_rate}"
        )
    if settings.production and settings.smtp_tls == "off" and not _is_loopback(
        settings.smtp_host
    ):
        # Readers' addresses, their tokens and the SMTP password would cross the network
        # in clear text.
        raise ConfigError(
            f"SMTP_TLS=off sends mail and the SMTP password unencrypted to {settings.smtp_host}: "
            f"use SMTP_TLS=starttls or tls when YUEBAO_ENV=production (off is allowed only "
            f"for a relay on this machine, such as 127.0.0.1)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _process_local(storage_uri: str) -> bool:
    """Flask-Limiter storage that lives in one process's memory (`memory://`, `async+memory://`)."""
    return urlsplit(storage_uri).scheme.rpartition("+")[2] == "memory"


def _refuse_unsafe_production(settings: Settings) -> None:
    """Settings that work on a laptop but would send mail nobody can act on, break the law of
    several markets (no postal address in the footer), or let rate limits count per process."""
    if "*" in settings.embed_origins:
        raise ConfigError(
            "EMBED_ORIGINS=* lets any site use the subscribe form; list the firm's own origins "
            "when YUEBAO_ENV=production"
        )
    url = urlsplit(settings.base_url)
    if url.scheme != "https" or not url.hostname:
        raise ConfigError(
            f"BASE_URL must be an https:// URL when YUEBAO_ENV=production, "
            f"not {settings.base_url!r}"
        )
    if _is_loopback(url.hostname):
        raise ConfigError(
            f"BASE_URL must be the public address readers reach, not the loopback "
            f"{url.hostname!r}, when YUEBAO_ENV=production"
        )
    address = parseaddr(settings.mail_from)[1]
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if "@" not in address or "." not in domain or _is_loopback(domain):
        raise ConfigError(
            f"MAIL_FROM must be an address at your sending domain (e.g. 月报 <report@example.com>) "
            f"when YUEBAO_ENV=production, not {settings.mail_from!r}"
        )
    if not settings.org_postal_address.strip():
        raise ConfigError(
            "ORG_POSTAL_ADDRESS must be set when YUEBAO_ENV=production: "
            "every email's footer carries it"
        )
    if settings.web_concurrency > 1 and _process_local(settings.ratelimit_storage_uri):
        # Each gunicorn worker would count on its own: with two, 20 sign-ins a minute pass a
        # limit of 10, and a reader's address gets twice the mails it should.
        raise ConfigError(
            f"RATELIMIT_STORAGE_URI={settings.ratelimit_storage_uri} counts in each web process "
            f"apart, so with WEB_CONCURRENCY={settings.web_concurrency} every rate limit would be "
            f"{settings.web_concurrency} times looser than it says: set RATELIMIT_STORAGE_URI to "
            f"a store the web processes share (e.g. redis://127.0.0.1:6379/0), or run one web "
            f"process (WEB_CONCURRENCY=1) when YUEBAO_ENV=production"
        )
    queue = urlsplit(settings.ses_events_queue_url or "https://")
    if queue.scheme != "https":
        raise ConfigError(
            f"SES_EVENTS_QUEUE_URL must be an https:// URL when YUEBAO_ENV=production, "
            f"not {settings.ses_events_queue_url!r}"
        )
    if not settings.unsubscribe_mailto:
        log.warning(
            "UNSUBSCRIBE_MAILTO is unset: List-Unsubscribe carries only the https one-click "
            "URL; some receivers also want a mailto: address"
        )


def flask_config(settings: Settings, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What Flask and its extensions read from `app.config`, derived from the settings, plus
    the overrides that are no setting of ours (TESTING, WTF_CSRF_ENABLED…)."""
    config: dict[str, Any] = {
        "SECRET_KEY": settings.secret_key,
        "SESSION_COOKIE_SECURE": settings.production,
        "REMEMBER_COOKIE_SECURE": settings.production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PREFERRED_URL_SCHEME": "https" if settings.production else "http",
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": settings.timezone,
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_STORAGE_URI": settings.ratelimit_storage_uri,
        "API_RATE_LIMIT": settings.api_rate_limit,
    }
    if overrides:
        config.update({k: v for k, v in overrides.items() if k not in SETTING_NAMES})
    return config


_EXTENSION = "yuebao.settings"


def settings_of(app: Flask) -> Settings:
    """The settings an app was built with."""
    settings: Settings = app.extensions[_EXTENSION]
    return settings


def current_settings() -> Settings:
    """The settings of the app handling this request or command."""
    return settings_of(current_app)


def install(app: Flask, settings: Settings) -> None:
    """Keep the settings on the app (`create_app`; tests may swap in a `replace`d copy)."""
    app.extensions[_EXTENSION] = settings
