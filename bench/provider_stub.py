"""The providers the messaging benchmark sends to, as one process of their own (bench/send.py starts it).

    .venv/bin/python -m uvicorn provider_stub:app --app-dir bench --port P   (cwd: the repository)

- Twilio's Messages API: the test suite's stub (`tests.support.provider_stubs.TwilioStub`: basic
  auth, form fields, a 201 Message resource), with the account of BENCH_TWILIO_ACCOUNT_SID and
  BENCH_TWILIO_AUTH_TOKEN.
- When BENCH_SMTP_PORT is set, an SMTP sink (aiosmtpd) on 127.0.0.1:BENCH_SMTP_PORT, served by the
  same event loop.
- `GET /_stats`: per channel, how many messages were accepted, to how many distinct recipients, and
  the wall-clock time (`time.time()`) of the first and the last one.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.provider_stubs import TwilioStub

MESSAGES_PATH = "/2010-04-01/Accounts/{account_sid}/Messages.json"


@dataclass
class Tally:
    """What one channel's stub accepted."""

    received: int = 0
    recipients: set[str] = field(default_factory=set)
    first_at: float | None = None
    last_at: float | None = None

    def record(self, recipient: str) -> None:
        now = time.time()
        self.received += 1
        self.recipients.add(recipient)
        self.first_at = self.first_at or now
        self.last_at = now

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "distinct": len(self.recipients),
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


TALLIES = {"sms": Tally(), "email": Tally()}
TWILIO = TwilioStub(accounts={os.environ["BENCH_TWILIO_ACCOUNT_SID"]: os.environ["BENCH_TWILIO_AUTH_TOKEN"]})


async def create_message(request: Request) -> Response:
    """Twilio's create, counted when it answers 201; the stub keeps no requests, to stay flat."""
    response = await TWILIO.create_message(request)
    TWILIO.requests.clear()
    TWILIO.messages.clear()
    if response.status_code == 201:
        TALLIES["sms"].record(orjson.loads(bytes(response.body))["to"])
    return response


async def stats(_request: Request) -> Response:
    return JSONResponse({channel: tally.as_json() for channel, tally in TALLIES.items()})


class SmtpSink:
    """aiosmtpd handler: accepts every message and counts its recipients."""

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        if b"\nMessage-ID: " not in content:
            return "554 a message without a Message-ID"
        for recipient in envelope.rcpt_tos:
            TALLIES["email"].record(recipient)
        return "250 OK"


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    port = os.environ.get("BENCH_SMTP_PORT")
    if not port:
        yield
        return
    handler = SmtpSink()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname="bench-sink"), "127.0.0.1", int(port)
    )
    try:
        yield
    finally:
        server.close()


app = Starlette(
    routes=[Route(MESSAGES_PATH, create_message, methods=["POST"]), Route("/_stats", stats)],
    lifespan=lifespan,
)
