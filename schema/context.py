"""The GraphQL request context: the resolvers' Context plus request-scoped DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.types import Info

from resolvers.context import Context
from schema.loaders import Loaders


@dataclass(slots=True)
class GraphQLContext:
    domain: Context
    loaders: Loaders = field(init=False)
    # A WebSocket's `connection_init` payload (Strawberry sets it before `on_ws_connect`).
    connection_params: dict[str, object] | None = None

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.domain.db)


GraphQLInfo = Info[GraphQLContext, None]
