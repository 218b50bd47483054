"""GraphQL specifics: limits, error codes, batching (no N+1), production switches, REST parity."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.app import create_app
from gateway.db import Database
from gateway.settings import Settings
from resolvers import accounts
from resolvers.tenants import create_tenant
from schema import limits
from tests.support.queries import count_queries
from tests.support.tenants import TenantKeys, new_tenant


async def graphql(
    client: httpx.AsyncClient, query: str, headers: dict[str, str], variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_rest_and_graphql_return_the_same_contact(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    body = {"name": "Ioana", "email": "ioana@example.com", "phone": "+40740999888", "tags": ["a", "b"],
            "metadata": {"nested": {"x": [1, 2]}}}  # fmt: skip
    created = await client.post("/api/v1/integrations/contacts", json=body, headers=tenant.headers())
    contact_id = created.json()["data"]["id"]
    rest = (await client.get(f"/api/v1/integrations/contacts/{contact_id}", headers=tenant.headers())).json()
    query = "query($id: Int!) { contact(id: $id) { id name email phone tags metadata createdAt updatedAt } }"
    result = await graphql(client, query, tenant.headers(), {"id": contact_id})
    gql = result["data"]["contact"]
    renamed = {"createdAt": "created_at", "updatedAt": "updated_at"}
    assert {renamed.get(key, key): value for key, value in gql.items()} == rest["data"]


async def test_errors_carry_the_rest_codes(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    missing = await graphql(client, "{ contact(id: 987654321) { id } }", tenant.headers())
    assert missing["errors"][0]["extensions"]["code"] == "not_found"
    anonymous = await graphql(client, "{ contacts { totalCount } }", {})
    assert anonymous["errors"][0]["extensions"]["code"] == "unauthenticated"
    invalid = await graphql(
        client, 'mutation { createContact(input: {phone: "nope"}) { id } }', tenant.headers()
    )
    assert invalid["errors"][0]["extensions"]["code"] == "validation_error"
    assert "phone" in invalid["errors"][0]["extensions"]["fields"]
    bad_page = await graphql(client, "{ contacts(perPage: 10000) { totalCount } }", tenant.headers())
    assert bad_page["errors"][0]["extensions"]["fields"] == {"per_page": ["must be between 1 and 100"]}


async def test_alias_and_token_limits(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    nested = "{ me { memberships { role } } }"
    assert "errors" not in await graphql(client, nested, tenant.headers())
    aliases = "{ " + " ".join(f"a{n}: me {{ kind }}" for n in range(40)) + " }"
    aliased = await graphql(client, aliases, tenant.headers())
    assert aliased["errors"][0]["extensions"]["code"] == "invalid_query"
    assert "aliases" in aliased["errors"][0]["message"]
    tokens = "{ " + " ".join("me { kind }" for _ in range(600)) + " }"
    tokened = await graphql(client, tokens, tenant.headers())
    assert tokened["errors"][0]["extensions"]["code"] == "invalid_query"
    assert "tokens" in tokened["errors"][0]["message"]


async def test_depth_limit_rejects_deep_queries(settings: Settings) -> None:
    shallow = settings.model_copy(update={"graphql_max_depth": 2})
    app = create_app(shallow)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        result = await graphql(client, "{ me { memberships { tenant { id } } } }", {})
    await app.state.db.dispose()
    assert result["errors"][0]["extensions"]["code"] == "invalid_query"
    assert "depth" in result["errors"][0]["message"]


async def test_query_count_stays_flat_as_the_page_grows(
    quiet_client: httpx.AsyncClient, quiet_db: Database
) -> None:
    client, db = quiet_client, quiet_db
    tenant = await new_tenant(db)
    for index in range(30):
        body = {"email": f"flat{index}@example.com", "tags": ["one", "two"]}
        await client.post("/api/v1/integrations/contacts", json=body, headers=tenant.headers())
    query = (
        "query($n: Int!) { contacts(perPage: $n) {"
        " totalCount items { id tags metadata optOuts { channel } } } }"
    )
    counts = []
    for size in (2, 30):
        with count_queries(db) as statements:
            result = await graphql(client, query, tenant.headers(), {"n": size})
        assert len(result["data"]["contacts"]["items"]) == size
        counts.append(len(statements))
    assert counts[0] == counts[1]


async def test_nested_tenants_load_in_one_batch(quiet_client: httpx.AsyncClient, quiet_db: Database) -> None:
    """A user in many tenants: `memberships { tenant }` is one query per level, not one per tenant."""
    client, db = quiet_client, quiet_db
    first = await new_tenant(db)
    email = "multi-tenant@example.com"
    await accounts.create_user(db, email=email, password="long-password", tenant_ref=first.slug, role="owner")
    counts = []
    for extra in (1, 6):
        for index in range(extra):
            async with db.sessions() as session:
                tenant = await create_tenant(session, slug=f"multi-{extra}-{index}", name="M")
                await session.commit()
            await accounts.create_user(
                db, email=email, password="long-password", tenant_ref=tenant.slug, role="member"
            )
        token = (
            await client.post("/api/v1/auth/login", json={"email": email, "password": "long-password"})
        ).json()["data"]["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Tenant-Id": first.slug}
        with count_queries(db) as statements:
            result = await graphql(client, "{ me { memberships { role tenant { slug } } } }", headers)
        assert "errors" not in result, result
        counts.append((len(result["data"]["me"]["memberships"]), len(statements)))
    (few, few_queries), (many, many_queries) = counts
    assert many > few
    assert few_queries == many_queries


async def test_production_turns_off_introspection_and_the_ide(settings: Settings, tenant: TenantKeys) -> None:
    production = settings.model_copy(update={"env": "production"})
    app = create_app(production)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        introspection = await graphql(client, "{ __schema { types { name } } }", tenant.headers())
        ide = await client.get("/graphql", headers={"Accept": "text/html"})
        works = await graphql(client, "{ me { kind } }", tenant.headers())
    await app.state.db.dispose()
    assert introspection["errors"][0]["extensions"]["code"] == "invalid_query"
    assert "text/html" not in ide.headers.get("content-type", "")
    assert works["data"]["me"]["kind"] == "api_key"


async def test_development_serves_introspection_without_credentials(client: httpx.AsyncClient) -> None:
    result = await graphql(client, "{ __schema { queryType { name } } }", {})
    assert result["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_repeated_queries_skip_parsing_and_validation(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    """The caches must hit for a repeated query text, limit rules included (they key the cache)."""
    query = "{ me { kind scopes } }"
    await graphql(client, query, tenant.headers())
    parsed_before, validated_before = limits._parsed.cache_info().hits, limits._validated.cache_info().hits
    for _ in range(3):
        await graphql(client, query, tenant.headers())
    assert limits._parsed.cache_info().hits == parsed_before + 3
    assert limits._validated.cache_info().hits == validated_before + 3
