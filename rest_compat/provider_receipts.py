"""REST translation of provider delivery receipts (Twilio status callbacks, the WhatsApp webhook).

These routes take no API key: the providers sign their requests, and `resolvers.receipts` checks
the signatures. Here HTTP becomes plain values and the outcome a response; nothing more.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from resolvers import receipts
from resolvers.context import Context
from resolvers.errors import BadRequest
from rest_compat.envelope import data_response
from rest_compat.table import Endpoint

MAX_FORM_FIELDS = 200


async def twilio_form(request: Request, what: str = "the status callback") -> dict[str, list[str]]:
    """A Twilio request's form fields (every value of each name, as Twilio signs them); 400 otherwise."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadRequest(f"send {what} form-encoded (application/x-www-form-urlencoded)")
    raw = (await request.body()).decode("latin-1")  # percent-encoded ASCII; never fails to decode
    try:
        return parse_qs(raw, keep_blank_values=True, errors="replace", max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise BadRequest(f"at most {MAX_FORM_FIELDS} form fields") from None


async def twilio_status(request: Request, ctx: Context) -> Response:
    params, headers = await twilio_form(request), dict(request.headers)
    applied = await receipts.twilio_status(ctx, url=str(request.url), params=params, headers=headers)
    return data_response({"applied": applied})


async def whatsapp_verify(request: Request, ctx: Context) -> Response:
    challenge = receipts.whatsapp_challenge(ctx, params=dict(request.query_params))
    return PlainTextResponse(challenge)


async def whatsapp_webhook(request: Request, ctx: Context) -> Response:
    body = await request.body()
    applied = await receipts.whatsapp_statuses(ctx, body=body, headers=dict(request.headers))
    return data_response({"applied": applied})


TAG = "Provider receipts"
ENDPOINTS = (
    Endpoint("POST", receipts.TWILIO_STATUS_PATH, None, twilio_status,
             "Twilio message status callback (signed with X-Twilio-Signature)", TAG, extra_statuses=(403,)),
    Endpoint("GET", receipts.WHATSAPP_WEBHOOK_PATH, None, whatsapp_verify,
             "WhatsApp webhook subscription check (hub.challenge)", TAG,
             query=("hub.mode", "hub.verify_token", "hub.challenge"), extra_statuses=(403,)),
    Endpoint("POST", receipts.WHATSAPP_WEBHOOK_PATH, None, whatsapp_webhook,
             "WhatsApp Cloud message statuses (signed with X-Hub-Signature-256)", TAG, extra_statuses=(403,)),
)  # fmt: skip
