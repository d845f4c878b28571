"""Prints what a variant costs to compile and a reader costs to fill (run with -s).

No timed assertions: machines differ. The check is that the measured work is the real work.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from emails import EditionContent, MailSettings, Recipient, UrlLinks, compile_variant, fill
from tests.emails.conftest import BASE_URL, TOPICS


def test_measure_compile_and_fill(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    compile_variant(july_edition, TOPICS, "zh-CN", settings=settings)  # warm Jinja's cache
    compile_times = []
    for _ in range(5):
        start = time.perf_counter()
        variant = compile_variant(july_edition, TOPICS, "zh-CN", settings=settings)
        compile_times.append(time.perf_counter() - start)

    links = UrlLinks(BASE_URL)
    recipients = [reader(name=f"读者{n}") for n in range(2000)]
    fill_times = []
    for recipient in recipients:
        start = time.perf_counter()
        message = fill(variant, recipient, links)
        fill_times.append(time.perf_counter() - start)
    assert f"/v/{recipients[-1].delivery_token}" in message.html  # the timed fills did fill

    print(
        f"\ncompile (full July, zh-CN, all topics): "
        f"{statistics.median(compile_times) * 1e3:.1f} ms median of 5"
        f"\nfill one reader: {statistics.median(fill_times) * 1e6:.1f} µs median of 2000"
        f" ({len(message.html.encode())} bytes HTML)"
    )
