"""The fast lane of live subscriptions: a plain `deliveryEvents` or `messageStatus` selection is
projected straight from each event, without a GraphQL execution per event.

A dashboard's subscription asks for a few scalar fields of `DeliveryEvent`, and a busy tenant
produces thousands of events a second. graphql-core executes the selection set for every event
(resolvers, completion, Strawberry's extension hooks), about 0.1 ms each, on the gateway's one
event loop. When the document is valid (the same rules and limits as every request) and its one
root field selects only `DeliveryEvent` scalars, without fragments or directives, the lane plans
the projection once and copies each event's fields through the schema's own serializers.
Everything else, and every document that does not validate, takes Strawberry's path, which
reports errors as for any request. The frames are the same either way (tests/e2e/test_live_lane.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
)
from graphql.execution.values import get_argument_values, get_variable_values

from gateway.bus import StatusEvent
from resolvers import live_events
from resolvers.context import Context
from schema.limits import _parsed, _validated
from schema.subscriptions import DeliveryEvent

EVENT_TYPE = "DeliveryEvent"
Source = Callable[[Context, dict[str, Any]], AsyncIterator[StatusEvent]]
# The root fields the lane serves, each opened exactly as its resolver in schema/subscriptions.py does.
SOURCES: dict[str, Source] = {
    "deliveryEvents": lambda ctx, args: live_events.delivery_events(
        ctx, channel=args.get("channel"), campaign_id=args.get("campaignId"), after=args.get("after")
    ),
    "messageStatus": lambda ctx, args: live_events.message_status(ctx, message_id=args["id"]),
}


@dataclass(frozen=True, slots=True)
class Leaf:
    key: str  # the response key: the alias, or the field's name
    attribute: str | None  # the DeliveryEvent attribute; None for __typename
    serialize: Callable[[Any], Any]
    non_null: bool


@dataclass(frozen=True, slots=True)
class Lane:
    root_key: str
    source: Source
    arguments: dict[str, Any]
    leaves: tuple[Leaf, ...]

    def open(self, ctx: Context) -> AsyncIterator[StatusEvent]:
        return self.source(ctx, self.arguments)

    def data(self, event: StatusEvent) -> dict[str, Any]:
        """The `data` of the event's `next` payload, as graphql-core would complete it."""
        shown = DeliveryEvent.from_event(event)
        fields: dict[str, Any] = {}
        for leaf in self.leaves:
            if leaf.attribute is None:
                fields[leaf.key] = EVENT_TYPE
                continue
            value = getattr(shown, leaf.attribute)
            if value is None:
                if leaf.non_null:
                    raise GraphQLError(f"Cannot return null for non-nullable field {EVENT_TYPE}.{leaf.key}.")
                fields[leaf.key] = None
            else:
                fields[leaf.key] = leaf.serialize(value)
        return {self.root_key: fields}


@dataclass(frozen=True, slots=True)
class LaneConfig:
    """What every request is held to (schema/root.py): the parser's token limit and the whole
    tuple of validation rules; and each `DeliveryEvent` field's attribute by its GraphQL name."""

    max_tokens: int
    rules: tuple[type[ASTValidationRule], ...]
    attributes: tuple[tuple[str, str], ...]


def plan(
    schema: GraphQLSchema,
    config: LaneConfig,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> Lane | None:
    """The lane for this subscribe message, or None when Strawberry's path must take it."""
    try:
        document = _parsed(query, config.max_tokens)
    except GraphQLError:
        return None
    shape = _shape(schema, config, document, operation_name)
    if shape is None:
        return None
    operation, field, leaves = shape
    root = schema.subscription_type
    assert root is not None  # a subscription operation validated against this schema
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):  # the variables do not coerce: Strawberry reports it
        return None
    try:
        arguments = get_argument_values(root.fields[field.name.value], field, coerced)
    except GraphQLError:
        return None
    key = field.alias.value if field.alias else field.name.value
    return Lane(key, SOURCES[field.name.value], arguments, leaves)


@lru_cache(maxsize=256)
def _shape(
    schema: GraphQLSchema, config: LaneConfig, document: DocumentNode, operation_name: str | None
) -> tuple[OperationDefinitionNode, FieldNode, tuple[Leaf, ...]] | None:
    """The operation, its root field and its leaves, when the document fits the lane."""
    if _validated(schema, document, config.rules):
        return None
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    if len(operations) != len(document.definitions):  # fragments: Strawberry's path
        return None
    chosen = [
        op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)
    ]
    if len(chosen) != 1 or chosen[0].operation != OperationType.SUBSCRIPTION or chosen[0].directives:
        return None
    selections = chosen[0].selection_set.selections
    field = selections[0] if len(selections) == 1 else None
    if not isinstance(field, FieldNode) or field.directives or field.name.value not in SOURCES:
        return None
    leaves = _leaves(schema, field, dict(config.attributes))
    return None if leaves is None else (chosen[0], field, leaves)


def _leaves(schema: GraphQLSchema, field: FieldNode, attributes: dict[str, str]) -> tuple[Leaf, ...] | None:
    event_type = schema.get_type(EVENT_TYPE)
    if not isinstance(event_type, GraphQLObjectType) or field.selection_set is None:
        return None
    leaves: list[Leaf] = []
    for selection in field.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.selection_set:
            return None
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        if name == "__typename":
            leaves.append(Leaf(key, None, str, non_null=True))
            continue
        definition = event_type.fields.get(name)
        scalar = get_named_type(definition.type) if definition else None
        if definition is None or not isinstance(scalar, GraphQLScalarType):
            return None
        attribute = attributes[name]
        leaves.append(Leaf(key, attribute, scalar.serialize, isinstance(definition.type, GraphQLNonNull)))
    return tuple(leaves)
