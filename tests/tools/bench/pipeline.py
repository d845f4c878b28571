"""Per-reader work with and without variant caching, and the naive one-at-a-time pipeline.

The naive pipeline is what a straightforward sender does for every reader: compile the MJML,
build the MIME with the standard `email` package, and call SES SendEmail with Raw content.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from emails import EditionContent, Links, MailSettings, Recipient, compile_variant
from emails.fill import fill
from emails.transports.batch import BatchEntry, entry_data, own_part
from emails.transports.batch import _bulk_entry as bulk_entry
from emails.transports.bulk_template import TokenForm, shared_slots, token_form, token_reader
from webapp.delivery.variants import parse_variant_key


@dataclass(frozen=True)
class Reader:
    delivery_id: int
    variant_key: str
    recipient: Recipient


def _per_reader_us(work: Callable[[Reader], object], readers: Sequence[Reader]) -> float:
    start = time.perf_counter()
    for reader in readers:
        work(reader)
    return (time.perf_counter() - start) / len(readers) * 1e6


def fill_figures(
    content: EditionContent, settings: MailSettings, links: Links, readers: Sequence[Reader],
    *, compile_sample: int,
) -> dict[str, float]:
    """µs per reader: the SES bulk entry and the whole message from a cached variant, and the
    same message compiled from MJML for each reader."""
    cache: dict[str, Any] = {}

    def variant(key: str) -> Any:
        if key not in cache:
            language, topics = parse_variant_key(key)
            cache[key] = compile_variant(content, topics, language, settings=settings)
        return cache[key]

    # Warm the caches (compiling each variant and its SES forms once is not per reader), and
    # find the slots a call shares between parts as SesBulkBatch does, over the sample readers.
    samples: dict[str, list[Any]] = {}
    forms: dict[tuple[str, bool], TokenForm | None] = {}
    for reader in readers:
        recipient = reader.recipient
        tracked = recipient.tracking and recipient.delivery_token is not None
        if (reader.variant_key, tracked) not in forms:
            forms[reader.variant_key, tracked] = token_form(
                variant(reader.variant_key), links, tracked)
        form = forms[reader.variant_key, tracked] if token_reader(recipient) else None
        samples.setdefault(reader.variant_key, []).append(
            own_part(variant(reader.variant_key), recipient, links, form).values)
    shared = {key: shared_slots(values) for key, values in samples.items()}

    def entry(reader: Reader) -> object:  # all the SES path does per reader
        recipient = reader.recipient
        tracked = recipient.tracking and recipient.delivery_token is not None
        form = forms[reader.variant_key, tracked] if token_reader(recipient) else None
        own = own_part(variant(reader.variant_key), recipient, links, form)
        data = entry_data(own.values, recipient, form, shared[reader.variant_key])
        return bulk_entry(BatchEntry(reader.delivery_id, recipient), own, data)

    def message(reader: Reader) -> object:
        return fill(variant(reader.variant_key), reader.recipient, links)

    def compiled(reader: Reader) -> object:
        language, topics = parse_variant_key(reader.variant_key)
        fresh = compile_variant(content, topics, language, settings=settings)
        return fill(fresh, reader.recipient, links)

    return {
        "fill_us": round(_per_reader_us(entry, readers), 1),
        "fill_message_us": round(_per_reader_us(message, readers), 1),
        "compile_per_reader_us": round(_per_reader_us(compiled, readers[:compile_sample]), 1),
    }


def naive_message(
    content: EditionContent, settings: MailSettings, links: Links, reader: Reader
) -> bytes:
    """MJML compiled for this reader, then a standard-library MIME message."""
    language, topics = parse_variant_key(reader.variant_key)
    filled = fill(compile_variant(content, topics, language, settings=settings),
                  reader.recipient, links)
    mime = EmailMessage()
    mime["From"] = filled.sender
    mime["To"] = filled.to
    mime["Subject"] = filled.subject
    for name, value in filled.headers.items():
        mime[name] = value
    mime.set_content(filled.text)
    mime.add_alternative(filled.html, subtype="html")
    return mime.as_bytes()


def naive_send(
    client: Any, content: EditionContent, settings: MailSettings, links: Links,
    readers: Sequence[Reader], seconds: float,
) -> dict[str, float]:
    """One reader at a time for `seconds`: messages sent, and CPU per message."""
    client.get_account()  # botocore loads its models on first use: not a per-message cost
    sent = 0
    cpu0, start = time.process_time(), time.monotonic()
    for reader in readers:
        if time.monotonic() - start >= seconds:
            break
        raw = naive_message(content, settings, links, reader)
        client.send_email(
            FromEmailAddress=settings.mail_from,
            Destination={"ToAddresses": [reader.recipient.email]},
            Content={"Raw": {"Data": raw}},
            EmailTags=[{"Name": "delivery", "Value": str(reader.delivery_id)}],
        )
        sent += 1
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu0
    return {
        "naive_sent": sent,
        "naive_rate": round(sent / elapsed, 1),
        "naive_cpu_ms_per_msg": round(cpu / max(sent, 1) * 1000, 3),
    }
