"""Reads credentials the way every entry point receives them: as named headers.

REST and GraphQL pass the request's headers; a WebSocket passes its `connection_init` payload,
whose keys are the same header names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.auth import Principal
from gateway.db import Database
from gateway.settings import Settings
from resolvers.accounts import authenticate
from resolvers.errors import Unauthenticated

KEY_QUERY_PARAMETERS = frozenset({"api_key", "apikey", "key", "x-api-key", "access_token", "token"})


async def authenticate_headers(
    db: Database, settings: Settings, headers: Mapping[str, str], query_names: Iterable[str] = ()
) -> Principal | None:
    """The caller named by `X-API-Key`, or by `Authorization: Bearer` with `X-Tenant-Id`."""
    if KEY_QUERY_PARAMETERS & {name.lower() for name in query_names}:
        raise Unauthenticated("credentials in the URL are refused; send the X-API-Key header")
    return await authenticate(
        db,
        settings,
        api_key=headers.get("x-api-key"),
        bearer=bearer_token(headers.get("authorization")),
        tenant_ref=headers.get("x-tenant-id"),
    )


def bearer_token(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()
