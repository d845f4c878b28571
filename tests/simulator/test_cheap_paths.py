"""The simulator's cheap paths answer exactly as the thorough ones they stand in for.

A bench at 5,000 messages/s must not find the simulator to be the limit, so a bulk call parses
its template once and renders a message's body only when it is read, a valid request skips the
error-collecting walk over the model, and plain addresses skip the RFC 5322 parser. Each shortcut
is checked here against the path it replaces.
"""

from __future__ import annotations

import json
import random
import re
from email.utils import parseaddr
from typing import Any

import pytest

from tests.simulator.conftest import Receiver, bulk_email
from tests.simulator.test_model import leaves, replaced, required_members, samples
from tests.tools.ses_simulator import SesSimulator
from tests.tools.ses_simulator import template as handlebars
from tests.tools.ses_simulator.api import new_message_id
from tests.tools.ses_simulator.content import SesError, check_address
from tests.tools.ses_simulator.model import conforms, input_shape, validate
from tests.tools.ses_simulator.server import run_operation


def _send(sim: SesSimulator, request: dict[str, Any]) -> dict[str, Any]:
    reply = run_operation(sim, "SendBulkEmail", json.dumps(request).encode())
    assert reply.status == 200, reply.body
    answer: dict[str, Any] = json.loads(reply.body)
    return answer


def test_a_body_is_rendered_when_read_with_the_escaping_of_its_send() -> None:
    sim = SesSimulator(escape_html=True)
    template = {"Subject": "{{x}}", "Html": "<b>{{x}}</b>{{{x}}}", "Text": "{{x}}"}
    request = bulk_email(["a@example.com", "b@example.com"], template=template)
    for entry, value in zip(request["BulkEmailEntries"], ["<1>", "<2>"], strict=True):
        replacement = entry["ReplacementEmailContent"]["ReplacementTemplate"]
        replacement["ReplacementTemplateData"] = json.dumps({"x": value})
    _send(sim, request)
    sim.config.escape_html = False  # changed after the send: the messages keep their own
    first, second = sim.messages
    assert first.subject == "&lt;1&gt;"  # rendered at once: headers and events carry it
    assert (first.html, first.text) == ("<b>&lt;1&gt;</b><1>", "&lt;1&gt;")
    assert (second.html, second.text) == ("<b>&lt;2&gt;</b><2>", "&lt;2&gt;")
    assert first.html is first.html  # rendered once, then kept
    assert second.headers["Content-Type"] == "multipart/alternative"


def test_a_body_without_a_text_part_has_none_and_says_so_in_its_content_type() -> None:
    sim = SesSimulator()
    _send(sim, bulk_email(["a@example.com"], template={"Subject": "s", "Html": "{{name}}"}))
    (message,) = sim.messages
    assert (message.html, message.text) == ("a", None)
    assert message.headers["Content-Type"] == "text/html; charset=UTF-8"


TEMPLATES = [
    "plain",
    "{{a}} and {{{a}}} and {{& a}} and {{ a }}",
    "{{a.b.c}} {{this.a}} {{missing}} {{a.b}}",
    "{{! a comment }}{{#if a}}x{{/if}}{{> partial}}{{else}}{{a b}}",
    "{{{{a}}}} {{{a}} }} {a} {{",
    "{{n}} {{f}} {{t}} {{l}} {{o}} {{z}}",
]
DATA = {
    "a": {"b": {"c": "<&>"}},
    "n": 3,
    "f": 2.5,
    "t": True,
    "l": [1, None, "x"],
    "o": {},
    "z": 2.0,
}


def _substituted(template: str, data: dict[str, Any], escape: bool) -> str:
    """The one-pass regex substitution the compiled form replaced."""

    def one(match: re.Match[str]) -> str:
        raw, name = match.group(1), match.group(2)
        expression = raw if raw is not None else name
        if expression.startswith("!"):
            return ""
        verbatim = raw is not None
        if expression.startswith("&"):
            expression, verbatim = expression[1:].strip(), True
        if expression.startswith(("#", "/", "^", ">", "else")) or " " in expression:
            return match.group(0)
        value: object = data
        for part in expression.removeprefix("this.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        text = handlebars._stringify(value)
        return handlebars.escape(text) if escape and not verbatim else text

    return handlebars._TAG.sub(one, template)


@pytest.mark.parametrize("escape", [False, True])
@pytest.mark.parametrize("text", TEMPLATES)
def test_the_parsed_template_renders_as_substitution_in_one_pass(text: str, escape: bool) -> None:
    assert handlebars.render(text, DATA, escape_html=escape) == _substituted(text, DATA, escape)


@pytest.mark.parametrize("name", sorted(samples()))
def test_the_compiled_check_agrees_with_validate_on_every_mutation(name: str) -> None:
    op = name.split(":")[0]
    request = samples()[name]
    shape, check = input_shape(op), conforms(op)
    assert check(request) and validate(shape, request) == []
    mutations = [replaced(request, path) for path in required_members(shape, request)]
    wrongs: tuple[object, ...] = (12345, "x" * 2000, "a\nb", [], {})
    for path, _ in leaves(shape, request):
        if path:
            mutations += [replaced(request, path, wrong) for wrong in wrongs]
    for mutated in mutations:
        assert check(mutated) == (validate(shape, mutated) == []), mutated


def _parser_verdict(value: str) -> bool:
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    return "@" in address and bool(local) and bool(domain) and local.isascii()


def test_plain_addresses_pass_as_the_parser_would_let_them() -> None:
    picker = random.Random(22)
    alphabet = "ab.!#$%&'*+/=?^_`{|}~-<> ()\"@,;:\\[]é"
    values = ["a@b", "Name <a@b.c>", "<a@b>", "é@b.c", "a@", "@b", "a", "a.b@c.d"]
    values += [
        "".join(picker.choice(alphabet) for _ in range(picker.randint(1, 9))) for _ in range(3000)
    ]
    for value in values:
        try:
            check_address(value, "ToAddresses")
            accepted = True
        except SesError:
            accepted = False
        assert accepted == _parser_verdict(value), value


def test_message_ids_are_unique_and_shaped_like_ses() -> None:
    ids = [new_message_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    shape = re.compile(
        r"0100[0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-"
        r"[0-9a-f]{12}-000000"
    )
    assert all(shape.fullmatch(i) for i in ids)


@pytest.mark.servers  # starts a receiver: not under libfaketime
def test_digest_mode_keeps_no_message_but_still_publishes_each_ones_events(
    receiver: Receiver,
) -> None:
    sim = SesSimulator(record_mode="digest", events_url=receiver.url).start()
    try:
        request = bulk_email(["a@example.com", "b@example.com"], ConfigurationSetName="yuebao")
        answer = _send(sim, request)
        assert sim.flush_events()
        events = [json.loads(post.body["Message"]) for post in receiver.wait_for(4)]
    finally:
        sim.stop()
    assert sim.messages == []
    assert sim.stats()["messages"] == sim.stats()["messages.SendBulkEmail"] == 2
    ids = [result["MessageId"] for result in answer["BulkEmailEntryResults"]]
    sent = sorted((e["eventType"], e["mail"]["messageId"]) for e in events)
    assert sent == sorted((kind, i) for kind in ("Delivery", "Send") for i in ids)
    assert {e["mail"]["commonHeaders"]["subject"] for e in events} == {"Hi a", "Hi b"}


def test_digest_mode_without_events_counts_what_it_accepted() -> None:
    sim = SesSimulator(record_mode="digest")
    request = bulk_email(["a@example.com", "b@example.com", "c@example.com"])
    sim.faults.reject(["b@example.com"])
    _send(sim, request)
    stats = sim.stats()
    assert stats["messages"] == stats["SendBulkEmail.SUCCESS"] == 2
    assert stats["SendBulkEmail.MESSAGE_REJECTED"] == 1
    assert stats["sent_last_24_hours"] == 2
