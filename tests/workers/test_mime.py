"""Emails written directly read back exactly as the stdlib's `EmailMessage` would have written them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from resolvers.delivery import Outgoing
from workers.providers import smtp
from workers.providers.mime import RawEmail

LONG_URL = "https://weconn.example.com/api/v1/unsubscribe/" + "t" * 300
CASES: dict[str, dict[str, Any]] = {
    "ascii": {},
    "accented subject and sender name": {"subject": "Votre commande est prête ✓", "sender_name": "Café Ûn"},
    "long subject": {"subject": "An order update " * 12},
    "one-click unsubscribe": {
        "headers": {
            "List-Unsubscribe": f"<{LONG_URL}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    },
    "unicode and long lines in the body": {"body": "<p>Żółć " + "x" * 1200 + "</p>\n<p>.dot line</p>"},
    "dots and From lines": {"body": ".\n.leading dot\nFrom the shop\r\nbare\rCR"},
    "reply-to": {"reply_to": "help@shop.example.com"},
}


def outgoing_email(make: Callable[..., Outgoing], **case: Any) -> Outgoing:
    config = {"provider": "smtp", "host": "127.0.0.1", "sender": "orders@shop.example.com",
              "sender_name": case.pop("sender_name", "Shop"),
              "reply_to": case.pop("reply_to", None)}  # fmt: skip
    fields = {"subject": "Your order", "body": "<p>Hello <b>Ada</b></p>", **case}
    return make(channel="email", provider="smtp", to="ada@example.org", config=config, **fields)


def read(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects
    for part in parsed.walk():
        assert not part.defects, part.defects
    return parsed


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_written_reads_back_as_the_stdlib_would_write_it(
    outgoing: Callable[..., Outgoing], case: dict[str, Any]
) -> None:
    message = outgoing_email(outgoing, **dict(case))
    written = smtp.compose(message)
    assert isinstance(written, RawEmail), "this case fits the direct writer"
    built = smtp._built(message, _headers_of(written), _text_of(message))
    mine, theirs = read(written.data), read(built.as_bytes(policy=policy.SMTP))

    for name in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
                 "List-Unsubscribe-Post", "MIME-Version"):  # fmt: skip
        assert str(mine.get(name)) == str(theirs.get(name)), name
    assert mine.get_content_type() == theirs.get_content_type() == "multipart/alternative"
    for my_part, their_part in zip(mine.iter_parts(), theirs.iter_parts(), strict=True):
        assert my_part.get_content_type() == their_part.get_content_type()
        assert my_part.get_content_charset() == "utf-8"
        assert _lines(my_part.get_content()) == _lines(their_part.get_content())
    assert all(len(line) <= 998 for line in written.data.split(b"\r\n"))
    assert written.data.count(b"\n") == written.data.count(b"\r\n")


def test_a_non_ascii_recipient_is_left_to_the_stdlib(outgoing: Callable[..., Outgoing]) -> None:
    message = dataclasses.replace(outgoing_email(outgoing), to="zoë@example.org")
    assert isinstance(smtp.compose(message), EmailMessage)


def test_a_line_break_in_a_header_is_refused(outgoing: Callable[..., Outgoing]) -> None:
    message = outgoing_email(outgoing, subject="Hi\r\nBcc: victim@example.org")
    with pytest.raises(ValueError, match=r"linefeed|newline|line"):
        smtp.compose(message)


def _headers_of(written: RawEmail) -> smtp.Headers:
    parsed = read(written.data)
    name = parsed["From"].addresses[0].display_name
    return smtp.Headers(sender="orders@shop.example.com", sender_name=name,
                        reply_to=str(parsed["Reply-To"]) if parsed["Reply-To"] else None,
                        subject=str(parsed["Subject"]), date=str(parsed["Date"]),
                        message_id=str(parsed["Message-ID"]))  # fmt: skip


def _text_of(message: Outgoing) -> str:
    return smtp.html_to_text(message.body)


def _lines(content: str) -> list[str]:
    return content.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").split("\n")
