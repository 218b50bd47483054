"""Reading a REST request: credentials into a Context, query parameters, the JSON body."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from gateway.services import Services
from gateway.tables.columns import MAX_ID
from resolvers.context import Context
from resolvers.credentials import authenticate_headers
from resolvers.errors import BadRequest, NotFound, ValidationFailed


def bare_context(services: Services) -> Context:
    return Context(db=services.db, settings=services.settings, queue=services.queue, bus=services.bus)


async def context_for(request: Request, services: Services) -> Context:
    """Authenticates the request's headers; credentials in the query string are refused."""
    ctx = bare_context(services)
    ctx.principal = await authenticate_headers(
        services.db, services.settings, request.headers, request.query_params.keys()
    )
    return ctx


def int_query(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an integer", fields={name: ["must be an integer"]}) from None


def int_path(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not raw.isdigit() or len(raw) > 10 or int(raw) > MAX_ID:
        # An id that cannot exist is simply not found, as any unknown id.
        raise NotFound(f"no resource with id '{raw}'")
    return int(raw)


async def json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise BadRequest("send the body as JSON with Content-Type: application/json")
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("the request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"malformed JSON: {error}") from None
