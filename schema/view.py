"""The `/graphql` endpoint: Strawberry's ASGI app, authenticating each request like REST does."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from gateway.db import Database
from gateway.settings import Settings
from resolvers.context import Context
from resolvers.credentials import authenticate_headers
from resolvers.errors import DomainError
from schema.context import GraphQLContext
from schema.errors import with_code
from schema.root import build_schema


class GraphQLView(GraphQL[GraphQLContext, None]):
    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(build_schema(settings), graphql_ide=None if settings.is_production else "graphiql")
        self.db = db
        self.settings = settings

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        """Credentials are checked here but refused lazily, so a field that needs none still runs."""
        domain = Context(db=self.db, settings=self.settings)
        try:
            domain.principal = await authenticate_headers(
                self.db, self.settings, request.headers, request.query_params.keys()
            )
        except DomainError as error:
            domain.auth_error = error
        return GraphQLContext(domain=domain)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Errors that never reached an operation (a query over the token limit) get their code here."""
        if result.errors:
            result.errors = [
                error if (error.extensions or {}).get("code") else with_code(error) for error in result.errors
            ]
        return await super().process_result(request, result)
