"""SendBulkEmail's two template forms give every reader the very message `fill` gives them.

The token form writes the per-reader URLs into the template around the reader's tokens; the
slots form sends every slot's value. Through the SES simulator (which renders SES's inline
templates), each reader's subject, parts and headers — and so the MIME SES writes from them —
are the same either way, and the same as the outbox's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from emails import EditionContent, Recipient, compile_variant, fill
from emails.content import Links, UrlLinks
from emails.edition import Variant
from emails.mime import Message
from emails.transports.batch import BatchEntry, SesBulkBatch
from emails.transports.bulk_template import token_form
from tests.emails.conftest import BASE_URL, TOPICS, LongLinks, make_settings, with_english
from tests.simulator.conftest import ses_client
from tests.tools.ses_simulator import SentMessage, SesSimulator, SimulatorConfig

pytestmark = pytest.mark.servers  # starts the SES simulator: not under libfaketime

WHEN = datetime(2024, 8, 1, 9, 30, tzinfo=UTC)
NAMES = ["王小明", None, "Tom & <Jerry> {{x}}", "  Ann\tLee  "]


@pytest.fixture
def sim() -> Iterator[SesSimulator]:
    simulator = SesSimulator(SimulatorConfig(max_send_rate=1000, max_24_hour_send=10_000)).start()
    yield simulator
    simulator.stop()


def _mime(variant: Variant, recipient: Recipient, sent: SentMessage) -> bytes:
    """The message SES writes from what it rendered: the reader's parts and headers."""
    headers = dict(variant.headers)
    headers["List-Unsubscribe"] = sent.header("List-Unsubscribe") or ""
    message = Message(sender=variant.sender, to=recipient.email, subject=sent.subject,
                      html=sent.html or "", text=sent.text or "", headers=headers,
                      tags=sent.tags, reply_to=variant.reply_to)
    return _bytes(message)


def _bytes(message: Message) -> bytes:
    """The message's MIME with a fixed Message-ID, date and part boundary."""
    mail = message.to_email(message_id="<m@example.com>", date=WHEN)
    mail.set_boundary("yuebao-boundary")
    return mail.as_bytes()


def _expected(variant: Variant, recipient: Recipient, links: Links) -> bytes:
    return _bytes(fill(variant, recipient, links))


def _send(sim: SesSimulator, variant: Variant, readers: list[Recipient], links: Links,
          *, tokens: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], list[Any]]:
    batch = SesBulkBatch(ses_client(sim))
    if not tokens:
        monkeypatch.setattr(batch, "token_form", lambda *args: None)
    entries = [BatchEntry(n, r) for n, r in enumerate(readers, start=1)]
    request = batch.request(variant, entries, links)
    sim.reset()
    results = batch.send_batch(variant, entries, links)
    assert [r.status for r in results] == ["SUCCESS"] * len(readers)
    return request, list(sim.messages)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("tracking", [True, False])
def test_each_reader_gets_the_same_message_in_either_form(
    sim: SesSimulator, july_edition: EditionContent, reader: Callable[..., Recipient],
    monkeypatch: pytest.MonkeyPatch, language: str, tracking: bool,
) -> None:
    edition = with_english(july_edition) if language == "en" else july_edition
    variant = compile_variant(edition, TOPICS, language, settings=make_settings())
    links = UrlLinks(BASE_URL)
    readers = [reader(language, name=name, tracking=tracking) for name in NAMES]

    by_tokens, sent_tokens = _send(sim, variant, readers, links, tokens=True,
                                   monkeypatch=monkeypatch)
    by_slots, sent_slots = _send(sim, variant, readers, links, tokens=False,
                                 monkeypatch=monkeypatch)

    for recipient, one, other in zip(readers, sent_tokens, sent_slots, strict=True):
        assert one.recipient == other.recipient == recipient.email
        assert (one.subject, one.html, one.text) == (other.subject, other.html, other.text)
        assert one.headers == other.headers and one.tags == other.tags
        assert _mime(variant, recipient, one) == _expected(variant, recipient, links)
    # The token form carries the greeting and two tokens per reader, nothing else.
    for entry, recipient in zip(by_tokens["BulkEmailEntries"], readers, strict=True):
        data = json.loads(entry["ReplacementEmailContent"]["ReplacementTemplate"]
                          ["ReplacementTemplateData"])
        assert set(data) == {"h_greeting", "t_greeting", "sub", "dlv", "ob"}
        assert (data["sub"], data["dlv"]) == (recipient.subscriber_token,
                                               recipient.delivery_token)
    assert len(json.dumps(by_tokens)) < len(json.dumps(by_slots))


def test_a_call_whose_readers_differ_goes_in_slots_and_still_matches(
    sim: SesSimulator, july_edition: EditionContent, reader: Callable[..., Recipient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variant = compile_variant(july_edition, {"ai", "data"}, "zh-CN", settings=make_settings())
    links = UrlLinks(BASE_URL)
    mixed = [reader(), reader(tracking=False), reader(delivery_token=None, tracking=False),
             reader(subscriber_token="a&b" + "s" * 40)]
    for readers in (mixed[:2], mixed[1:3], [mixed[0], mixed[3]]):
        batch = SesBulkBatch(ses_client(sim))
        entries = [BatchEntry(n, r) for n, r in enumerate(readers, start=1)]
        assert batch.token_form(variant, entries, links) is None
        _request, sent = _send(sim, variant, readers, links, tokens=True,
                               monkeypatch=monkeypatch)
        for recipient, message in zip(readers, sent, strict=True):
            assert _mime(variant, recipient, message) == _expected(variant, recipient, links)


def test_links_that_do_more_than_put_the_token_in_place_get_no_token_form(
    july_edition: EditionContent,
) -> None:
    """LongLinks pads every URL to a fixed length, so a URL depends on the token's length."""
    variant = compile_variant(july_edition, TOPICS, "zh-CN", settings=make_settings())
    assert token_form(variant, LongLinks(), True) is None
    assert token_form(variant, UrlLinks(BASE_URL), True) is not None


def test_braces_in_content_stay_content_in_the_token_form(
    sim: SesSimulator, reader: Callable[..., Recipient], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.emails.conftest import make_edition, make_item

    edition = make_edition(
        {"policy": [make_item(1, {"a"}, title="{{{dlv}}} 与 {{sub}}", url="https://x.cn/{a}")]},
        intro="导语 {{ob}}",
    )
    variant = compile_variant(edition, {"a"}, "zh-CN", settings=make_settings())
    links = UrlLinks(BASE_URL)
    readers = [reader(), reader(name=None)]
    _request, sent = _send(sim, variant, readers, links, tokens=True, monkeypatch=monkeypatch)
    for recipient, message in zip(readers, sent, strict=True):
        assert "{{{dlv}}} 与 {{sub}}" in (message.text or "")
        assert _mime(variant, recipient, message) == _expected(variant, recipient, links)


@pytest.mark.parametrize("tokens", [True, False])
def test_a_variant_compiled_again_gets_its_own_template(
    sim: SesSimulator, july_edition: EditionContent, reader: Callable[..., Recipient],
    monkeypatch: pytest.MonkeyPatch, tokens: bool,
) -> None:
    """A worker recompiles its variants when the branding changes: same month and key, new
    content, and the template SES gets follows, in either form."""
    links = UrlLinks(BASE_URL)
    batch = SesBulkBatch(ses_client(sim))
    if not tokens:
        monkeypatch.setattr(batch, "token_form", lambda *args: None)
    recipient = reader()
    for org in ("植德律师事务所", "另一家事务所"):
        variant = compile_variant(july_edition, {"ai"}, "zh-CN",
                                  settings=make_settings(org_name=org))
        sim.reset()
        [result] = batch.send_batch(variant, [BatchEntry(1, recipient)], links)
        assert result.status == "SUCCESS"
        [sent] = sim.messages
        assert org in (sent.text or "")
        assert _mime(variant, recipient, sent) == _expected(variant, recipient, links)
