"""webapp.editions.outbox: reading back what the outbox transport wrote, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from emails import Message, make_transport
from webapp.editions.outbox import OutboxNotFound, message_path, read_message
from webapp.editions.outbox_search import OutboxQuery, search_outbox


def _write(directory: Path, count: int) -> list[str]:
    transport = make_transport("outbox", directory=str(directory))
    for n in range(count):
        transport.send(
            Message(
                sender="月报 <newsletter@example.com>",
                to=f"reader{n}@example.com",
                subject=f"第 {n} 封：数字经济",
                html=f"<p>第 {n} 封</p>",
                text=f"第 {n} 封",
                headers={"List-Id": "<monthly.example.com>"},
            )
        )
    return sorted(p.name for p in directory.glob("*.eml"))


def test_messages_are_listed_newest_first_one_page_at_a_time(
    session: Session, tmp_path: Path
) -> None:
    names = _write(tmp_path, 5)
    (tmp_path / ".tmp-half-written.tmp").write_text("x")  # the transport's temp files are skipped
    first = search_outbox(session, tmp_path, OutboxQuery(), per_page=2)
    assert [e.name for e in first.entries] == names[::-1][:2]
    assert (first.newer_than, first.older_than) == (None, names[3])
    assert first.entries[0].subject == "第 4 封：数字经济"  # RFC 2047 decoded
    assert first.entries[0].to == "reader4@example.com"
    last = search_outbox(session, tmp_path, OutboxQuery(), before=names[1], per_page=2)
    assert [e.name for e in last.entries] == [names[0]]
    assert (last.newer_than, last.older_than) == (names[0], None)
    back = search_outbox(session, tmp_path, OutboxQuery(), after=names[0], per_page=2)
    assert [e.name for e in back.entries] == [names[2], names[1]]
    assert (back.newer_than, back.older_than) == (names[2], names[1])


def test_an_empty_or_missing_outbox_lists_nothing(session: Session, tmp_path: Path) -> None:
    listing = search_outbox(session, tmp_path / "never-written", OutboxQuery())
    assert (listing.entries, listing.newer_than, listing.older_than) == ([], None, None)


def test_a_message_reads_back_with_headers_and_both_parts(tmp_path: Path) -> None:
    [name] = _write(tmp_path, 1)
    message = read_message(tmp_path, name)
    assert message.subject == "第 0 封：数字经济"
    headers = dict(message.headers)
    assert headers["To"] == "reader0@example.com"
    assert headers["List-Id"] == "<monthly.example.com>"
    assert message.html is not None and "<p>第 0 封</p>" in message.html
    assert message.text is not None and message.text.strip() == "第 0 封"


@pytest.mark.parametrize(
    "name",
    ["../secret.eml", "..%2Fsecret.eml", "sub/inner.eml", ".hidden.eml", "notes.txt", "",
     "a\\b.eml"],
)
def test_names_the_outbox_would_not_write_are_refused(tmp_path: Path, name: str) -> None:
    outbox = tmp_path / "outbox"
    (outbox / "sub").mkdir(parents=True)
    (outbox / "sub" / "inner.eml").write_text("x")
    (outbox / ".hidden.eml").write_text("x")
    (tmp_path / "secret.eml").write_text("secret")
    with pytest.raises(OutboxNotFound):
        read_message(outbox, name)


def test_a_link_out_of_the_outbox_is_refused(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    secret = tmp_path / "secret.eml"
    secret.write_text("secret")
    os.symlink(secret, outbox / "20240101T000000000000Z-link.eml")
    with pytest.raises(OutboxNotFound):
        message_path(outbox, "20240101T000000000000Z-link.eml")
    with pytest.raises(OutboxNotFound):
        message_path(outbox, "20240101T000000000000Z-missing.eml")


def test_a_search_reads_folded_encoded_headers_and_sees_a_rewritten_file(
    session: Session, tmp_path: Path
) -> None:
    [name] = _write(tmp_path, 1)
    (tmp_path / name).write_bytes(
        b"To: =?utf-8?b?5byg5LiJ?=\r\n <Zhang.San@Example.com>\r\n"
        b"Subject: =?utf-8?b?56ysIDAg5bCB?=\r\n =?utf-8?b?77ya5pWw5a2X57uP5rWO?=\r\n\r\nbody\r\n"
    )
    found = search_outbox(session, tmp_path, OutboxQuery(recipient="zhang.san@example"))
    assert [(e.to, e.subject) for e in found.entries] == [
        ("张三 <Zhang.San@Example.com>", "第 0 封：数字经济")]
    assert not search_outbox(session, tmp_path, OutboxQuery(recipient="张三")).entries
    # An erasure rewrites a reader's files: the search reads the new version, not a memory.
    (tmp_path / name).write_bytes(b"To: erased@example.invalid\r\nSubject: x\r\n\r\n")
    stat = (tmp_path / name).stat()
    os.utime(tmp_path / name, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert not search_outbox(session, tmp_path, OutboxQuery(recipient="zhang")).entries
