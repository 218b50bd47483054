"""Every contract case runs twice: over REST and over its GraphQL twin."""

from __future__ import annotations

import httpx
import pytest

from tests.support.twins import GraphQLContacts, RestContacts


@pytest.fixture(params=["rest", "graphql"])
def contacts_api(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> RestContacts | GraphQLContacts:
    return RestContacts(client) if request.param == "rest" else GraphQLContacts(client)
