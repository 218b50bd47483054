"""The graphql-transport-ws handler: Strawberry's, with the live lane for plain event selections."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import CompleteMessage, NextMessage
from strawberry.types import ExecutionResult
from strawberry.utils.aio import aclosing

from schema import live_lane
from schema.context import GraphQLContext

LaneOperation = Operation[GraphQLContext, None]


class LiveLaneHandler(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    async def run_operation(self, operation: LaneOperation) -> None:
        schema: Any = self.schema  # a WeConnSchema (schema/root.py)
        lane = live_lane.plan(
            schema._schema, schema.lane_config, operation.query, operation.variables, operation.operation_name
        )
        if lane is None:
            await super().run_operation(operation)
            return
        try:
            await self._run_lane(operation, lane)
        except Exception as error:  # as Strawberry's own: reported, the operation completed and forgotten
            await self.handle_task_exception(error)
            await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))
            self.operations.pop(operation.id, None)
            raise

    async def _run_lane(self, operation: LaneOperation, lane: live_lane.Lane) -> None:
        source = lane.open(self.context.domain)
        async with aclosing(source):
            try:
                async for event in source:
                    data = lane.data(event)
                    await operation.send_operation_message(
                        NextMessage(id=operation.id, type="next", payload={"data": data})
                    )
            except Exception as error:  # noqa: BLE001 - the stream's error ends it, as on Strawberry's path
                errors = [as_graphql_error(error)]
                self.schema.process_errors(errors)
                await operation.send_next(ExecutionResult(data=None, errors=errors))
        await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))


def as_graphql_error(error: Exception) -> GraphQLError:
    """As Strawberry turns an error raised by a subscription's stream into a GraphQL error."""
    return error if isinstance(error, GraphQLError) else GraphQLError(str(error), original_error=error)
