"""A real SMTP server in the test process (aiosmtpd) that records what it receives and can be
told to refuse, to answer 421 or to drop the connection at chosen moments; and a throwaway
certificate authority for its TLS."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERNAME = "yuebao"
PASSWORD = "s3cret-smtp"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: tuple[str, int]  # the client's end: one per connection

    def parsed(self) -> EmailMessage:
        parsed: EmailMessage = message_from_bytes(self.data, policy=policy.default)  # type: ignore[assignment]
        return parsed


@dataclass
class RecordingHandler:
    """Records every accepted message. The scripts, keyed by the 1-based count of MAIL
    commands (or DATA commands) seen across all connections, make it misbehave once:
    `mail_replies`/`data_replies` answer with the given reply instead, `drop_at_mail` closes
    the connection on that MAIL, `drop_after_data` keeps the message but closes the connection
    instead of answering 250. `rcpt_replies` answers a given address every time."""

    messages: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    mail_replies: dict[int, str] = field(default_factory=dict)
    data_replies: dict[int, str] = field(default_factory=dict)
    drop_at_mail: set[int] = field(default_factory=set)
    drop_after_data: set[int] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)
    mails: int = 0
    datas: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.mails += 1
            number = self.mails
        if number in self.drop_at_mail:
            server.transport.close()
            return "421 closing"  # never reaches the client
        if number in self.mail_replies:
            return self.mail_replies[number]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        with self.lock:
            self.datas += 1
            number = self.datas
        if number in self.data_replies:
            return self.data_replies[number]
        received = Received(envelope.mail_from, tuple(envelope.rcpt_tos),
                            bytes(envelope.original_content or envelope.content),
                            tuple(session.peer[:2]))  # type: ignore[arg-type]
        with self.lock:
            self.messages.append(received)
        if number in self.drop_after_data:
            server.transport.close()
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (
            data.login.decode() == USERNAME and data.password.decode() == PASSWORD
        ):
            self.logins.append(mechanism)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    @property
    def connections(self) -> int:
        """Connections that carried at least one message."""
        return len({m.peer for m in self.messages})

    def recipients(self) -> list[str]:
        return [r for m in self.messages for r in m.rcpt_tos]


@dataclass(frozen=True)
class TestCA:
    """A certificate for 127.0.0.1/localhost and the context a client trusts it with."""

    __test__ = False

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


def make_test_ca(directory: Path) -> TestCA:
    """A self-signed certificate made now, valid for a day, for the loopback names."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yuebao test SMTP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TestCA(cert_file, key_file)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server(
    handler: RecordingHandler,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    auth: bool = False,
    auth_exclude: tuple[str, ...] = (),
) -> Iterator[Controller]:
    """aiosmtpd on a loopback port; AUTH PLAIN/LOGIN offered (over TLS only) when `auth`."""
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs["tls_context"] = starttls
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    if auth:
        # With implicit TLS aiosmtpd does not know the connection is encrypted: it would hold
        # AUTH back for STARTTLS.
        kwargs.update(authenticator=handler.authenticate, auth_required=True,
                      auth_require_tls=implicit_tls is None,
                      auth_exclude_mechanism=list(auth_exclude))
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
