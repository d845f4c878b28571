"""The SMTP transport against a real SMTP server (aiosmtpd) in the test process: one connection
per batch, TLS and login, and what each kind of answer means for each reader."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from email.utils import parseaddr
from pathlib import Path

import pytest

from emails import EditionContent, MailSettings, Message, Recipient, UrlLinks, compile_variant, fill
from emails.edition import Variant
from emails.pacing import TokenBucket
from emails.transports.batch import BatchEntry, EntryResult
from emails.transports.errors import AnswerUnknown, Rejected, Transient
from emails.transports.smtp import SmtpBatch, SmtpOptions, SmtpTransport
from tests.emails.conftest import BASE_URL
from tests.support.smtp_server import (
    PASSWORD,
    USERNAME,
    RecordingHandler,
    TestCA,
    make_test_ca,
    smtp_server,
)

LINKS = UrlLinks(BASE_URL)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def plain_server(handler: RecordingHandler) -> Iterator[SmtpOptions]:
    with smtp_server(handler) as controller:
        yield SmtpOptions(host="127.0.0.1", port=controller.port, tls="off", timeout=5)


@pytest.fixture
def variant(july_edition: EditionContent, settings: MailSettings) -> Variant:
    return compile_variant(july_edition, {"fintech"}, "zh-CN", settings=settings)


@pytest.fixture
def entries(reader: Callable[..., Recipient]) -> list[BatchEntry]:
    return [BatchEntry(100 + n, reader(email=f"r{n}@example.org")) for n in range(1, 6)]


class Steps:
    """A handover that records what the engine would commit, in order."""

    def __init__(self, handler: RecordingHandler, refuse: frozenset[int] = frozenset()) -> None:
        self.handler, self.refuse = handler, refuse
        self.log: list[tuple[str, int, int]] = []  # (step, delivery, messages the server had)

    def handing_over(self, entry: BatchEntry) -> bool:
        self.log.append(("in doubt", entry.delivery_id, len(self.handler.messages)))
        return entry.delivery_id not in self.refuse

    def handed_over(self, entry: BatchEntry, result: EntryResult) -> None:
        self.log.append(("sent", entry.delivery_id, len(self.handler.messages)))


def batch(options: SmtpOptions, context: ssl.SSLContext | None = None) -> SmtpBatch:
    return SmtpBatch(options, 1000.0, context=context)


def statuses(results: list[EntryResult]) -> list[str]:
    return [r.status for r in results]


def test_a_batch_goes_through_one_connection_each_reader_committed_around_its_data(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    steps = Steps(handler)
    results = batch(plain_server).send_each(variant, entries, LINKS, steps)

    assert statuses(results) == ["SUCCESS"] * 5
    assert handler.connections == 1
    assert handler.recipients() == [e.recipient.email for e in entries]
    # In doubt before the server had the message, sent once it had it: never the other way.
    assert steps.log == [
        step for n, e in enumerate(entries)
        for step in (("in doubt", e.delivery_id, n), ("sent", e.delivery_id, n + 1))
    ]
    # Our own Message-ID is what is recorded (SMTP gives none).
    for result, received in zip(results, handler.messages, strict=True):
        assert received.parsed()["Message-ID"] == f"<{result.message_id}>"
    assert {m.mail_from for m in handler.messages} == {parseaddr(variant.sender)[1]}


def test_the_messages_are_paced_by_the_token_bucket(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    clock = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(2.0, capacity=1.0, clock=lambda: clock[0], sleep=sleep)
    SmtpBatch(plain_server, 2.0, bucket=bucket).send_batch(variant, entries, LINKS)

    assert len(handler.messages) == 5
    assert sum(waits) == pytest.approx(2.0)  # five at two a second: the first at once


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_with_a_test_certificate_and_a_login(
    ca: TestCA, handler: RecordingHandler, variant: Variant, entries: list[BatchEntry],
    mechanism: str,
) -> None:
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    with smtp_server(handler, starttls=ca.server_context(), auth=True,
                     auth_exclude=(other,)) as controller:
        options = SmtpOptions("127.0.0.1", controller.port, USERNAME, PASSWORD, "starttls", 5)
        results = batch(options, ca.client_context()).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SUCCESS"] * 5
    assert handler.logins == [mechanism]  # one login: one connection
    assert handler.connections == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_a_login(
    ca: TestCA, handler: RecordingHandler, variant: Variant, entries: list[BatchEntry]
) -> None:
    with smtp_server(handler, implicit_tls=ca.server_context(), auth=True) as controller:
        options = SmtpOptions("127.0.0.1", controller.port, USERNAME, PASSWORD, "tls", 5)
        results = batch(options, ca.client_context()).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SUCCESS"] * 5
    assert len(handler.logins) == 1


def test_a_refused_login_pauses_the_send_and_nothing_goes(
    ca: TestCA, handler: RecordingHandler, variant: Variant, entries: list[BatchEntry]
) -> None:
    with smtp_server(handler, starttls=ca.server_context(), auth=True) as controller:
        options = SmtpOptions("127.0.0.1", controller.port, USERNAME, "wrong", "starttls", 5)
        results = batch(options, ca.client_context()).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SENDING_HALTED"] * 5
    assert "535" in (results[0].error or "")
    assert handler.messages == []


def test_an_untrusted_certificate_pauses_the_send(
    ca: TestCA, handler: RecordingHandler, variant: Variant, entries: list[BatchEntry]
) -> None:
    with smtp_server(handler, starttls=ca.server_context()) as controller:
        options = SmtpOptions("127.0.0.1", controller.port, tls="starttls", timeout=5)
        results = batch(options, ssl.create_default_context()).send_batch(
            variant, entries, LINKS)

    assert statuses(results) == ["SENDING_HALTED"] * 5
    assert "TLS" in (results[0].error or "")
    assert handler.messages == []


def test_starttls_asked_of_a_server_without_it_pauses_the_send_with_the_reason(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    options = SmtpOptions(plain_server.host, plain_server.port, tls="starttls", timeout=5)
    results = batch(options).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SENDING_HALTED"] * 5
    assert "STARTTLS" in (results[0].error or "")


def test_a_server_that_cannot_be_reached_leaves_every_reader_for_later(
    variant: Variant, entries: list[BatchEntry]
) -> None:
    from tests.support.smtp_server import free_port

    options = SmtpOptions("127.0.0.1", free_port(), tls="off", timeout=5)
    results = batch(options).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["TRANSIENT_FAILURE"] * 5


def test_a_421_mid_batch_leaves_that_reader_and_the_rest_for_later(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    handler.mail_replies[3] = "421 4.7.0 Too many messages, closing"
    steps = Steps(handler)
    results = batch(plain_server).send_each(variant, entries, LINKS, steps)

    assert statuses(results) == ["SUCCESS"] * 2 + ["TRANSIENT_FAILURE"] * 3
    assert "421" in (results[2].error or "")
    assert handler.recipients() == [e.recipient.email for e in entries[:2]]
    assert [d for step, d, _ in steps.log if step == "in doubt"] == [101, 102]


def test_a_recipient_refused_with_550_fails_alone_with_the_servers_words(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    handler.rcpt_replies["r2@example.org"] = "550 5.1.1 <r2@example.org>: no such user"
    results = batch(plain_server).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SUCCESS", "MESSAGE_REJECTED", "SUCCESS", "SUCCESS", "SUCCESS"]
    assert results[1].error == "SMTP RCPT TO 550: 5.1.1 <r2@example.org>: no such user"
    assert handler.connections == 1


def test_a_busy_mailbox_451_retries_that_reader_and_the_batch_goes_on(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    handler.rcpt_replies["r2@example.org"] = "451 4.7.1 greylisted, try again later"
    results = batch(plain_server).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SUCCESS", "TRANSIENT_FAILURE", "SUCCESS", "SUCCESS", "SUCCESS"]


def test_a_message_refused_after_its_data_fails_that_reader_only(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    handler.data_replies[2] = "554 5.7.1 message refused as spam"
    results = batch(plain_server).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SUCCESS", "MESSAGE_REJECTED", "SUCCESS", "SUCCESS", "SUCCESS"]
    assert "spam" in (results[1].error or "")


def test_our_sender_refused_pauses_the_send(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    handler.mail_replies[1] = "553 5.7.1 sender not allowed"
    results = batch(plain_server).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SENDING_HALTED"] * 5
    assert handler.messages == []


def test_a_connection_closed_between_messages_is_opened_again_and_nothing_lost(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    handler.drop_at_mail.add(3)
    results = batch(plain_server).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SUCCESS"] * 5
    assert handler.recipients() == [e.recipient.email for e in entries]
    assert handler.connections == 2


def test_a_connection_dropped_after_a_message_went_leaves_only_that_one_in_doubt(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    handler.drop_after_data.add(3)
    results = batch(plain_server).send_batch(variant, entries, LINKS)

    assert statuses(results) == ["SUCCESS", "SUCCESS", "ANSWER_UNKNOWN", "SUCCESS", "SUCCESS"]
    # The server did take it: re-sending it blindly would have reached the reader twice.
    assert handler.recipients() == [e.recipient.email for e in entries]


def test_a_reader_another_worker_took_is_skipped(
    plain_server: SmtpOptions, handler: RecordingHandler, variant: Variant,
    entries: list[BatchEntry],
) -> None:
    results = batch(plain_server).send_each(
        variant, entries, LINKS, Steps(handler, refuse=frozenset({102})))

    assert statuses(results) == ["SUCCESS", "CLAIM_LOST", "SUCCESS", "SUCCESS", "SUCCESS"]
    assert "r2@example.org" not in handler.recipients()


# --- one message at a time: the system mails ------------------------------------------------


@pytest.fixture
def message(variant: Variant, reader: Callable[..., Recipient]) -> Message:
    return fill(variant, reader(email="ann@example.org"), LINKS)


def test_a_system_mail_goes_out_whole(
    plain_server: SmtpOptions, handler: RecordingHandler, message: Message
) -> None:
    sent = SmtpTransport(plain_server).send(message)

    [received] = handler.messages
    assert received.rcpt_tos == ("ann@example.org",)
    assert received.parsed()["Message-ID"] == f"<{sent.message_id}>"


def test_a_system_mail_refused_for_good_or_for_now_says_which(
    plain_server: SmtpOptions, handler: RecordingHandler, message: Message
) -> None:
    handler.rcpt_replies["ann@example.org"] = "550 5.1.1 no such user"
    with pytest.raises(Rejected, match="no such user"):
        SmtpTransport(plain_server).send(message)
    handler.rcpt_replies["ann@example.org"] = "452 4.2.2 mailbox full"
    with pytest.raises(Transient, match="mailbox full"):
        SmtpTransport(plain_server).send(message)
    handler.rcpt_replies.clear()
    handler.drop_after_data.add(1)
    with pytest.raises(AnswerUnknown):
        SmtpTransport(plain_server).send(message)


def test_a_system_mail_to_a_server_that_is_down_is_tried_later(
    message: Message, tmp_path: Path
) -> None:
    from tests.support.smtp_server import free_port

    with pytest.raises(Transient, match="could not reach"):
        SmtpTransport(SmtpOptions("127.0.0.1", free_port(), tls="off", timeout=5)).send(message)
