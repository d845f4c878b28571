"""Webhooks never reach private, loopback or cloud metadata addresses in production, checked
when an endpoint is registered and again at every connection (DNS rebinding)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.support.smtp_server import free_port, make_test_ca
from tests.support.webhook_receiver import Behaviour, https_receiver, loopback
from tests.test_config import PRODUCTION
from webapp.config import ConfigError, load_settings, settings_of
from webapp.events.webhook_sender import post
from webapp.events.webhook_urls import UnsafeWebhookUrl, UrlPolicy, check_url
from webapp.events.webhooks import WebhookRefused, create_endpoint
from webapp.models import WebhookEndpoint

PROD = UrlPolicy(production=True)
DEV = UrlPolicy(production=False)
DEV_LOOPBACK = UrlPolicy(production=False, allow_loopback=True)


def public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


def real(host: str, port: int) -> list[str]:
    """Literal addresses resolve to themselves (as getaddrinfo does), names to nothing."""
    return [host]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.0.0.1/hook", "private_address"),
        ("https://192.168.1.20/hook", "private_address"),
        ("https://169.254.169.254/latest/meta-data/", "private_address"),
        ("https://[fd00:ec2::254]/", "private_address"),
        ("https://[::1]/hook", "private_address"),
        ("https://127.0.0.1/hook", "private_address"),
        ("https://[::ffff:127.0.0.1]/hook", "private_address"),
        ("https://0.0.0.0/hook", "private_address"),
        ("http://93.184.215.14/hook", "https_required"),
        ("https://user:pw@93.184.215.14/hook", "credentials"),
        ("ftp://93.184.215.14/hook", "scheme"),
        ("https:///nohost", "scheme"),
        ("https://93.184.215.14:99999/", "malformed"),
    ],
)
def test_production_refuses_unsafe_urls(url: str, reason: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as refused:
        check_url(url, PROD, real)
    assert refused.value.reason == reason


def test_a_name_resolving_to_loopback_is_refused_in_production() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="private_address"):
        check_url("https://crm.example.com/hook", PROD, loopback)
    # One bad address among good ones is enough.
    with pytest.raises(UnsafeWebhookUrl, match="private_address"):
        check_url("https://crm.example.com/hook", PROD,
                  lambda h, p: ["93.184.215.14", "10.1.2.3"])


def test_a_public_https_url_is_accepted() -> None:
    target = check_url("https://crm.example.com:8443/hooks/yuebao?x=1", PROD, public)
    assert (target.host, target.port, target.path) == ("crm.example.com", 8443,
                                                       "/hooks/yuebao?x=1")


def test_loopback_only_with_the_setting_and_plain_http_only_to_loopback() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="private_address"):
        check_url("http://127.0.0.1:8000/hook", DEV, real)
    check_url("http://127.0.0.1:8000/hook", DEV_LOOPBACK, real)
    with pytest.raises(UnsafeWebhookUrl, match="https_required"):
        check_url("http://crm.example.com/hook", DEV_LOOPBACK, public)


def test_production_refuses_the_loopback_setting() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_LOOPBACK"):
        load_settings({**PRODUCTION, "WEBHOOK_ALLOW_LOOPBACK": "on"})


def test_a_name_that_rebinds_to_loopback_is_refused_at_connect_time(tmp_path: Path) -> None:
    ca, port = make_test_ca(tmp_path), free_port()
    check_url(f"https://localhost:{port}/hook", PROD, public)  # registered: public then
    with https_receiver(ca, port, Behaviour()) as receiver:
        answer = post(f"https://localhost:{port}/hook", b"{}", {}, PROD,
                      ssl_context=ca.client_context(), resolve=loopback)  # loopback now
    assert answer.status_code is None
    assert answer.error == "refused: private_address"
    assert receiver.received == []


def test_registering_an_unsafe_url_changes_nothing(app: Flask, session: Session) -> None:
    settings = settings_of(app)
    with pytest.raises(UnsafeWebhookUrl):
        create_endpoint(session, settings, "https://169.254.169.254/", ["edition.sent"],
                        actor="test", resolve=real)
    with pytest.raises(WebhookRefused, match="no_events"):
        create_endpoint(session, settings, "https://crm.example.com/", [], actor="test",
                        resolve=public)
    with pytest.raises(WebhookRefused, match="unknown_event"):
        create_endpoint(session, settings, "https://crm.example.com/",
                        ["edition.sent", "everything"], actor="test", resolve=public)
    session.rollback()
    assert session.scalar(select(func.count(WebhookEndpoint.id))) == 0
