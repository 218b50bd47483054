"""The SMTP provider against a real SMTP server (aiosmtpd on a free port), with and without TLS."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from resolvers.delivery import Outgoing
from tests.support.messaging import send, wait_for_status
from tests.support.server import free_port
from workers.providers.base import ProviderError
from workers.providers.email_text import html_to_text
from workers.providers.smtp import SmtpProvider

HTML = """<html><head><title>Order</title><style>p { color: red }</style></head><body>
<h1>Your order &amp; you</h1>
<p>Hello Ada,<br>your parcel is on its way.</p>
<ul><li>1 teapot</li><li>2 caf&eacute; cups</li></ul>
<p><a href="https://shop.example.com/track?id=42&amp;lang=en">Track your parcel</a> or write to
<a href="mailto:help@shop.example.com">help@shop.example.com</a>.</p>
<script>alert("no")</script>
</body></html>"""


class Inbox:
    """An aiosmtpd handler keeping what it accepts; `refuse` answers RCPT TO for some addresses."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse: dict[str, str] = {}
        self.sessions = 0  # EHLO greetings: one per connection

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"mailer", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    """Starts aiosmtpd servers on free ports (options go to aiosmtpd); stops them after the test."""
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[Inbox, int]:
        inbox, port = Inbox(), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def email(outgoing: Callable[..., Outgoing], smtp_port: int, **config: Any) -> Outgoing:
    settings = {"provider": "smtp", "host": "127.0.0.1", "port": smtp_port,
                "sender": "orders@shop.example.com", "timeout": 5, **config}  # fmt: skip
    return outgoing(channel="email", provider="smtp", to="ada@example.org", subject="Your order",
                    body=HTML, config=settings)  # fmt: skip


provider = SmtpProvider(default_timeout=5)


async def test_sends_html_with_a_text_alternative_from_the_integrations_sender(smtp_server, outgoing) -> None:
    inbox, port = smtp_server()
    message = email(outgoing, port, sender_name="Café Shop", reply_to="help@shop.example.com")
    accepted = await provider.send(message)
    [(mail_from, recipients, received)] = inbox.received
    assert (mail_from, recipients) == ("orders@shop.example.com", ["ada@example.org"])
    assert received["From"].addresses[0].display_name == "Café Shop"
    assert received["From"].addresses[0].addr_spec == "orders@shop.example.com"
    assert str(received["Reply-To"]) == "help@shop.example.com"
    assert str(received["Subject"]) == "Your order"
    assert str(received["Message-ID"]) == accepted.provider_message_id
    assert accepted.provider_message_id.endswith("@shop.example.com>")
    assert received.get_content_type() == "multipart/alternative"
    text, html = (part for part in received.iter_parts())
    assert html.get_content_type() == "text/html"
    assert html.get_content().replace("\r\n", "\n").strip() == HTML.strip()
    assert text.get_content_type() == "text/plain"
    plain = text.get_content().replace("\r\n", "\n")
    assert "Your order & you" in plain
    assert "Hello Ada,\nyour parcel is on its way." in plain
    assert "- 1 teapot\n- 2 café cups" in plain
    assert "Track your parcel (https://shop.example.com/track?id=42&lang=en)" in plain
    assert "help@shop.example.com." in plain
    assert "<" not in plain
    assert "alert" not in plain
    assert "color" not in plain


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_logs_in_when_credentials_are_configured(smtp_server, outgoing) -> None:
    inbox, port = smtp_server(authenticator=authenticate, auth_require_tls=False, auth_required=True)
    await provider.send(email(outgoing, port, username="mailer", password="s3cret"))
    assert len(inbox.received) == 1
    with pytest.raises(ProviderError) as refused:
        await provider.send(email(outgoing, port, username="mailer", password="wrong"))
    assert (refused.value.code, refused.value.transient) == ("smtp_535", False)


async def test_one_session_carries_many_messages_and_a_failure_ends_it(smtp_server, outgoing) -> None:
    inbox, port = smtp_server()
    sender = SmtpProvider(default_timeout=5)
    for number in range(5):
        await sender.send(replace(email(outgoing, port), to=f"reader{number}@example.org"))
    assert (len(inbox.received), inbox.sessions) == (5, 1)
    inbox.refuse["nobody@example.org"] = "550 5.1.1 No such user here"
    with pytest.raises(ProviderError):
        await sender.send(replace(email(outgoing, port), to="nobody@example.org"))
    await sender.send(email(outgoing, port))
    assert (len(inbox.received), inbox.sessions) == (6, 2)
    await sender.aclose()


async def test_a_session_the_server_dropped_is_replaced(outgoing) -> None:
    port, sender = free_port(), SmtpProvider(default_timeout=5)
    first, second = Inbox(), Inbox()
    server = Controller(first, hostname="127.0.0.1", port=port)
    server.start()
    try:
        await sender.send(email(outgoing, port))
    finally:
        server.stop()  # the server goes away under the idle session, then comes back
    server = Controller(second, hostname="127.0.0.1", port=port)
    server.start()
    try:
        await sender.send(email(outgoing, port))
    finally:
        server.stop()
        await sender.aclose()
    assert (len(first.received), len(second.received), second.sessions) == (1, 1, 1)


async def test_4xx_replies_are_transient_and_5xx_permanent(smtp_server, outgoing) -> None:
    inbox, port = smtp_server()
    inbox.refuse["busy@example.org"] = "451 4.2.1 Mailbox busy, try again later"
    inbox.refuse["nobody@example.org"] = "550 5.1.1 No such user here"
    with pytest.raises(ProviderError) as busy:
        await provider.send(replace(email(outgoing, port), to="busy@example.org"))
    assert (busy.value.code, busy.value.transient) == ("smtp_451", True)
    with pytest.raises(ProviderError) as nobody:
        await provider.send(replace(email(outgoing, port), to="nobody@example.org"))
    assert (nobody.value.code, nobody.value.transient) == ("smtp_550", False)
    assert "No such user" in nobody.value.message
    assert inbox.received == []


async def test_unreachable_or_silent_servers_are_transient(outgoing) -> None:
    with pytest.raises(ProviderError) as refused:
        await provider.send(email(outgoing, free_port()))
    assert (refused.value.code, refused.value.transient) == ("smtp_unavailable", True)
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(ProviderError) as timed_out:
            await provider.send(email(outgoing, silent.getsockname()[1], timeout=0.5))
    assert (timed_out.value.code, timed_out.value.transient) == ("smtp_unavailable", True)


async def test_starttls_verifies_the_server_certificate(smtp_server, outgoing, certificate) -> None:
    inbox, port = smtp_server(tls_context=server_tls(certificate), require_starttls=True)
    await provider.send(email(outgoing, port, starttls=True, cert_bundle=str(certificate[0])))
    assert len(inbox.received) == 1
    with pytest.raises(ProviderError) as untrusted:
        await provider.send(email(outgoing, port, starttls=True))
    assert (untrusted.value.code, untrusted.value.transient) == ("smtp_tls_error", False)
    await provider.send(email(outgoing, port, starttls=True, verify_certs=False))
    with pytest.raises(ProviderError) as plain:
        await provider.send(email(outgoing, port, starttls=False))
    assert (plain.value.code, plain.value.transient) == ("smtp_530", False)
    assert len(inbox.received) == 2


async def test_implicit_tls(smtp_server, outgoing, certificate) -> None:
    inbox, port = smtp_server(ssl_context=server_tls(certificate))
    await provider.send(email(outgoing, port, use_tls=True, cert_bundle=str(certificate[0])))
    assert len(inbox.received) == 1


async def test_incomplete_config_fails_permanently(outgoing) -> None:
    for config in ({"host": ""}, {"sender": "not-an-address"}, {"port": "smtp"}):
        with pytest.raises(ProviderError) as refused:
            await provider.send(email(outgoing, 25, **config))
        assert (refused.value.code, refused.value.transient) == ("smtp_config", False)


async def test_header_injection_is_refused(smtp_server, outgoing) -> None:
    inbox, port = smtp_server()
    with pytest.raises(ProviderError) as refused:
        await provider.send(replace(email(outgoing, port), subject="Hi\r\nBcc: victim@example.org"))
    assert (refused.value.code, refused.value.transient) == ("smtp_invalid_message", False)
    assert inbox.received == []


def test_text_from_html_keeps_structure_and_links() -> None:
    text = html_to_text(
        '<p>Hi&nbsp;there</p><p>See <a href="https://x.example/a">https://x.example/a</a> and '
        '<a href="#top">the top</a>.</p><table><tr><td>A</td><td>B</td></tr></table>'
    )
    assert text == "Hi\xa0there\n\nSee https://x.example/a and the top.\n\nA B\n"


async def test_the_embedded_workers_send_email_over_smtp(smtp_server, client, tenant_with_channels) -> None:
    inbox, port = smtp_server()
    config = {"provider": "smtp", "host": "127.0.0.1", "port": port, "sender": "orders@shop.example.com",
              "sender_name": "Shop", "reply_to": "help@shop.example.com"}  # fmt: skip
    tenant = await tenant_with_channels({"email": config})
    accepted = await send(client, tenant, channel="email", to="ada@example.org", subject="Hello {{ name }}",
                          body="<p>Hi <b>{{ name }}</b></p>", variables={"name": "Ada & co"})  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    view = await wait_for_status(client, tenant, accepted.json()["data"]["id"], {"sent", "failed"})
    assert view["status"] == "sent", view
    [(_, _, received)] = inbox.received
    assert str(received["Message-ID"]) == view["provider_message_id"]
    assert str(received["Subject"]) == "Hello Ada & co"
    text, html = received.iter_parts()
    assert html.get_content().strip() == "<p>Hi <b>Ada &amp; co</b></p>"
    assert text.get_content().strip() == "Hi Ada & co"
