"""The contract copy is the portal's text, and every implemented route carries the contract's scope."""

from __future__ import annotations

import pytest

from rest_compat.routes import ENDPOINTS
from tests.support import contract


def test_the_copy_is_the_portal_text() -> None:
    if not contract.SEED.exists():
        pytest.skip(f"the contract seed is not beside this checkout ({contract.SEED})")
    assert contract.text() == contract.SEED.read_text()


def test_routes_use_the_contracts_scopes() -> None:
    documented = {(row.method, row.path): row.scope for row in contract.endpoints()}
    assert len(documented) == 20
    served = {(endpoint.method, endpoint.path): endpoint.scope for endpoint in ENDPOINTS}
    implemented = documented.keys() & served.keys()
    assert {path for _, path in implemented} >= {"/integrations/contacts", "/integrations/contacts/{id}"}
    for key in implemented:
        assert served[key] == documented[key], key
    # A route beyond the contract must say so (OpenAPI `x-extension`); none may pass for documented.
    extensions = {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS if endpoint.extension}
    undocumented = {key for key in served if key[1].startswith("/integrations") and key not in documented}
    assert undocumented == extensions
    assert ("POST", "/integrations/campaigns/{id}/cancel") in extensions


async def test_openapi_describes_every_route(client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["summary"]
        if endpoint.scope:
            assert operation["x-scope"] == endpoint.scope
            assert "401" in operation["responses"]
    create = document["paths"]["/integrations/contacts"]["post"]
    schema_name = create["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"name", "email", "phone", "tags", "metadata", "first_name", "last_name"} <= set(
        document["components"]["schemas"][schema_name]["properties"]
    )
