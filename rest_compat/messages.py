"""REST translation of sending and status reads."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from resolvers import message_reads, messages
from resolvers.context import Context
from resolvers.message_fields import BatchFields, BatchStatusFields, SendFields
from resolvers.messages import Outcome
from resolvers.validation import parse_input
from rest_compat.envelope import data_response
from rest_compat.request import int_path, json_body
from rest_compat.table import Endpoint


def accepted_response(outcome: Outcome[Any]) -> Response:
    """202 with the result; `Idempotent-Replayed: true` when it is the stored answer to a repeat."""
    response = data_response(outcome.result, status=202)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def send(request: Request, ctx: Context) -> Response:
    fields = parse_input(SendFields, await json_body(request))
    key = request.headers.get("idempotency-key")
    return accepted_response(await messages.send_message(ctx, fields=fields, idempotency_key=key))


async def send_batch(request: Request, ctx: Context) -> Response:
    fields = parse_input(BatchFields, await json_body(request))
    key = request.headers.get("idempotency-key")
    return accepted_response(await messages.send_batch(ctx, fields=fields, idempotency_key=key))


async def status(request: Request, ctx: Context) -> Response:
    return data_response(await message_reads.get_message(ctx, message_id=int_path(request, "id")))


async def batch_status(request: Request, ctx: Context) -> Response:
    fields = parse_input(BatchStatusFields, await json_body(request))
    return data_response(await message_reads.batch_status(ctx, message_ids=fields.message_ids))


BASE = "/integrations/messages"
ENDPOINTS = (
    Endpoint("POST", BASE + "/send", "send", send, "Send single message (SMS, Email, WhatsApp)", "Messaging",
             202, SendFields, extra_statuses=(404, 409)),
    Endpoint("POST", BASE + "/send-batch", "send", send_batch, "Send batch messages (up to 500)", "Messaging",
             202, BatchFields, extra_statuses=(404, 409, 413)),
    Endpoint("GET", BASE + "/{id}/status", "read", status, "Get message delivery status", "Messaging"),
    Endpoint("POST", BASE + "/batch-status", "read", batch_status, "Batch status check (up to 100)",
             "Messaging", 200, BatchStatusFields),
)  # fmt: skip
