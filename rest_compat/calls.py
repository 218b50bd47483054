"""REST translation of voice calls: initiate (the contract's), read and list them, the call-signing
secret, and Twilio's call status callbacks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resolvers import call_receipts, call_secrets, calls
from resolvers.call_fields import CallFields
from resolvers.context import Context
from resolvers.receipts import TWILIO_CALL_STATUS_PATH
from resolvers.validation import parse_input
from rest_compat.envelope import data_response, page_response
from rest_compat.messages import accepted_response
from rest_compat.provider_receipts import twilio_form
from rest_compat.request import int_path, int_query, json_body
from rest_compat.table import Endpoint


async def initiate(request: Request, ctx: Context) -> Response:
    fields = parse_input(CallFields, await json_body(request))
    key = request.headers.get("idempotency-key")
    return accepted_response(await calls.initiate_call(ctx, fields=fields, idempotency_key=key))


async def get_call(request: Request, ctx: Context) -> Response:
    return data_response(await calls.get_call(ctx, call_id=int_path(request, "id")))


async def list_calls(request: Request, ctx: Context) -> Response:
    page = await calls.list_calls(
        ctx, page=int_query(request, "page"), per_page=int_query(request, "per_page")
    )
    return page_response(page)


async def signing_secret(request: Request, ctx: Context) -> Response:
    del request
    return data_response({"secret": await call_secrets.get_signing_secret(ctx)})


async def rotate_signing_secret(request: Request, ctx: Context) -> Response:
    del request
    return data_response({"secret": await call_secrets.rotate_signing_secret(ctx)})


async def twilio_call_status(request: Request, ctx: Context) -> Response:
    params, headers = await twilio_form(request), dict(request.headers)
    applied = await call_receipts.twilio_call_status(
        ctx, url=str(request.url), params=params, headers=headers
    )
    return data_response({"applied": applied})


BASE = "/integrations/calls"
TAG = "Voice calls"
ENDPOINTS = (
    Endpoint("POST", BASE + "/initiate", "send", initiate, "Initiate a voice call", TAG, 202, CallFields,
             extra_statuses=(404, 409)),
    Endpoint("GET", BASE + "/signing-secret", "write", signing_secret,
             "The secret that signs this tenant's call status callbacks", TAG, extension=True),
    Endpoint("POST", BASE + "/signing-secret/rotate", "write", rotate_signing_secret,
             "Replace the call-signing secret", TAG, extension=True),
    Endpoint("GET", BASE, "read", list_calls, "List calls, newest first", TAG, query=("page", "per_page"),
             list_response=True, extension=True),
    Endpoint("GET", BASE + "/{id}", "read", get_call, "Get a call with its status transitions", TAG,
             extension=True),
    Endpoint("POST", TWILIO_CALL_STATUS_PATH, None, twilio_call_status,
             "Twilio call status callback (signed with X-Twilio-Signature)", "Provider receipts",
             extra_statuses=(403,)),
)  # fmt: skip
