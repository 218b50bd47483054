"""The `/graphql` endpoint: Strawberry's ASGI app, authenticating each request like REST does."""

from __future__ import annotations

import json

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from gateway.services import Services
from resolvers.context import Context
from resolvers.credentials import authenticate_headers
from resolvers.errors import DomainError, capacity_error
from schema.context import GraphQLContext
from schema.errors import with_code
from schema.live_handler import LiveLaneHandler
from schema.root import build_schema

SOCKET_CREDENTIALS = frozenset({"x-api-key", "authorization"})
JSON_MEDIA_TYPE = "application/json"
GRAPHQL_RESPONSE_MEDIA_TYPE = "application/graphql-response+json"


class GraphQLView(GraphQL[GraphQLContext, None]):
    graphql_transport_ws_handler_class = LiveLaneHandler

    def __init__(self, services: Services) -> None:
        settings = services.settings
        super().__init__(build_schema(settings), graphql_ide=None if settings.is_production else "graphiql")
        self.services = services

    def encode_json(self, data: object) -> str:
        """orjson, several times faster than `json.dumps` on every response and status frame; the
        JSON is the same up to escaping (UTF-8 instead of `\\u` escapes). A value orjson refuses
        (an integer beyond 64 bits inside a JSON scalar) falls back to `json`."""
        try:
            return orjson.dumps(data).decode()
        except orjson.JSONEncodeError:
            return json.dumps(data, separators=(",", ":"))

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        """Credentials are checked here but refused lazily, so a field that needs none still runs."""
        services = self.services
        domain = Context(db=services.db, settings=services.settings, queue=services.queue, bus=services.bus)
        try:
            domain.principal = await authenticate_headers(
                services.db, services.settings, request.headers, request.query_params.keys()
            )
        except DomainError as error:
            domain.auth_error = error
        except Exception as error:
            domain.auth_error = capacity_error(error)  # no connection for the key lookup: retry
            if domain.auth_error is None:
                raise
        return GraphQLContext(domain=domain)

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """A socket needs a caller holding `read`: named in `connection_init` (header names as keys,
        or under "headers"), else by the upgrade request's own headers; otherwise it closes, 4403."""
        params = context.connection_params or {}
        nested = params.get("headers")
        given = nested if isinstance(nested, dict) else params
        headers = {str(name).lower(): value for name, value in given.items() if isinstance(value, str)}
        domain = context.domain
        if SOCKET_CREDENTIALS & headers.keys():
            try:
                domain.principal = await authenticate_headers(
                    self.services.db, self.services.settings, headers
                )
            except DomainError:
                raise ConnectionRejectionError from None
        elif domain.auth_error is not None:
            raise ConnectionRejectionError
        if domain.principal is None or not domain.principal.allows("read"):
            raise ConnectionRejectionError
        acknowledged: UnsetType = UNSET
        return acknowledged

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """The media type the Accept header asks for rides on the sub-response to `create_response`."""
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiate_media_type(request.headers.get("accept"))
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        """GraphQL over HTTP: with `application/graphql-response+json`, a request error (the document
        does not parse or validate, or the variables do not coerce: nothing ran) is a `400` without a
        `data` entry; `application/json` keeps `200` for every well-formed request."""
        graphql_response = sub_response.media_type == GRAPHQL_RESPONSE_MEDIA_TYPE
        if graphql_response and not isinstance(response_data, list) and is_request_error(response_data):
            response_data = response_data.copy()
            response_data.pop("data", None)
            sub_response.status_code = 400
        response = super().create_response(response_data, sub_response)
        if graphql_response:
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE_MEDIA_TYPE}; charset=utf-8"
        response.headers["vary"] = "Accept"
        return response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Every error gets its stable code here, whether a resolver raised it or it came before execution."""
        if result.errors:
            result.errors = [with_code(error) for error in result.errors]
        return await super().process_result(request, result)


def negotiate_media_type(accept: str | None) -> str:
    """`application/graphql-response+json` when the Accept header names it and ranks it at least as
    high as `application/json`; otherwise (no header, `*/*`, anything else) `application/json`."""
    if not accept:
        return JSON_MEDIA_TYPE
    named: dict[str, float] = {}
    for media_range in accept.split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        named[media_type.lower()] = max(quality, named.get(media_type.lower(), 0.0))
    wanted = named.get(GRAPHQL_RESPONSE_MEDIA_TYPE, 0.0)
    if wanted > 0 and wanted >= named.get(JSON_MEDIA_TYPE, 0.0):
        return GRAPHQL_RESPONSE_MEDIA_TYPE
    return JSON_MEDIA_TYPE


def is_request_error(response: GraphQLHTTPResponse) -> bool:
    """No data and only errors without a `path`: the request failed before execution began (a field
    error always has a path, and a non-null one that nulls the whole result keeps it)."""
    errors = response.get("errors") or []
    return (
        response.get("data") is None
        and bool(errors)
        and not any(isinstance(error, dict) and "path" in error for error in errors)
    )
