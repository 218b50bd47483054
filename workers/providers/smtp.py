"""Email over SMTP (aiosmtplib): HTML with a plain-text alternative, per-integration server and sender,
over sessions reused for many messages (`workers.providers.smtp_pool`).

Channel config keys: `host` (required), `port` (aiosmtplib's default: 465 with TLS, 587 with
STARTTLS, else 25), `username`/`password` (AUTH when given), `use_tls` (TLS from the first byte),
`starttls` (true: required, false: never, absent: when the server offers it), `verify_certs`
(default true), `cert_bundle` (a CA file to trust instead of the system's), `timeout` (seconds),
`sender`, `sender_name`, `reply_to`.
"""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import aiosmtplib

from resolvers.delivery import Outgoing
from workers.providers.base import Accepted, ProviderError
from workers.providers.email_headers import POLICY
from workers.providers.email_text import html_to_text
from workers.providers.mime import NotPlain, RawEmail, address_header, alternative, header
from workers.providers.smtp_pool import SmtpPool


class SmtpProvider:
    name = "smtp"

    def __init__(self, *, default_timeout: float) -> None:
        self.default_timeout = default_timeout
        self.pool = SmtpPool()

    async def send(self, message: Outgoing) -> Accepted:
        """Delivers the email to the configured server; its Message-ID is the provider message id."""
        options = _connection(message.config, self.default_timeout)
        try:
            email = compose(message)
        except ValueError as error:  # e.g. a line break in the subject or an address
            raise ProviderError("smtp_invalid_message", str(error), transient=False) from None
        try:
            await self.pool.send(email, options)
        except (aiosmtplib.SMTPException, OSError) as error:
            raise _refusal(error) from error
        message_id = email.message_id if isinstance(email, RawEmail) else str(email["Message-ID"])
        return Accepted(provider_message_id=message_id)

    async def aclose(self) -> None:
        await self.pool.aclose()


def compose(message: Outgoing) -> RawEmail | EmailMessage:
    """The MIME message: multipart/alternative with the derived text first, then the HTML.
    Written directly (`workers.providers.mime`) unless a header needs the stdlib's care."""
    config = message.config
    sender = message.sender or config.get("sender")
    if not isinstance(sender, str) or "@" not in sender:
        raise ProviderError("smtp_config", "the email channel config has no sender address", transient=False)
    domain = sender.rsplit("@", 1)[1]
    headers = Headers(
        sender=sender,
        sender_name=str(config.get("sender_name") or ""),
        reply_to=str(config["reply_to"]) if config.get("reply_to") else None,
        subject=message.subject or "",
        date=format_datetime(datetime.now(UTC)),
        message_id=f"<{secrets.token_hex(16)}@{domain if len(domain) <= 80 else 'weconn'}>",
    )
    text = html_to_text(message.body)
    try:
        return _written(message, headers, text)
    except NotPlain:
        return _built(message, headers, text)


@dataclass(frozen=True, slots=True)
class Headers:
    sender: str
    sender_name: str
    reply_to: str | None
    subject: str
    date: str
    message_id: str


def _written(message: Outgoing, headers: Headers, text: str) -> RawEmail:
    if not message.to.isascii() or (headers.reply_to is not None and not headers.reply_to.isascii()):
        raise NotPlain("an address that is not ASCII")
    lines = [address_header("From", headers.sender_name, headers.sender), header("To", message.to)]
    if headers.reply_to is not None:
        lines.append(header("Reply-To", headers.reply_to))
    lines += [header("Subject", headers.subject), header("Date", headers.date),
              header("Message-ID", headers.message_id)]  # fmt: skip
    lines += [header(name, value) for name, value in message.headers.items()]
    data = alternative(lines, text, message.body)
    return RawEmail(headers.sender, message.to, data, headers.message_id)


def _built(message: Outgoing, headers: Headers, text: str) -> EmailMessage:
    email = EmailMessage(policy=POLICY)
    email["From"] = formataddr((headers.sender_name, headers.sender))
    email["To"] = message.to
    if headers.reply_to is not None:
        email["Reply-To"] = headers.reply_to
    email["Subject"] = headers.subject
    email["Date"] = headers.date
    email["Message-ID"] = headers.message_id
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(text)
    email.add_alternative(message.body, subtype="html")
    return email


def _connection(config: dict[str, Any], default_timeout: float) -> dict[str, Any]:
    """aiosmtplib's connection options from the channel config (bad values are a config error)."""
    host = config.get("host")
    if not isinstance(host, str) or not host:
        raise ProviderError("smtp_config", "the email channel config has no SMTP host", transient=False)
    try:
        port = int(config["port"]) if config.get("port") else None
        timeout = float(config.get("timeout") or default_timeout)
    except (TypeError, ValueError):
        raise ProviderError("smtp_config", "port and timeout must be numbers", transient=False) from None
    starttls = config.get("starttls")
    return {
        "hostname": host,
        "port": port,
        "username": config.get("username") or None,
        "password": config.get("password") or None,
        "use_tls": bool(config.get("use_tls")),
        "start_tls": None if starttls is None or config.get("use_tls") else bool(starttls),
        "validate_certs": config.get("verify_certs", True) is not False,
        "cert_bundle": str(config["cert_bundle"]) if config.get("cert_bundle") else None,
        "timeout": timeout,
    }


def _refusal(error: Exception) -> ProviderError:
    """4xx replies, timeouts and lost connections are worth retrying; 5xx replies and TLS
    certificate or capability mismatches will fail again the same way."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        error = error.recipients[0]
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return ProviderError(f"smtp_{error.code}", error.message, transient=not 500 <= error.code < 600)
    if _caused_by(error, ssl.SSLCertVerificationError):
        return ProviderError("smtp_tls_error", str(error), transient=False)
    if isinstance(error, aiosmtplib.SMTPNotSupported) or (
        isinstance(error, aiosmtplib.SMTPException) and "not supported" in str(error)
    ):
        return ProviderError("smtp_not_supported", str(error), transient=False)
    return ProviderError("smtp_unavailable", str(error) or type(error).__name__, transient=True)


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
