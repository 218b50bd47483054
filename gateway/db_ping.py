"""Liveness checks of pooled PostgreSQL connections, for those that sat idle a while only.

SQLAlchemy's `pool_pre_ping` checks every connection it hands out: with asyncpg that is a
transaction around an empty query, two to three round trips, on every request of a busy
process. A connection returned moments ago was working moments ago, so only one idle for longer
than IDLE_PING_SECONDS is checked; a dead one is replaced before the caller gets it (the pool
retries the checkout on DisconnectionError), as pre-ping would.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine

IDLE_PING_SECONDS = 5.0
RETURNED_AT = "weconn_returned_at"


def ping_when_idle(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    event.listen(pool, "checkin", _note_return)
    event.listen(pool, "checkout", _ping_if_idle)


def _note_return(_dbapi_connection: Any, record: Any) -> None:
    record.info[RETURNED_AT] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    returned_at = record.info.get(RETURNED_AT)
    if returned_at is None or time.monotonic() - returned_at < IDLE_PING_SECONDS:
        return  # new (just connected), or back in the pool a moment ago
    try:
        dbapi_connection.ping()
    except Exception as error:
        raise exc.DisconnectionError(f"a pooled connection was dead: {error}") from error
