"""The voice call API over REST and over its GraphQL twin, both answering `Outcome`s of one shape."""

from __future__ import annotations

from typing import Any

from tests.support.twins import GraphQLTwin, Outcome, RestTwin, camel

API = "/api/v1/integrations/calls"
CALL = ("id status to message voice language webhookUrl integrationId provider providerCallId errorCode "
        "errorMessage createdAt updatedAt events { status occurredAt detail }")  # fmt: skip


class RestCalls(RestTwin):
    async def initiate(self, headers: dict[str, str], body: dict[str, Any]) -> Outcome:
        return self._outcome(await self.http.post(API + "/initiate", json=body, headers=headers), expect=202)

    async def get(self, headers: dict[str, str], call_id: int) -> Outcome:
        return self._outcome(await self.http.get(f"{API}/{call_id}", headers=headers))

    async def list(self, headers: dict[str, str], **params: Any) -> Outcome:
        return self._page(await self.http.get(API, params=params, headers=headers))


class GraphQLCalls(GraphQLTwin):
    async def initiate(self, headers: dict[str, str], body: dict[str, Any]) -> Outcome:
        query = f"mutation($input: InitiateCallInput!) {{ initiateCall(input: $input) {{ {CALL} }} }}"
        variables = {"input": {camel(name): value for name, value in body.items()}}
        return await self._run(headers, query, variables, "initiateCall")

    async def get(self, headers: dict[str, str], call_id: int) -> Outcome:
        return await self._run(
            headers, f"query($id: Int!) {{ call(id: $id) {{ {CALL} }} }}", {"id": call_id}, "call"
        )

    async def list(self, headers: dict[str, str], **params: Any) -> Outcome:
        query = ("query($page: Int, $perPage: Int) { calls(page: $page, perPage: $perPage) {"
                 f" items {{ {CALL} }} totalCount page perPage lastPage }} }}")  # fmt: skip
        variables = {camel(name): value for name, value in params.items()}
        outcome = await self._run(headers, query, variables, "calls")
        if outcome.ok:
            data = outcome.data
            outcome.data = {"items": data["items"], "page": data["page"], "per_page": data["per_page"],
                            "total": data["total_count"], "last_page": data["last_page"]}  # fmt: skip
        return outcome
