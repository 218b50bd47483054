"""Gives every GraphQL error a stable `extensions.code`, the same codes REST uses."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import ExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult as StrawberryResult

from resolvers.errors import DomainError

logger = logging.getLogger("weconn.graphql")


def with_code(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        extensions: dict[str, object] = {"code": original.code}
        if original.fields:
            extensions["fields"] = original.fields
        message = original.message
    elif original is None or isinstance(original, GraphQLError) or error.path is None:
        # Parsing, validation and variable coercion: the request itself is wrong.
        extensions, message = {"code": "invalid_query"}, error.message
    else:
        # An unexpected failure: logged with its traceback, never shown to the caller.
        logger.error("unexpected error in GraphQL resolver", exc_info=original)
        extensions, message = {"code": "internal_error"}, "internal error"
    return GraphQLError(
        message, nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
        original_error=None, extensions={**(error.extensions or {}), **extensions},
    )  # fmt: skip


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        # graphql-core's result after execution, Strawberry's after a pre-execution failure.
        result = self.execution_context.result
        if isinstance(result, ExecutionResult | StrawberryResult) and result.errors:
            result.errors = [with_code(error) for error in result.errors]
