"""What runs before the service accepts requests: migrations, then the first-start demo data."""

from __future__ import annotations

from gateway.db import Database
from gateway.migrate import upgrade_to_head
from gateway.settings import Settings
from resolvers.accounts import CreatedApiKey
from resolvers.bootstrap import bootstrap_demo


async def prepare_database(settings: Settings) -> CreatedApiKey | None:
    """Migrate to head; outside production, seed an empty database. Returns a new demo key, if any."""
    db = Database(settings)
    try:
        await upgrade_to_head(db.engine)
        if settings.is_production or not settings.bootstrap_demo:
            return None
        return await bootstrap_demo(db)
    finally:
        await db.dispose()


def announce_demo_key(created: CreatedApiKey) -> str:
    return (
        f"WeConn first start: created tenant 'demo' (id {created.tenant_id}) with integration 1"
        " serving sms, email, whatsapp and voice through the sandbox provider.\n"
        f"Full-access API key, shown this once:\n{created.key}"
    )
