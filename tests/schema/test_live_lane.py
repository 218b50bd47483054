"""Which subscribe messages the live lane takes (schema/live_lane.py), and what it projects.

It must take exactly the plain selections it can project and leave every other document, valid
or not, to Strawberry's path; tests/e2e/test_live_lane.py compares the frames of both paths."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.bus import StatusEvent
from gateway.settings import Settings
from schema import live_lane
from schema.root import build_schema

SCHEMA = build_schema(Settings())
ALL_FIELDS = "cursor messageId channel status occurredAt campaignId detail __typename"
EVENT = StatusEvent(
    cursor=41, tenant_id=1, message_id=7, channel="sms", status="sent",
    occurred_at=datetime(2026, 11, 27, 10, 0, 1, 250000, tzinfo=UTC), detail={"provider_message_id": "SB1"},
)  # fmt: skip


def lane_for(
    query: str, variables: dict[str, Any] | None = None, name: str | None = None
) -> live_lane.Lane | None:
    return live_lane.plan(SCHEMA._schema, SCHEMA.lane_config, query, variables, name)


def test_a_plain_selection_is_projected_as_graphql_would_complete_it() -> None:
    lane = lane_for(f"subscription {{ live: deliveryEvents {{ {ALL_FIELDS} at: occurredAt }} }}")
    assert lane is not None
    assert lane.data(EVENT) == {
        "live": {
            "cursor": "41", "messageId": 7, "channel": "sms", "status": "sent",
            "occurredAt": "2026-11-27T10:00:01.250000Z", "campaignId": None,
            "detail": {"provider_message_id": "SB1"}, "__typename": "DeliveryEvent",
            "at": "2026-11-27T10:00:01.250000Z",
        }
    }  # fmt: skip


def test_arguments_come_from_literals_and_coerced_variables() -> None:
    query = """subscription($c: Int, $a: String) {
      deliveryEvents(channel: "sms", campaignId: $c, after: $a) { cursor }
    }"""
    lane = lane_for(query, {"c": 3, "a": "12"})
    assert lane is not None
    assert lane.arguments == {"channel": "sms", "campaignId": 3, "after": "12"}
    named = lane_for(
        "subscription One { messageStatus(id: 5) { status } } query Two { __typename }", None, "One"
    )
    assert named is not None
    assert named.arguments == {"id": 5}


@pytest.mark.parametrize(
    ("query", "variables", "name"),
    [
        ("subscription { deliveryEvents { ... on DeliveryEvent { cursor } } }", None, None),
        ("subscription { deliveryEvents { ...F } } fragment F on DeliveryEvent { cursor }", None, None),
        ("subscription { deliveryEvents { cursor @include(if: true) } }", None, None),
        ("subscription { deliveryEvents @skip(if: false) { cursor } }", None, None),
        ("subscription { campaignProgress(id: 1) { status } }", None, None),  # not DeliveryEvents
        ("subscription { deliveryEvents { nope } }", None, None),  # does not validate
        ("subscription { deliveryEvents { cursor } ", None, None),  # does not parse
        ("subscription($c: Int) { deliveryEvents(campaignId: $c) { cursor } }", {"c": "x"}, None),
        ("subscription($id: Int!) { messageStatus(id: $id) { cursor } }", {}, None),  # missing variable
        ("subscription A { deliveryEvents { cursor } }", None, "B"),  # no such operation
        ("query { __typename }", None, None),
    ],
)
def test_anything_else_takes_strawberrys_path(
    query: str, variables: dict[str, Any] | None, name: str | None
) -> None:
    assert lane_for(query, variables, name) is None


def test_a_document_past_the_request_limits_is_left_to_strawberry() -> None:
    deep_aliases = " ".join(f"a{n}: cursor" for n in range(SCHEMA.lane_config.max_tokens))
    assert lane_for(f"subscription {{ deliveryEvents {{ {deep_aliases} }} }}") is None
