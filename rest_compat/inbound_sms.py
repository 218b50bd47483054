"""REST translation of inbound SMS from Twilio (the opt-out and opt-in keywords).

No API key: Twilio signs the request (X-Twilio-Signature), `resolvers.inbound_sms` checks it.
The answer is empty TwiML: Twilio itself confirms STOP and START to the sender on long codes and
toll-free numbers (its default opt-out handling), so a reply of ours would be a second one.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from resolvers import inbound_sms
from resolvers.context import Context
from resolvers.errors import BadRequest
from rest_compat.table import Endpoint

MAX_FORM_FIELDS = 200
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def twilio_form(request: Request) -> dict[str, list[str]]:
    """A form-encoded Twilio request's parameters (every value of each name)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadRequest("send the message form-encoded (application/x-www-form-urlencoded)")
    raw = (await request.body()).decode("latin-1")  # percent-encoded ASCII; never fails to decode
    try:
        return parse_qs(raw, keep_blank_values=True, errors="replace", max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise BadRequest(f"at most {MAX_FORM_FIELDS} form fields") from None


async def twilio_inbound(request: Request, ctx: Context) -> Response:
    params = await twilio_form(request)
    headers = dict(request.headers)
    await inbound_sms.twilio_inbound(ctx, url=str(request.url), params=params, headers=headers)
    return Response(EMPTY_TWIML, media_type="text/xml")


ENDPOINTS = (
    Endpoint("POST", inbound_sms.TWILIO_INBOUND_PATH, None, twilio_inbound,
             "Twilio inbound SMS: STOP/START keywords opt the sender out of SMS and back in "
             "(signed with X-Twilio-Signature; answers TwiML)", "Provider receipts", extra_statuses=(403,)),
)  # fmt: skip
