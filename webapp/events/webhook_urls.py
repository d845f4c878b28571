"""Where a webhook may go: the SSRF rules, checked when an endpoint is registered and again at
every connection, against the addresses actually connected to.

A receiver's name is resolved, every address checked, and the connection made to a checked
address with the name kept for the Host header and TLS (SNI and the certificate check): a name
that resolves to a public address when registered and to 127.0.0.1 a second later (DNS
rebinding) is refused at connect time.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(ValueError):
    """The URL may not receive webhooks; `reason` is a code for the label table."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class UrlPolicy:
    production: bool
    # Loopback receivers (tests, development); refused in production by the configuration.
    allow_loopback: bool = False


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_url(url: str) -> Target:
    """The URL's parts, or UnsafeWebhookUrl for anything but a plain http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeWebhookUrl("malformed") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeWebhookUrl("scheme")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("credentials")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def address_allowed(address: str, policy: UrlPolicy) -> bool:
    """Public unicast addresses only; loopback too when the policy allows it.

    is_global leaves out private, link-local (169.254.169.254, the cloud metadata service),
    unique-local (fd00:ec2::254), shared (100.64/10), documentation and reserved ranges.
    """
    try:
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return policy.allow_loopback
    return ip.is_global and not ip.is_multicast


def checked_addresses(
    target: Target, policy: UrlPolicy, resolve: Resolver = system_resolver
) -> list[str]:
    """Resolve the host and check every address; UnsafeWebhookUrl if any is not allowed."""
    try:
        addresses = resolve(target.host, target.port)
    except (OSError, UnicodeError):
        raise UnsafeWebhookUrl("unresolved") from None
    if not addresses:
        raise UnsafeWebhookUrl("unresolved")
    if not all(address_allowed(a, policy) for a in addresses):
        raise UnsafeWebhookUrl("private_address")
    if target.scheme == "http":
        # Plain http only to this machine, and never in production.
        loopback = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
        if policy.production or not loopback:
            raise UnsafeWebhookUrl("https_required")
    return addresses


def check_url(url: str, policy: UrlPolicy, resolve: Resolver = system_resolver) -> Target:
    """Check a URL an admin registers (the same rules run again at every connection)."""
    target = parse_url(url)
    if target.scheme == "http" and policy.production:
        raise UnsafeWebhookUrl("https_required")
    checked_addresses(target, policy, resolve)
    return target


def _pinned(connection: http.client.HTTPConnection, address: str) -> None:
    """Connect to `address` whatever the host name resolves to now."""

    def create(where: tuple[str, int], timeout: Any = None, source: Any = None) -> socket.socket:
        return socket.create_connection((address, where[1]), timeout, source)

    connection._create_connection = create  # type: ignore[attr-defined]


def open_connection(
    target: Target,
    policy: UrlPolicy,
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
    resolve: Resolver = system_resolver,
) -> http.client.HTTPConnection:
    """A connection to the first checked address of the target, named by its host (Host
    header, SNI and certificate check)."""
    address = checked_addresses(target, policy, resolve)[0]
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        context = ssl_context or ssl.create_default_context()
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    _pinned(connection, address)
    return connection
