"""REST translation of the webhook resolvers: the contract's four paths, plus the documented extensions."""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response

from resolvers import webhook_deliveries, webhooks
from resolvers.context import Context
from resolvers.pagination import Page
from resolvers.validation import parse_input
from resolvers.webhook_fields import WebhookFields
from resolvers.webhook_records import EndpointRecord
from rest_compat.envelope import data_response, page_response
from rest_compat.request import int_path, int_query, json_body
from rest_compat.table import Endpoint


def _shown(record: EndpointRecord) -> dict[str, object]:
    """Every field; `secret` only when it was just made (creation, rotation)."""
    shown = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    del shown["secret"]
    return shown if record.secret is None else shown | {"secret": record.secret}


async def list_webhooks(request: Request, ctx: Context) -> Response:
    page = await webhooks.list_endpoints(
        ctx, page=int_query(request, "page"), per_page=int_query(request, "per_page")
    )
    return page_response(Page([_shown(item) for item in page.items], page.page, page.per_page, page.total))


async def events_catalog(_request: Request, ctx: Context) -> Response:
    return data_response(await webhooks.events_catalog(ctx))


async def create_webhook(request: Request, ctx: Context) -> Response:
    fields = parse_input(WebhookFields, await json_body(request))
    return data_response(_shown(await webhooks.create_endpoint(ctx, fields=fields)), status=201)


async def delete_webhook(request: Request, ctx: Context) -> Response:
    deleted = await webhooks.delete_endpoint(ctx, endpoint_id=int_path(request, "id"))
    return data_response({"id": deleted, "deleted": True})


async def rotate_secret(request: Request, ctx: Context) -> Response:
    return data_response(_shown(await webhooks.rotate_secret(ctx, endpoint_id=int_path(request, "id"))))


async def enable_webhook(request: Request, ctx: Context) -> Response:
    return data_response(_shown(await webhooks.enable_endpoint(ctx, endpoint_id=int_path(request, "id"))))


async def send_test(request: Request, ctx: Context) -> Response:
    delivery = await webhook_deliveries.send_test_event(ctx, endpoint_id=int_path(request, "id"))
    return data_response(delivery, status=202)


async def list_deliveries(request: Request, ctx: Context) -> Response:
    page = await webhook_deliveries.list_deliveries(
        ctx,
        endpoint_id=int_path(request, "id"),
        page=int_query(request, "page"),
        per_page=int_query(request, "per_page"),
        status=request.query_params.get("status"),
    )
    return page_response(page)


async def redeliver(request: Request, ctx: Context) -> Response:
    delivery = await webhook_deliveries.redeliver(
        ctx, endpoint_id=int_path(request, "id"), delivery_id=int_path(request, "delivery_id")
    )
    return data_response(delivery, status=202)


BASE = "/integrations/webhooks"
ENDPOINTS = (
    Endpoint("GET", BASE, "read", list_webhooks, "List webhook endpoints", "Webhooks",
             query=("page", "per_page"), list_response=True),
    Endpoint("GET", BASE + "/events-catalog", "read", events_catalog, "List allowed event names and profiles",
             "Webhooks"),
    Endpoint("POST", BASE, "write", create_webhook, "Register webhook endpoint (the secret is shown once)",
             "Webhooks", 201, WebhookFields),
    Endpoint("DELETE", BASE + "/{id}", "write", delete_webhook, "Remove webhook endpoint", "Webhooks"),
    Endpoint("POST", BASE + "/{id}/rotate-secret", "write", rotate_secret,
             "Rotate the signing secret (the old one also signs for 24 h; the new one is shown once)",
             "Webhooks", extension=True),
    Endpoint("POST", BASE + "/{id}/enable", "write", enable_webhook, "Enable a disabled webhook endpoint",
             "Webhooks", extension=True),
    Endpoint("POST", BASE + "/{id}/test", "write", send_test, "Send a webhook.test event to the endpoint",
             "Webhooks", 202, extra_statuses=(409,), extension=True),
    Endpoint("GET", BASE + "/{id}/deliveries", "read", list_deliveries,
             "List the endpoint's deliveries with every attempt", "Webhooks",
             query=("page", "per_page", "status"), list_response=True, extension=True),
    Endpoint("POST", BASE + "/{id}/deliveries/{delivery_id}/redeliver", "write", redeliver,
             "Deliver an event again (same webhook-id and body)", "Webhooks", 202, extra_statuses=(409,),
             extension=True),
)  # fmt: skip
