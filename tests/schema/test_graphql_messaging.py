"""Messaging over GraphQL: the same resolvers, shapes and codes as REST."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.db import Database
from tests.support.messaging import sending_tenant, wait_for_status
from tests.support.queries import count_queries
from tests.support.tenants import TenantKeys

SEND = """mutation($input: SendMessageInput!, $key: String) {
  sendMessage(input: $input, idempotencyKey: $key) {
    id status channel to integrationId route createdAt replayed
  }
}"""


async def run(client: httpx.AsyncClient, tenant: TenantKeys, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=tenant.headers()
    )
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def test_send_then_read_matches_rest(client: httpx.AsyncClient, db: Database) -> None:
    tenant, integration_id = await sending_tenant(db)
    payload = {
        "channel": "sms",
        "to": "+40 740 111 555",
        "templateKey": "reminder",
        "variables": {"name": "Ana"},
    }
    sent = (await run(client, tenant, SEND, input=payload, key="gql-1"))["data"]["sendMessage"]
    assert sent["status"] == "queued"
    assert sent["to"] == "+40740111555"
    assert sent["integrationId"] == integration_id
    assert sent["replayed"] is False
    again = (await run(client, tenant, SEND, input=payload, key="gql-1"))["data"]["sendMessage"]
    assert again["id"] == sent["id"]
    assert again["replayed"] is True
    view = await wait_for_status(client, tenant, sent["id"], {"delivered"})
    query = "query($id: Int!) { message(id: $id) { status providerMessageId events { status } } }"
    message = (await run(client, tenant, query, id=sent["id"]))["data"]["message"]
    assert message["status"] == view["status"] == "delivered"
    assert message["providerMessageId"] == view["provider_message_id"]
    assert [event["status"] for event in message["events"]] == [event["status"] for event in view["events"]]


async def test_errors_carry_codes_and_fields(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    missing = await run(
        client, tenant, SEND, input={"channel": "sms", "to": "+40740111555", "templateKey": "reminder"}
    )
    assert missing["errors"][0]["extensions"]["code"] == "validation_error"
    assert "variables.name" in missing["errors"][0]["extensions"]["fields"]
    changed = await run(
        client, tenant, SEND, input={"channel": "sms", "to": "+40740111556", "body": "a"}, key="k"
    )
    assert "errors" not in changed
    reused = await run(
        client, tenant, SEND, input={"channel": "sms", "to": "+40740111556", "body": "b"}, key="k"
    )
    assert reused["errors"][0]["extensions"]["code"] == "idempotency_key_reused"


async def test_batch_and_templates(client: httpx.AsyncClient, db: Database) -> None:
    tenant, _ = await sending_tenant(db)
    create = (
        """mutation($input: TemplateInput!) { createTemplate(input: $input) { key channel variables } }"""
    )
    promo = {"key": "promo", "channel": "sms", "body": "Hi {{ name }} {{ code }}", "variables": ["name"]}
    undeclared = await run(client, tenant, create, input=promo)
    assert undeclared["errors"][0]["extensions"]["fields"] == {
        "variables": ["the template uses undeclared variables: code"]
    }
    created = await run(
        client, tenant, create, input={"key": "promo", "channel": "sms", "body": "Hi {{ name }}"}
    )
    assert created["data"]["createTemplate"] == {"key": "promo", "channel": "sms", "variables": ["name"]}
    batch = """mutation($input: SendBatchInput!) {
      sendBatch(input: $input) { accepted rejected results { index id status error } }
    }"""
    recipients = [
        {"to": "+40740111601", "variables": {"name": "A"}},
        {"to": "nope", "variables": {"name": "B"}},
    ]
    shared = {"channel": "sms", "templateKey": "promo", "recipients": recipients}
    result = (await run(client, tenant, batch, input=shared))["data"]["sendBatch"]
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert result["results"][1]["error"]["code"] == "validation_error"
    listed = await run(client, tenant, '{ templates(channel: "sms") { key } integrations { id isDefault } }')
    assert {item["key"] for item in listed["data"]["templates"]} == {"promo", "reminder"}
    assert listed["data"]["integrations"][0]["isDefault"] is True
    deleted = await run(client, tenant, 'mutation { deleteTemplate(key: "promo") }')
    assert deleted["data"]["deleteTemplate"] == "promo"


async def test_message_events_load_in_one_batch(quiet_client: httpx.AsyncClient, quiet_db: Database) -> None:
    client, db = quiet_client, quiet_db
    tenant, _ = await sending_tenant(db)
    for index in range(12):
        payload = {"channel": "sms", "to": f"+4074011{index:04d}", "body": "x"}
        sent = await run(client, tenant, SEND, input=payload)
        assert "errors" not in sent, sent
    query = "query($n: Int!) { messages(perPage: $n) { items { id events { status } } } }"
    counts = []
    for size in (2, 12):
        with count_queries(db) as statements:
            result = await run(client, tenant, query, n=size)
        assert len(result["data"]["messages"]["items"]) == size
        assert all(item["events"] for item in result["data"]["messages"]["items"])
        counts.append(len(statements))
    assert counts[0] == counts[1]
