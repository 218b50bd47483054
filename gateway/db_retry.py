"""Running a transaction again when the database refused it for a reason that passes: a deadlock,
a serialization failure, a connection lost before the commit. Each attempt is a whole new
transaction, so the operation must be safe to repeat (conditional updates are)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
ATTEMPTS = 4
FIRST_PAUSE_SECONDS = 0.05
logger = logging.getLogger("weconn.db")


def is_transient(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in TRANSIENT_SQLSTATES or "database is locked" in str(error.orig)


async def retrying(operation: Callable[[], Awaitable[T]], *, what: str) -> T:
    """`operation()`, tried again (with a doubling pause) while it fails transiently."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await operation()
        except DBAPIError as error:
            if attempt == ATTEMPTS or not is_transient(error):
                raise
            logger.warning("%s: transient database error, attempt %d: %s", what, attempt, error.orig)
            await asyncio.sleep(FIRST_PAUSE_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
