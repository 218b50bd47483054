"""An email's bytes written directly, the way `EmailMessage` would write them.

The stdlib's header registry parses and refolds every header it is given: about 1 ms of CPU per
message, more than the rest of a send. The messages we write have one fixed shape (a few
headers, multipart/alternative with text then HTML), so they are written here as bytes: headers
encoded as RFC 2047 words only when not ASCII, folded only when long, each body part 7bit when it
can be and quoted-printable otherwise. Anything outside that shape (a line break in a header,
a non-ASCII address) is left to `EmailMessage`, which refuses or encodes it (`smtp.compose`).
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr

CRLF = "\r\n"
FOLD_AT = 78  # RFC 5322: lines SHOULD stay within 78 characters
MAX_LINE = 998  # and MUST within 998
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # CR and LF among them: never inside a header
ONE_LINE = frozenset({"list-unsubscribe", "list-unsubscribe-post"})  # see email_headers.py


@dataclass(frozen=True, slots=True)
class RawEmail:
    sender: str  # the envelope's MAIL FROM
    recipient: str  # its one RCPT TO
    data: bytes
    message_id: str


class NotPlain(ValueError):
    """Outside the shape written here: compose with `EmailMessage` instead."""


def header(name: str, value: str) -> str:
    """`Name: value` and its line break; non-ASCII text as encoded words, long lines folded."""
    if CONTROL.search(value):
        raise NotPlain(f"{name} holds a control character")
    line = f"{name}: {value}"
    if value.isascii() and len(line) <= FOLD_AT:
        return line + CRLF
    if name.lower() in ONE_LINE:
        if not value.isascii() or len(line) > MAX_LINE:
            raise NotPlain(f"{name} does not fit on one line")
        return line + CRLF
    encoded = Header(value, "utf-8" if not value.isascii() else "us-ascii", header_name=name)
    return f"{name}: {encoded.encode(linesep=CRLF)}{CRLF}"


def address_header(name: str, display_name: str, address: str) -> str:
    if not address.isascii() or CONTROL.search(address) or CONTROL.search(display_name):
        raise NotPlain(f"{name} needs the stdlib's address handling")
    return f"{name}: {formataddr((display_name, address), charset='utf-8')}{CRLF}"


def alternative(headers: Iterable[str], text: str, html: str) -> bytes:
    """The message: its headers, then multipart/alternative of the text and the HTML."""
    boundary = "=" * 15 + secrets.token_hex(12) + "=="
    while boundary in text or boundary in html:
        boundary = "=" * 15 + secrets.token_hex(12) + "=="
    parts = [
        *headers,
        f"MIME-Version: 1.0{CRLF}",
        f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}{CRLF}',
        f"--{boundary}{CRLF}", _part("plain", text),
        f"--{boundary}{CRLF}", _part("html", html),
        f"--{boundary}--{CRLF}",
    ]  # fmt: skip
    return "".join(parts).encode("ascii")


def _part(subtype: str, content: str) -> str:
    lines = content.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if content.isascii() and all(len(line) <= MAX_LINE for line in lines):
        encoding, body = "7bit", CRLF.join(lines)
    else:
        encoding = "quoted-printable"
        body = binascii.b2a_qp("\n".join(lines).encode("utf-8"), istext=True).decode("ascii")
        body = body.replace("\n", CRLF)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}{body}{CRLF}"
    )
