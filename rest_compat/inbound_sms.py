"""REST translation of inbound SMS from Twilio (the opt-out and opt-in keywords).

No API key: Twilio signs the request (X-Twilio-Signature), `resolvers.inbound_sms` checks it.
The answer is empty TwiML: Twilio itself confirms STOP and START to the sender on long codes and
toll-free numbers (its default opt-out handling), so a reply of ours would be a second one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resolvers import inbound_sms
from resolvers.context import Context
from rest_compat.provider_receipts import twilio_form
from rest_compat.table import Endpoint

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def twilio_inbound(request: Request, ctx: Context) -> Response:
    params = await twilio_form(request, "the message")
    headers = dict(request.headers)
    await inbound_sms.twilio_inbound(ctx, url=str(request.url), params=params, headers=headers)
    return Response(EMPTY_TWIML, media_type="text/xml")


ENDPOINTS = (
    Endpoint("POST", inbound_sms.TWILIO_INBOUND_PATH, None, twilio_inbound,
             "Twilio inbound SMS: STOP/START keywords opt the sender out of SMS and back in "
             "(signed with X-Twilio-Signature; answers TwiML)", "Provider receipts", extra_statuses=(403,)),
)  # fmt: skip
