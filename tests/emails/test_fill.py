"""Filling a compiled variant: slots, budgets and the limits the size guard relies on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emails import MailSettings, Recipient, UrlLinks, compile_variant, fill
from emails.edition import MAX_NAME_CHARS, MAX_URL_LENGTH
from emails.slots import SlotMarkers
from tests.emails.conftest import BASE_URL, make_edition, make_item, make_settings


def test_slot_markers_split_into_chunks_and_names() -> None:
    slot = SlotMarkers()
    template = slot.split(f"<a href='{slot('view')}'>x</a>{slot('greeting')}!{slot('view')}")
    assert template.names == {"view", "greeting"}
    assert template.fill({"view": "V", "greeting": "G"}) == "<a href='V'>x</a>G!V"
    assert template.max_bytes({"view": 10, "greeting": 3}) == len("<a href=''>x</a>!") + 23
    with pytest.raises(ValueError):
        slot("Bad-Name")


def test_markers_of_another_compile_are_not_slots() -> None:
    first, second = SlotMarkers(), SlotMarkers()
    template = second.split(f"a{first('view')}b")
    assert template.names == frozenset()


def test_an_over_long_reader_url_is_refused_rather_than_risking_the_clip(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    variant = compile_variant(
        make_edition({"policy": [make_item(1, {"a"})]}), {"a"}, "zh-CN", settings=settings
    )
    fill(variant, reader(subscriber_token="t" * (MAX_URL_LENGTH - 40)), UrlLinks(BASE_URL))
    with pytest.raises(ValueError, match="longer than"):
        fill(variant, reader(subscriber_token="t" * MAX_URL_LENGTH), UrlLinks(BASE_URL))


def test_a_base_url_of_200_characters_fits_the_longest_reader_urls(
    reader: Callable[..., Recipient],
) -> None:
    base = "https://newsletter.meritsandtree.com/" + "n" * 163
    edition = make_edition({"policy": [make_item(n, {"a"}) for n in (*range(1, 20), 9999)]})
    variant = compile_variant(edition, {"a"}, "zh-CN", settings=make_settings(base_url=base))
    # Delivery tokens are 64 hex characters (made by the database); a four-digit item number.
    recipient = reader(subscriber_token="s" * 43, delivery_token="d" * 64)
    message = fill(variant, recipient, UrlLinks(base))
    assert f"{base}/c/{'d' * 64}/9999" in message.html
    assert len(message.html.encode()) <= variant.max_html_bytes
    with pytest.raises(ValueError, match="longer than"):
        fill(variant, reader(subscriber_token="t" * 100), UrlLinks(base))


def test_names_are_cut_and_cannot_break_lines(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    variant = compile_variant(
        make_edition({"policy": [make_item(1, {"a"})]}), {"a"}, "en", settings=settings
    )
    message = fill(variant, reader("en", name="Ann\r\nBcc: x\t" + "z" * 300), UrlLinks(BASE_URL))
    expected = ("Ann Bcc: x " + "z" * 300)[:MAX_NAME_CHARS]
    assert f"Dear {expected}," in message.text and f"Dear {expected}," in message.html
    assert "z" * (MAX_NAME_CHARS - 10) not in message.text
