"""The bad-input table: each malformed request gets its documented 4xx in the error envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.tenants import TenantKeys

CONTACTS = "/api/v1/integrations/contacts"
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int
    code: str
    content: bytes | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    field: str | None = None  # a key expected in error.fields
    authenticate: bool = True


def chunks(payload: bytes, size: int = 64 * 1024):
    async def stream():
        for start in range(0, len(payload), size):
            yield payload[start : start + size]

    return stream()


CASES = [
    Case("truncated JSON", "POST", CONTACTS, 400, "bad_request", content=b'{"name": "Ana"', headers=JSON),
    Case("JSON array body", "POST", CONTACTS, 400, "bad_request", content=b"[]", headers=JSON),
    Case("JSON string body", "POST", CONTACTS, 400, "bad_request", content=b'"hello"', headers=JSON),
    Case("JSON null body", "POST", CONTACTS, 400, "bad_request", content=b"null", headers=JSON),
    Case("empty body", "POST", CONTACTS, 400, "bad_request", content=b"", headers=JSON),
    Case("not UTF-8", "POST", CONTACTS, 400, "bad_request", content=b'{"name": "\xff\xfe"}', headers=JSON),
    Case(
        "nesting bomb", "POST", CONTACTS, 400, "bad_request", content=b"[" * 5000 + b"]" * 5000, headers=JSON
    ),
    Case(
        "form body",
        "POST",
        CONTACTS,
        400,
        "bad_request",
        content=b"name=Ana",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    Case(
        "name is a number",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"name": 5, "email": "a@example.com"},
        field="name",
    ),
    Case(
        "tags is a string",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"email": "a@example.com", "tags": "vip"},
        field="tags",
    ),
    Case(
        "tags hold numbers",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"email": "a@example.com", "tags": [1]},
        field="tags.0",
    ),
    Case(
        "too many tags",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"email": "a@example.com", "tags": [f"t{n}" for n in range(51)]},
        field="tags",
    ),
    Case(
        "metadata is a list",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"email": "a@example.com", "metadata": []},
        field="metadata",
    ),
    Case(
        "metadata too large",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"email": "a@example.com", "metadata": {"blob": "x" * 20_000}},
        field="metadata",
    ),
    Case("email is a number", "POST", CONTACTS, 422, "validation_error", json={"email": 42}, field="email"),
    Case(
        "invalid phone", "POST", CONTACTS, 422, "validation_error", json={"phone": "call me"}, field="phone"
    ),
    Case(
        "phone without country",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"phone": "0740111222"},
        field="phone",
    ),
    Case("invalid email", "POST", CONTACTS, 422, "validation_error", json={"email": "maria@"}, field="email"),
    Case(
        "neither phone nor email",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"name": "Ana"},
        field="phone",
    ),
    Case(
        "unknown field",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"email": "a@example.com", "colour": "red"},
        field="colour",
    ),
    Case(
        "name too long",
        "POST",
        CONTACTS,
        422,
        "validation_error",
        json={"email": "a@example.com", "name": "x" * 201},
        field="name",
    ),
    Case(
        "1 MB body",
        "POST",
        CONTACTS,
        413,
        "payload_too_large",
        json={"email": "a@example.com", "metadata": {"blob": "x" * 1_000_000}},
    ),
    Case(
        "1 MB chunked body",
        "POST",
        CONTACTS,
        413,
        "payload_too_large",
        content=b" " * 1_000_000,
        headers=JSON,
    ),
    Case("per_page 10000", "GET", CONTACTS + "?per_page=10000", 422, "validation_error", field="per_page"),
    Case("per_page 0", "GET", CONTACTS + "?per_page=0", 422, "validation_error", field="per_page"),
    Case("negative page", "GET", CONTACTS + "?page=-1", 422, "validation_error", field="page"),
    Case("page not a number", "GET", CONTACTS + "?page=two", 422, "validation_error", field="page"),
    Case(
        "search too long", "GET", CONTACTS + "?search=" + "a" * 500, 422, "validation_error", field="search"
    ),
    Case("unknown id", "GET", CONTACTS + "/987654321", 404, "not_found"),
    Case("non-numeric id", "GET", CONTACTS + "/abc", 404, "not_found"),
    Case("huge id", "GET", CONTACTS + "/99999999999999999999999", 404, "not_found"),
    Case("id beyond 32 bits", "GET", CONTACTS + "/2147483648", 404, "not_found"),
    Case("update id beyond 32 bits", "PUT", CONTACTS + "/2147483648", 404, "not_found", json={"name": "x"}),
    Case("update unknown id", "PUT", CONTACTS + "/987654321", 404, "not_found", json={"name": "x"}),
    Case("update with bad JSON", "PUT", CONTACTS + "/1", 400, "bad_request", content=b"{", headers=JSON),
    Case("delete unknown id", "DELETE", CONTACTS + "/987654321", 404, "not_found"),
    Case("wrong method", "PATCH", CONTACTS + "/1", 405, "method_not_allowed", json={}),
    Case("unknown path", "GET", "/api/v1/integrations/nothing-here", 404, "not_found"),
    Case("no credential", "GET", CONTACTS, 401, "unauthenticated", authenticate=False),
    Case(
        "key in the query string",
        "GET",
        CONTACTS + "?api_key=KEY",
        401,
        "unauthenticated",
        authenticate=False,
    ),
    Case(
        "malformed Authorization",
        "GET",
        CONTACTS,
        401,
        "unauthenticated",
        authenticate=False,
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    ),
    Case(
        "bearer without tenant",
        "GET",
        CONTACTS,
        401,
        "unauthenticated",
        authenticate=False,
        headers={"Authorization": "Bearer not-a-token"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_bad_input_gets_its_documented_error(
    case: Case, client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    headers = dict(case.headers)
    if case.authenticate:
        headers["X-API-Key"] = tenant.full
    path = case.path.replace("KEY", tenant.full)
    content = chunks(case.content) if case.name.endswith("chunked body") else case.content
    response = await client.request(case.method, path, content=content, json=case.json, headers=headers)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == case.code
    assert error["message"]
    if case.field:
        assert case.field in error["fields"], error


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize(
    "search", ["' OR 1=1 --", "'; DROP TABLE contacts; --", "<script>alert(1)</script>", "%", "_", "\\"]
)
async def test_hostile_search_text_is_only_text(
    search: str, client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    """SQL or HTML in a search is a search for that text: no error, no match, nothing executed."""
    created = await client.post(CONTACTS, json={"email": "plain@example.com"}, headers=tenant.headers())
    assert created.status_code == 201
    response = await client.get(CONTACTS, params={"search": search}, headers=tenant.headers())
    assert response.status_code == 200
    assert response.json() == {"data": [], "meta": {"page": 1, "per_page": 20, "total": 0, "last_page": 1}}
    still = await client.get(CONTACTS, headers=tenant.headers())
    assert still.json()["meta"]["total"] == 1
