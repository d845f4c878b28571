"""The SMTP transport: stdlib smtplib, one connection per batch, each reader handed over alone.

SMTP answers each message on its own, so a batch is not one call that either happened or not:
every reader's MAIL, RCPT and DATA get their own reply. `SmtpBatch.send_each` tells a
`Handover` just before a reader's DATA (so the engine commits that delivery in doubt) and
right after the server's 250 (so it is recorded sent at once). A crash can then leave in doubt
only the one message whose DATA was under way; readers not yet reached stay claimed and go
back to the queue.

SMTP gives no message id of its own, so each message carries a Message-ID we generate, and
that is what is recorded.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parseaddr

from emails.content import Links
from emails.edition import Variant
from emails.fill import fill
from emails.mime import Message, MessageUnbuildable, new_message_id
from emails.pacing import TokenBucket
from emails.transports import SendResult
from emails.transports.batch import DELIVERY_TAG, BatchEntry, EntryResult, Handover
from emails.transports.errors import (
    ANSWER_UNKNOWN,
    CLAIM_LOST,
    SENDING_HALTED,
    UNBUILDABLE,
    AnswerUnknown,
    Rejected,
    SendingHalted,
    Transient,
    TransportError,
)

TLS_MODES = ("starttls", "tls", "off")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "off": 25}
SMTP_MAX_BATCH = 20  # readers per connection: a batch is about a second of sending
TIMEOUT = 30.0  # seconds for the connection and for each reply
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: str = "starttls"  # one of TLS_MODES
    timeout: float = TIMEOUT


class _Refused(Exception):
    """The server answered a command with something other than success."""

    def __init__(self, stage: str, code: int, reply: bytes | str) -> None:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        self.stage, self.code = stage, code
        self.reason = f"SMTP {stage} {code}: {' '.join(text.split())}"[:500]
        super().__init__(self.reason)

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600

    @property
    def closing(self) -> bool:
        """421: the server is closing this connection; the rest of the batch waits."""
        return self.code == 421


def connect(options: SmtpOptions, context: ssl.SSLContext | None = None) -> smtplib.SMTP:
    """An open, greeted, secured and logged-in connection; a TransportError saying what to do
    when there is none: Transient if the server could not be reached or asked us to come back,
    SendingHalted when trying again cannot help (TLS, login, a server refusing us)."""
    context = context or ssl.create_default_context()
    where = f"{options.host}:{options.port}"
    smtp: smtplib.SMTP | None = None
    try:
        if options.tls == "tls":
            smtp = smtplib.SMTP_SSL(options.host, options.port, timeout=options.timeout,
                                    context=context)
        else:
            smtp = smtplib.SMTP(options.host, options.port, timeout=options.timeout)
        smtp.ehlo()
        if options.tls == "starttls":
            if not smtp.has_extn("starttls"):
                raise SendingHalted(
                    f"the SMTP server {where} does not offer STARTTLS (SMTP_TLS=starttls); "
                    f"use SMTP_TLS=tls for a TLS port such as 465"
                )
            smtp.starttls(context=context)
            smtp.ehlo()
        if options.username:
            smtp.login(options.username, options.password or "")
        return smtp
    except TransportError:
        _close(smtp)
        raise
    except smtplib.SMTPAuthenticationError as error:
        _close(smtp)
        raise SendingHalted(_reply_reason(f"SMTP login to {where} refused", error)) from error
    except smtplib.SMTPConnectError as error:
        _close(smtp)
        reason = _reply_reason(f"the SMTP server {where} refused the connection", error)
        raise (Transient(reason) if error.smtp_code < 500 else SendingHalted(reason)) from error
    except smtplib.SMTPServerDisconnected as error:
        _close(smtp)
        raise Transient(f"the SMTP server {where} closed the connection: {error}") from error
    except smtplib.SMTPException as error:  # no AUTH offered, STARTTLS refused … (an OSError)
        _close(smtp)
        raise SendingHalted(f"the SMTP server {where} cannot be used: {error}") from error
    except ssl.SSLError as error:  # also an OSError
        _close(smtp)
        raise SendingHalted(f"TLS with the SMTP server {where} failed: {error}") from error
    except OSError as error:
        _close(smtp)
        raise Transient(f"could not reach the SMTP server {where}: {error}") from error


def _reply_reason(what: str, error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{what}: {error.smtp_code} {' '.join(reply.split())}"[:500]


def _close(smtp: smtplib.SMTP | None) -> None:
    """QUIT politely if the connection still answers; close it in any case."""
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def envelope_address(value: str) -> str:
    """The bare address of a `Name <addr>` header value, for MAIL FROM and RCPT TO."""
    address = parseaddr(value)[1]
    if not address or not address.isascii() or not address.isprintable():
        raise MessageUnbuildable(f"{value[:80]!r} is not an address SMTP can carry")
    return address


@dataclass(frozen=True)
class Prepared:
    """One reader's message, ready for the wire."""

    sender: str
    to: str
    data: bytes
    message_id: str  # without the angle brackets, as recorded


def prepare(message: Message, now: datetime | None = None) -> Prepared:
    message_id = new_message_id(message.sender)
    data = message.to_bytes(message_id=message_id, date=now or datetime.now(UTC))
    return Prepared(envelope_address(message.sender), envelope_address(message.to), data,
                    message_id.strip("<>"))


def _data(smtp: smtplib.SMTP, data: bytes, body_going: Callable[[], None]) -> None:
    """DATA, the message, the final dot; `body_going` runs once the server said 354.

    smtplib's `data()` cannot tell a refused DATA command (nothing sent) from a connection
    lost after the body went: written out here, so only the second is in doubt."""
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        raise _Refused("DATA", code, reply)
    body_going()
    body = _LEADING_DOT.sub(b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    smtp.send(body + b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        raise _Refused("end of data", code, reply)


def _envelope(smtp: smtplib.SMTP, prepared: Prepared) -> None:
    code, reply = smtp.mail(prepared.sender)
    if code != 250:
        raise _Refused("MAIL FROM", code, reply)
    code, reply = smtp.rcpt(prepared.to)
    if code not in (250, 251):
        raise _Refused("RCPT TO", code, reply)


def _reset(smtp: smtplib.SMTP) -> None:
    """Abandon the refused message's transaction so the next reader starts clean."""
    try:
        smtp.rset()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _connected(smtp: smtplib.SMTP | None) -> bool:
    return smtp is not None and getattr(smtp, "sock", None) is not None


class SmtpTransport:
    """One message per connection: the system mails (confirmation, reset, invitation).

    Raises Rejected when the server refuses the message for good (5xx), Transient when it asks
    to try later (4xx) or the connection failed before the message went, AnswerUnknown when
    the connection failed after it went."""

    def __init__(self, options: SmtpOptions, *, context: ssl.SSLContext | None = None) -> None:
        self.options = options
        self.context = context

    def send(self, message: Message) -> SendResult:
        prepared = prepare(message)
        smtp = connect(self.options, self.context)
        sent = False

        def handed_over() -> None:
            nonlocal sent
            sent = True

        try:
            _envelope(smtp, prepared)
            _data(smtp, prepared.data, handed_over)
        except _Refused as error:
            if error.permanent:
                raise Rejected(error.reason) from error
            raise Transient(error.reason) from error
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            if sent:
                raise AnswerUnknown(f"no answer from the SMTP server: {error}") from error
            raise Transient(f"the SMTP server closed the connection: {error}") from error
        finally:
            _close(smtp)
        return SendResult(message_id=prepared.message_id)


class _NoHandover:
    def handing_over(self, entry: BatchEntry) -> bool:
        return True

    def handed_over(self, entry: BatchEntry, result: EntryResult) -> None:
        pass


class SmtpBatch:
    """A chunk of readers through one connection, paced to SMTP_MAX_SEND_RATE.

    What each reply means: 250 sent; a 4xx to RCPT (a busy mailbox, greylisting) retries that
    reader and goes on; any other 4xx, a 421 or a lost connection retries that reader and the
    rest later (the engine backs off); a 5xx to RCPT or to the message fails that reader with
    the server's words; a 5xx to MAIL FROM (our sender refused) pauses the send. A connection
    that drops between messages is opened again once; one that drops after a message's body
    went leaves that message in doubt.
    """

    max_batch = SMTP_MAX_BATCH

    def __init__(
        self,
        options: SmtpOptions,
        rate: float,
        *,
        context: ssl.SSLContext | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        self.options = options
        self.context = context
        # Within a process the messages leave evenly spaced; the engine's shared schedule
        # spaces the batches of every worker.
        self.bucket = bucket or TokenBucket(rate, capacity=1.0)

    def send_batch(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links
    ) -> list[EntryResult]:
        return self.send_each(variant, entries, links, _NoHandover())

    def send_each(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links, handover: Handover
    ) -> list[EntryResult]:
        """One result per entry, in order; never raises for what the server or the network
        did (each reader's answer says it)."""
        results: list[EntryResult] = []
        smtp: smtplib.SMTP | None = None
        try:
            for index, entry in enumerate(entries):
                try:
                    message = fill(variant, entry.recipient, links)
                    message = replace(
                        message, tags={**message.tags, DELIVERY_TAG: str(entry.delivery_id)}
                    )
                    prepared = prepare(message)
                except MessageUnbuildable as error:
                    results.append(EntryResult(UNBUILDABLE, error=str(error)))
                    continue
                self.bucket.acquire(1)
                result, smtp, stop = self._send_one(smtp, entry, prepared, handover)
                results.append(result)
                if stop is not None:
                    status, reason = stop
                    left = len(entries) - index - 1
                    results.extend(EntryResult(status, error=reason) for _ in range(left))
                    break
        finally:
            _close(smtp)
        return results

    def _send_one(
        self,
        smtp: smtplib.SMTP | None,
        entry: BatchEntry,
        prepared: Prepared,
        handover: Handover,
    ) -> tuple[EntryResult, smtplib.SMTP | None, tuple[str, str] | None]:
        """This reader's answer, the connection to go on with, and (status, reason) for the
        rest of the batch when it must not go on."""
        for attempt in (1, 2):
            if not _connected(smtp):
                try:
                    smtp = connect(self.options, self.context)
                except TransportError as error:
                    status = SENDING_HALTED if isinstance(error, SendingHalted) else _RETRY
                    return EntryResult(status, error=error.reason), None, (status, error.reason)
            assert smtp is not None  # nosec B101: narrows the type; connected just above
            handed = False

            def body_going() -> None:
                nonlocal handed
                handed = True

            try:
                _envelope(smtp, prepared)
                # Committed in doubt before DATA: from here a crash must not re-send blindly.
                if not handover.handing_over(entry):
                    _reset(smtp)  # another worker holds it now
                    return EntryResult(CLAIM_LOST), smtp, None
                _data(smtp, prepared.data, body_going)
            except _Refused as error:
                result = EntryResult(_status(error), error=error.reason)
                if error.closing or (not error.permanent and error.stage != "RCPT TO"):
                    _close(smtp)
                    return result, None, (_RETRY, f"not tried: {error.reason}")
                if error.permanent and error.stage == "MAIL FROM":
                    _reset(smtp)
                    return (EntryResult(SENDING_HALTED, error=error.reason), smtp,
                            (SENDING_HALTED, error.reason))
                _reset(smtp)
                return result, smtp, None
            except (smtplib.SMTPServerDisconnected, OSError) as error:
                smtp.close()
                smtp = None
                if handed:
                    reason = f"no answer from the SMTP server after the message went: {error}"
                    return EntryResult(ANSWER_UNKNOWN, error=reason), None, None
                if attempt == 1:
                    continue  # closed between messages (an idle timeout): open it again once
                reason = f"the SMTP server closed the connection: {error}"
                return EntryResult(_RETRY, error=reason), None, (_RETRY, f"not tried: {reason}")
            result = EntryResult("SUCCESS", prepared.message_id)
            handover.handed_over(entry, result)
            return result, smtp, None
        raise AssertionError("unreachable")  # pragma: no cover


_RETRY = "TRANSIENT_FAILURE"


def _status(error: _Refused) -> str:
    return "MESSAGE_REJECTED" if error.permanent else _RETRY


__all__ = ["TLS_MODES", "SmtpBatch", "SmtpOptions", "SmtpTransport", "connect", "prepare"]
