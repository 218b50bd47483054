"""The webhook API over REST and over its GraphQL twin, both answering `Outcome`s of the same shape."""

from __future__ import annotations

from typing import Any

from tests.support.twins import GraphQLTwin, Outcome, RestTwin, camel

ENDPOINT = (
    "id url description deliveryProfile events channel status disabledReason disabledAt createdAt updatedAt"
)
DELIVERY = (
    "id endpointId webhookId eventType status attemptCount nextAttemptAt lastError payload createdAt"
    " updatedAt attempts { id startedAt durationMs statusCode error response }"
)
API = "/api/v1/integrations/webhooks"


class RestWebhooks(RestTwin):
    """The webhook operations over REST."""

    async def create(self, headers: dict[str, str], body: dict[str, Any]) -> Outcome:
        return self._outcome(await self.http.post(API, json=body, headers=headers), expect=201)

    async def list(self, headers: dict[str, str], **params: Any) -> Outcome:
        return self._page(await self.http.get(API, params=params, headers=headers))

    async def delete(self, headers: dict[str, str], endpoint_id: int) -> Outcome:
        return self._outcome(await self.http.delete(f"{API}/{endpoint_id}", headers=headers))

    async def catalog(self, headers: dict[str, str]) -> Outcome:
        return self._outcome(await self.http.get(f"{API}/events-catalog", headers=headers))

    async def rotate(self, headers: dict[str, str], endpoint_id: int) -> Outcome:
        return self._outcome(await self.http.post(f"{API}/{endpoint_id}/rotate-secret", headers=headers))

    async def test(self, headers: dict[str, str], endpoint_id: int) -> Outcome:
        return self._outcome(await self.http.post(f"{API}/{endpoint_id}/test", headers=headers), expect=202)

    async def deliveries(self, headers: dict[str, str], endpoint_id: int, **params: Any) -> Outcome:
        return self._page(
            await self.http.get(f"{API}/{endpoint_id}/deliveries", params=params, headers=headers)
        )

    async def redeliver(self, headers: dict[str, str], endpoint_id: int, delivery_id: int) -> Outcome:
        url = f"{API}/{endpoint_id}/deliveries/{delivery_id}/redeliver"
        return self._outcome(await self.http.post(url, headers=headers), expect=202)


class GraphQLWebhooks(GraphQLTwin):
    """The same operations over GraphQL."""

    async def create(self, headers: dict[str, str], body: dict[str, Any]) -> Outcome:
        query = f"mutation($input: WebhookInput!) {{ createWebhook(input: $input) {{ {ENDPOINT} secret }} }}"
        variables = {"input": {camel(name): value for name, value in body.items()}}
        return await self._run(headers, query, variables, "createWebhook")

    async def list(self, headers: dict[str, str], **params: Any) -> Outcome:
        query = (
            "query($page: Int, $perPage: Int) { webhooks(page: $page, perPage: $perPage) {"
            f" items {{ {ENDPOINT} }} totalCount page perPage lastPage }} }}"
        )
        outcome = await self._run(headers, query, {camel(k): v for k, v in params.items()}, "webhooks")
        if outcome.ok:
            outcome.data["total"] = outcome.data.pop("total_count")
        return outcome

    async def delete(self, headers: dict[str, str], endpoint_id: int) -> Outcome:
        query = "mutation($id: Int!) { deleteWebhook(id: $id) { id deleted } }"
        return await self._run(headers, query, {"id": endpoint_id}, "deleteWebhook")

    async def catalog(self, headers: dict[str, str]) -> Outcome:
        query = (
            "{ webhookEventsCatalog { events { name description example }"
            " profiles { name description events channel } } }"
        )
        return await self._run(headers, query, {}, "webhookEventsCatalog")

    async def rotate(self, headers: dict[str, str], endpoint_id: int) -> Outcome:
        query = f"mutation($id: Int!) {{ rotateWebhookSecret(id: $id) {{ {ENDPOINT} secret }} }}"
        return await self._run(headers, query, {"id": endpoint_id}, "rotateWebhookSecret")

    async def test(self, headers: dict[str, str], endpoint_id: int) -> Outcome:
        query = f"mutation($id: Int!) {{ sendWebhookTest(id: $id) {{ {DELIVERY} }} }}"
        return await self._run(headers, query, {"id": endpoint_id}, "sendWebhookTest")

    async def deliveries(self, headers: dict[str, str], endpoint_id: int, **params: Any) -> Outcome:
        query = (
            "query($id: Int!, $page: Int, $perPage: Int, $status: String) {"
            " webhookDeliveries(webhookId: $id, page: $page, perPage: $perPage, status: $status) {"
            f" items {{ {DELIVERY} }} totalCount page perPage lastPage }} }}"
        )
        variables = {"id": endpoint_id, **{camel(k): v for k, v in params.items()}}
        outcome = await self._run(headers, query, variables, "webhookDeliveries")
        if outcome.ok:
            outcome.data["total"] = outcome.data.pop("total_count")
        return outcome

    async def redeliver(self, headers: dict[str, str], endpoint_id: int, delivery_id: int) -> Outcome:
        query = (
            "mutation($id: Int!, $delivery: Int!) {"
            f" redeliverWebhook(webhookId: $id, deliveryId: $delivery) {{ {DELIVERY} }} }}"
        )
        return await self._run(
            headers, query, {"id": endpoint_id, "delivery": delivery_id}, "redeliverWebhook"
        )
