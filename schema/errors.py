"""Gives every GraphQL error a stable `extensions.code`, the same codes REST uses.

Applied by `schema.root.WeConnSchema.process_errors`, which every operation passes through
(subscriptions included, whose results never reach the view's `process_result`), and again,
idempotently, by `schema.view.GraphQLView.process_result`.
"""

from __future__ import annotations

import logging

from graphql.error import GraphQLError

from resolvers.errors import DomainError, capacity_error

logger = logging.getLogger("weconn.graphql")


def with_code(error: GraphQLError) -> GraphQLError:
    """The error as the caller sees it; one that has its code already is returned as it is."""
    original = error.original_error
    if original is not None:
        original = capacity_error(original) or original
    if original is None and "code" in (error.extensions or {}):
        return error
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
