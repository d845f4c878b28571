"""Gmail clips HTML above ~102 KB: no reader's filled HTML may pass MAX_HTML_BYTES."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from emails import (
    MAX_HTML_BYTES,
    EditionContent,
    MailSettings,
    Recipient,
    RenderError,
    compile_variant,
    fill,
)
from emails.compiler import compile_mjml, render_html
from emails.edition import MAX_NAME_CHARS
from emails.shorten import cut_text
from tests.emails.conftest import TOPICS, LongLinks, make_edition, make_item

WORST_NAME = '"' * MAX_NAME_CHARS  # each escapes to six bytes


def test_every_july_variant_fits_for_the_longest_reader_values(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    sizes: dict[str, int] = {}
    for language in ("zh-CN", "en"):
        recipient = reader(language, name=WORST_NAME)
        for n in range(1, len(TOPICS) + 1):
            for topics in itertools.combinations(TOPICS, n):
                variant = compile_variant(july_edition, topics, language, settings=settings)
                assert variant.shortened == (), variant.key
                size = len(fill(variant, recipient, LongLinks()).html.encode())
                assert size <= variant.max_html_bytes <= MAX_HTML_BYTES, variant.key
                sizes[variant.key] = size
    assert len(sizes) == 126
    largest = max(sizes.values())
    keys = [key for key, size in sizes.items() if size == largest]
    print(f"\nlargest July HTML: {largest} bytes for a worst-case reader ({len(keys)} variants)")


def _oversized_edition() -> EditionContent:
    sentence = "这是一句很长的摘要内容，用来把邮件撑大。"  # 20 chars, 60 bytes
    items = [make_item(n, {"a"}, summary="\n\n".join([sentence * 8] * 10)) for n in range(1, 21)]
    items.append(make_item(21, {"a"}, title="短条目", summary="很短的摘要。"))
    return make_edition({"policy": items[:10], "industry": items[10:]})


def test_an_oversized_variant_is_shortened_with_read_more_links(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    edition = _oversized_edition()
    variant = compile_variant(edition, {"a"}, "zh-CN", settings=settings, layout="full")
    assert sorted(variant.shortened) == [1000 + n for n in range(1, 21)]
    assert 1021 not in variant.shortened
    message = fill(variant, reader(name=WORST_NAME, delivery_token="DT"), LongLinks())
    assert len(message.html.encode()) <= variant.max_html_bytes <= MAX_HTML_BYTES
    assert message.html.count("阅读全文") == 20 and message.text.count("阅读全文") == 20
    assert "很短的摘要。" in message.html
    # cut at a sentence end, and the read-more link goes to the reader's web version
    assert "撑大。</p>" in message.html
    assert message.html.count("/v/DT") >= 20


def test_an_edition_too_big_even_when_shortened_is_an_error(settings: MailSettings) -> None:
    items = [make_item(n, {"a"}, title="很长的标题" * 40) for n in range(1, 400)]
    with pytest.raises(RenderError, match=r"edition\.mjml"):
        compile_variant(make_edition({"policy": items}), {"a"}, "zh-CN", settings=settings)


def test_cut_text_prefers_sentence_ends() -> None:
    text = "第一句话。第二句话比较长一些。第三句。"
    assert cut_text(text, 100) == text
    assert (
        cut_text(text, len("第一句话。第二句话比较长一些。".encode()) + 4)
        == "第一句话。第二句话比较长一些。"
    )
    assert cut_text("没有标点的一段很长很长很长的文字" * 3, 30).endswith("…")
    assert len(cut_text("word " * 100, 50).encode()) <= 50
    assert cut_text("First sentence here. Second one is longer than that.", 40) == (
        "First sentence here."
    )


def test_mjml_errors_become_render_errors_naming_the_template() -> None:
    with pytest.raises(RenderError, match=r"broken\.mjml") as caught:
        compile_mjml("broken.mjml", "<mjml><mj-body><mj-section><mj-column><mj-text>x")
    assert caught.value.template == "broken.mjml"


def test_a_panic_in_mjml_python_becomes_a_render_error(
    monkeypatch: pytest.MonkeyPatch, settings: MailSettings
) -> None:
    class PanicException(BaseException):  # what pyo3 raises for a Rust panic
        pass

    def panic(*args: object, **kwargs: object) -> str:
        raise PanicException("rust panicked")

    monkeypatch.setattr("emails.compiler.mjml2html", panic)
    with pytest.raises(RenderError, match=r"edition\.mjml.*rust panicked"):
        compile_variant(
            make_edition({"policy": [make_item(1, {"a"})]}), {"a"}, "zh-CN", settings=settings
        )


def test_keyboard_interrupt_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("emails.compiler.mjml2html", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compile_mjml("edition.mjml", "<mjml></mjml>")


def test_template_errors_name_the_template() -> None:
    with pytest.raises(RenderError, match=r"system\.mjml"):
        render_html("system.mjml", {"lang": "zh-CN"})  # context missing on purpose
