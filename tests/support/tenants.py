"""Creates tenants, keys and users through the real resolvers, as an operator would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from gateway.db import Database
from resolvers import accounts
from resolvers.tenants import create_tenant


@dataclass
class TenantKeys:
    id: int
    slug: str
    full: str  # scopes *
    read: str
    write: str
    send: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"X-API-Key": key or self.full}


async def new_tenant(db: Database) -> TenantKeys:
    slug = f"t-{secrets.token_hex(5)}"
    async with db.sessions() as session:
        tenant = await create_tenant(session, slug=slug, name=slug.upper())
        await session.commit()
        assert tenant.id is not None
        tenant_id = tenant.id
    keys = {}
    for scopes in ("*", "read", "write", "send"):
        created = await accounts.create_api_key(db, tenant_ref=slug, scopes=scopes, name=f"test {scopes}")
        keys[scopes] = created.key
    return TenantKeys(
        id=tenant_id, slug=slug, full=keys["*"], read=keys["read"], write=keys["write"], send=keys["send"]
    )
