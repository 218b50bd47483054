"""First start: a demo tenant whose integration 1 serves every channel through the sandbox."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from gateway.db import Database
from gateway.tables import Integration, Template, Tenant
from resolvers.accounts import CreatedApiKey, create_api_key
from resolvers.errors import Conflict
from resolvers.tenants import create_tenant

CHANNELS = ("sms", "email", "whatsapp", "voice")
SANDBOX_CHANNELS = {
    "sms": {"provider": "sandbox", "sender": "WeConn"},
    "email": {"provider": "sandbox", "sender": "no-reply@weconn.local", "sender_name": "WeConn Demo"},
    "whatsapp": {"provider": "sandbox", "sender": "+15550001111"},
    "voice": {"provider": "sandbox", "sender": "+15550002222"},
}
DEMO_TEMPLATES = (
    Template(
        tenant_id=0,
        key="appointment_reminder",
        channel="sms",
        name="Appointment reminder",
        body="Hi {{ name }}, this is a reminder of your appointment on {{ date }}.",
        variables=["name", "date"],
    ),
    Template(
        tenant_id=0,
        key="delivery_update",
        channel="whatsapp",
        name="Delivery update",
        body="Hi {{ name }}, your order {{ order }} is on its way.",
        variables=["name", "order"],
    ),
)


async def bootstrap_demo(db: Database) -> CreatedApiKey | None:
    """On an empty database, create the demo tenant and return its new full-access key; else None."""
    async with db.sessions() as session:
        if (await session.exec(select(func.count()).select_from(Tenant))).one():
            return None
        try:
            tenant = await create_tenant(session, slug="demo", name="Demo")
        except Conflict:
            return None  # another process seeded it first
        assert tenant.id is not None
        session.add(
            Integration(tenant_id=tenant.id, name="Sandbox", channels=SANDBOX_CHANNELS, is_default=True)
        )
        for template in DEMO_TEMPLATES:
            session.add(
                Template.model_validate(template.model_dump(exclude={"id"}) | {"tenant_id": tenant.id})
            )
        await session.commit()
    return await create_api_key(db, tenant_ref="demo", scopes="*", name="bootstrap")
