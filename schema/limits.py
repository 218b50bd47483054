"""The request limits and caches of every GraphQL operation, as one schema extension.

Strawberry's ParserCache, AddValidationRules, ValidationCache and MaxTokensLimiter do the same
work, but as four extension objects made for every request, each with its hooks looked up and run
as generators; one object with three hooks costs a fraction of that on a request whose parse and
validation come from the caches (which is nearly every one). The behaviour is theirs: the token
limit goes to the parser, the depth and alias rules are added to the validation, and both steps
are cached by their full input (query text and parser options; schema, document and rules).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from strawberry.extensions import SchemaExtension

CACHE_SIZE = 1024  # distinct query texts (and documents) remembered


@lru_cache(maxsize=CACHE_SIZE)
def _parsed(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


@lru_cache(maxsize=CACHE_SIZE)
def _validated(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    return validate(schema, document, rules)


class RequestLimits(SchemaExtension):
    """Made per request from shared settings: `RequestLimits(max_tokens, rules)`."""

    def __init__(self, max_tokens: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.max_tokens, self.rules = max_tokens, rules

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, *self.rules)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None:  # unless given already parsed
            query = context.query or ""
            others: dict[str, Any] = {
                name: value for name, value in context.parse_options.items() if name != "max_tokens"
            }
            # Options another extension set: parsed without the cache.
            context.graphql_document = (
                parse(query, max_tokens=self.max_tokens, **others)
                if others
                else _parsed(query, self.max_tokens)
            )
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None  # parsed, or the operation ended before this
        errors = _validated(context.schema._schema, context.graphql_document, tuple(context.validation_rules))
        context.pre_execution_errors = errors
        yield
