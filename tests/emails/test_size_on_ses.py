"""On the SES path SES writes the MIME: the HTML it is given keeps the budget base64 implies.

SendEmail (Simple content) and SendBulkEmail (an inline template and each reader's values)
hand SES the HTML, not the message; whatever it writes, every reader's HTML with CRLF line
ends stays within MAX_HTML_PAYLOAD (73,074 bytes), which base64 writes in 99,996.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from emails import MAX_HTML_BYTES, Recipient, compile_variant, fill
from emails.edition import MAX_HTML_PAYLOAD
from emails.mime import base64_bytes
from emails.transports.batch import BatchEntry, SesBulkBatch
from emails.transports.ses import SesTransport
from tests.emails.conftest import LongLinks, long_chinese_edition, make_settings
from tests.emails.test_size import WORST_NAME
from tests.simulator.conftest import ses_client
from tests.tools.ses_simulator import SesSimulator, SimulatorConfig

pytestmark = pytest.mark.servers  # starts the SES simulator: not under libfaketime


@pytest.fixture
def sim() -> Iterator[SesSimulator]:
    simulator = SesSimulator(
        SimulatorConfig(max_send_rate=1000, max_24_hour_send=10_000)
    ).start()
    yield simulator
    simulator.stop()


def within_budget(html: str) -> int:
    """The HTML's size as base64 would write it, after checking it keeps the budget."""
    payload = len(html.replace("\r\n", "\n").replace("\n", "\r\n").encode()) + 2
    assert payload <= MAX_HTML_PAYLOAD
    return base64_bytes(payload)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_send_email_hands_ses_html_within_the_base64_budget(
    sim: SesSimulator, reader: Callable[..., Recipient], language: str
) -> None:
    variant = compile_variant(
        long_chinese_edition(), {"a"}, language, settings=make_settings(), layout="full"
    )
    assert variant.shortened
    message = fill(variant, reader(language, name=WORST_NAME), LongLinks())
    transport = SesTransport(client=ses_client(sim))
    request = transport.request(message)
    html = request["Content"]["Simple"]["Body"]["Html"]
    assert html == {"Data": message.html, "Charset": "UTF-8"}
    assert within_budget(html["Data"]) <= MAX_HTML_BYTES
    transport.send(message)
    [sent] = sim.messages
    assert sent.content_type == "Simple" and sent.html == message.html


def test_send_bulk_email_gives_every_reader_html_within_the_base64_budget(
    sim: SesSimulator, reader: Callable[..., Recipient]
) -> None:
    variant = compile_variant(
        long_chinese_edition(), {"a"}, "zh-CN", settings=make_settings(), layout="full"
    )
    readers = [
        reader(name=WORST_NAME),
        reader(name=None, tracking=False),
        reader(name="王" * 100, delivery_token=None, tracking=False),
    ]
    entries = [BatchEntry(n, recipient) for n, recipient in enumerate(readers, start=1)]
    results = SesBulkBatch(ses_client(sim)).send_batch(variant, entries, LongLinks())
    assert [r.status for r in results] == ["SUCCESS"] * 3
    assert len(sim.messages) == 3
    for recipient, sent in zip(readers, sim.messages, strict=True):
        assert sent.content_type == "Template" and sent.html is not None
        assert sent.html == fill(variant, recipient, LongLinks()).html
        assert within_budget(sent.html) <= variant.max_sent_html_bytes <= MAX_HTML_BYTES
