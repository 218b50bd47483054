"""The `/graphql` endpoint: Strawberry's ASGI app, authenticating each request like REST does."""

from __future__ import annotations

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
from resolvers.errors import DomainError
from schema.context import GraphQLContext
from schema.errors import with_code
from schema.root import build_schema

SOCKET_CREDENTIALS = frozenset({"x-api-key", "authorization"})


class GraphQLView(GraphQL[GraphQLContext, None]):
    def __init__(self, services: Services) -> None:
        settings = services.settings
        super().__init__(build_schema(settings), graphql_ide=None if settings.is_production else "graphiql")
        self.services = services

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

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Every error gets its stable code here, whether a resolver raised it or it came before execution."""
        if result.errors:
            result.errors = [with_code(error) for error in result.errors]
        return await super().process_result(request, result)
