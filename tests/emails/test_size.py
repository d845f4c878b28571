"""Gmail clips HTML above ~102 KB as received: no reader's HTML part, encoded as sent, may
pass MAX_HTML_BYTES."""

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
from emails.edition import MAX_HTML_PAYLOAD, MAX_NAME_CHARS
from emails.mime import Message, sent_bytes
from emails.shorten import cut_text
from tests.emails.conftest import (
    TOPICS,
    LongLinks,
    long_chinese_edition,
    make_edition,
    make_item,
)
from tests.mailbox import part_as_sent

WORST_NAME = '"' * MAX_NAME_CHARS  # each escapes to six bytes


def html_as_sent(message: Message) -> bytes:
    """The HTML part's body as written in the .eml (the outbox's and SMTP's bytes)."""
    return part_as_sent(message.to_bytes(), "text/html")[1]


def test_every_july_variant_fits_for_the_longest_reader_values(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    sizes: dict[str, tuple[int, int]] = {}
    shortened: dict[str, int] = {}
    for language in ("zh-CN", "en"):
        recipient = reader(language, name=WORST_NAME)
        for n in range(1, len(TOPICS) + 1):
            for topics in itertools.combinations(TOPICS, n):
                variant = compile_variant(july_edition, topics, language, settings=settings)
                message = fill(variant, recipient, LongLinks())
                size, sent = len(message.html.encode()), len(html_as_sent(message))
                assert size <= variant.max_html_bytes, variant.key
                assert sent <= variant.max_sent_html_bytes <= MAX_HTML_BYTES, variant.key
                sizes[variant.key] = (size, sent)
                if variant.shortened:
                    shortened[variant.key] = len(variant.shortened)
    assert len(sizes) == 126
    # The largest Chinese variants pass the base64 budget by a few hundred bytes with the
    # longest reader values: one summary, the longest, is cut, not every one of them.
    assert {key: n for key, n in shortened.items() if key.startswith("zh-CN")} == {
        key: 1 for key in shortened if key.startswith("zh-CN")
    }
    size, sent = max(sizes.values(), key=lambda pair: pair[1])
    print(f"\nlargest July HTML for a worst-case reader: {size:,} bytes, {sent:,} as sent; "
          f"{len(shortened)} of 126 variants shortened")


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
    assert len(message.html.encode()) <= variant.max_html_bytes
    assert len(html_as_sent(message)) <= variant.max_sent_html_bytes <= MAX_HTML_BYTES
    # each link named with its item for screen readers: "阅读全文：<title>"
    assert message.html.count(">阅读全文&nbsp;›</a>") == 20
    assert message.html.count('aria-label="阅读全文：') == 20
    assert message.text.count("阅读全文") == 20
    assert "很短的摘要。" in message.html
    # cut at a sentence end, and the read-more link goes to the reader's web version
    assert "撑大。</p>" in message.html
    assert message.html.count("/v/DT") >= 20


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_readers_html_part_as_sent_fits_after_shortening(
    settings: MailSettings, reader: Callable[..., Recipient], language: str
) -> None:
    variant = compile_variant(
        long_chinese_edition(), {"a"}, language, settings=settings, layout="full"
    )
    assert variant.shortened  # it had to be
    assert variant.max_sent_html_bytes <= MAX_HTML_BYTES
    readers = [
        (reader(language, name=WORST_NAME), LongLinks()),  # the longest values the guard allows
        (reader(language, name=None, tracking=False), LongLinks()),
        (reader(language, delivery_token=None, tracking=False), LongLinks()),  # a test send
    ]
    for recipient, links in readers:
        message = fill(variant, recipient, links)
        sent = html_as_sent(message)
        assert len(sent) == sent_bytes(message.html) <= variant.max_sent_html_bytes
        assert len(sent) <= MAX_HTML_BYTES
        # the budget SES's MIME is held to: base64 of CRLF lines within MAX_HTML_BYTES
        crlf = message.html.replace("\n", "\r\n").encode()
        assert len(crlf) + 2 <= MAX_HTML_PAYLOAD


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
