"""REST translation of template listing and integration discovery."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resolvers import onboarding, templates
from resolvers.context import Context
from rest_compat.envelope import data_response
from rest_compat.table import Endpoint


async def list_templates(request: Request, ctx: Context) -> Response:
    return data_response(await templates.list_templates(ctx, channel=request.query_params.get("channel")))


async def discover(_request: Request, ctx: Context) -> Response:
    return data_response(await onboarding.onboarding(ctx))


ENDPOINTS = (
    Endpoint("GET", "/integrations/templates", "read", list_templates, "List message templates", "Templates",
             query=("channel",)),
    Endpoint("GET", "/integrations/onboarding", "read", discover, "Discover integration IDs and examples",
             "Messaging"),
)  # fmt: skip
