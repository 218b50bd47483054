"""One contract, two transports: each operation over REST and over its GraphQL twin.

Both return an `Outcome` in the same shape, so a test written once checks both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

CONTACT_FIELDS = "id name email phone tags metadata createdAt updatedAt"


@dataclass
class Outcome:
    code: str | None  # None on success, else the stable error code
    data: Any = None
    fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code is None


def snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): snake(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snake(item) for item in value]
    return value


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class RestTwin:
    """What every REST side shares: the envelope read into an `Outcome`."""

    name = "rest"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    def _page(self, response: httpx.Response) -> Outcome:
        outcome = self._outcome(response)
        if outcome.ok:
            body = response.json()
            outcome.data = {"items": body["data"], **body["meta"]}
        return outcome

    @staticmethod
    def _outcome(response: httpx.Response, expect: int = 200) -> Outcome:
        body = response.json()
        if response.status_code >= 400:
            error = body["error"]
            return Outcome(code=error["code"], fields=error.get("fields", {}))
        assert response.status_code == expect, response.text
        return Outcome(code=None, data=body["data"])


class GraphQLTwin:
    """What every GraphQL side shares: one operation, its first error's code into an `Outcome`."""

    name = "graphql"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _run(self, headers: dict[str, str], query: str, variables: dict[str, Any], key: str) -> Outcome:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if body.get("errors"):
            extensions = body["errors"][0].get("extensions", {})
            return Outcome(code=extensions.get("code"), fields=extensions.get("fields", {}))
        return Outcome(code=None, data=snake(body["data"][key]))


class RestContacts(RestTwin):
    base = "/api/v1/integrations/contacts"

    async def create(self, headers: dict[str, str], body: dict[str, Any]) -> Outcome:
        return self._outcome(await self.http.post(self.base, json=body, headers=headers), expect=201)

    async def get(self, headers: dict[str, str], contact_id: int) -> Outcome:
        return self._outcome(await self.http.get(f"{self.base}/{contact_id}", headers=headers))

    async def update(self, headers: dict[str, str], contact_id: int, body: dict[str, Any]) -> Outcome:
        return self._outcome(await self.http.put(f"{self.base}/{contact_id}", json=body, headers=headers))

    async def delete(self, headers: dict[str, str], contact_id: int) -> Outcome:
        return self._outcome(await self.http.delete(f"{self.base}/{contact_id}", headers=headers))

    async def list(self, headers: dict[str, str], **params: Any) -> Outcome:
        return self._page(await self.http.get(self.base, params=params, headers=headers))


class GraphQLContacts(GraphQLTwin):
    async def create(self, headers: dict[str, str], body: dict[str, Any]) -> Outcome:
        query = f"mutation($input: ContactInput!) {{ createContact(input: $input) {{ {CONTACT_FIELDS} }} }}"
        return await self._run(headers, query, {"input": _input(body)}, "createContact")

    async def get(self, headers: dict[str, str], contact_id: int) -> Outcome:
        query = f"query($id: Int!) {{ contact(id: $id) {{ {CONTACT_FIELDS} }} }}"
        return await self._run(headers, query, {"id": contact_id}, "contact")

    async def update(self, headers: dict[str, str], contact_id: int, body: dict[str, Any]) -> Outcome:
        query = (
            f"mutation($id: Int!, $input: ContactInput!) {{ updateContact(id: $id, input: $input)"
            f" {{ {CONTACT_FIELDS} }} }}"
        )
        return await self._run(headers, query, {"id": contact_id, "input": _input(body)}, "updateContact")

    async def delete(self, headers: dict[str, str], contact_id: int) -> Outcome:
        query = "mutation($id: Int!) { deleteContact(id: $id) { id deleted } }"
        return await self._run(headers, query, {"id": contact_id}, "deleteContact")

    async def list(self, headers: dict[str, str], **params: Any) -> Outcome:
        query = (
            "query($page: Int, $perPage: Int, $search: String, $tag: String) {"
            " contacts(page: $page, perPage: $perPage, search: $search, tag: $tag) {"
            f" items {{ {CONTACT_FIELDS} }} totalCount page perPage lastPage }} }}"
        )
        variables = {camel(name): value for name, value in params.items()}
        outcome = await self._run(headers, query, variables, "contacts")
        if outcome.ok:
            outcome.data["total"] = outcome.data.pop("total_count")
        return outcome


def _input(body: dict[str, Any]) -> dict[str, Any]:
    return {camel(name): value for name, value in body.items()}
