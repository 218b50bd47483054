"""SQLAlchemy's aiosqlite dialect with one hand-off to the driver's thread per statement.

The stock adapter makes four trips between the event loop and aiosqlite's thread for a query
(create the cursor, execute, fetch the rows, close the cursor) and one more for the rollback the
pool issues when a connection is returned, even outside a transaction. Each trip wakes the loop
and, on a busy loop, waits for its turn; on SQLite the writer lock is held across all of them.
Here a statement is one trip: a plain sqlite3 cursor executes, fetches and closes in the thread,
and the loop gets the rows, the description, the row count and the last row id together. A
rollback with no transaction open makes no trip. Registered as `sqlite+weconn_aiosqlite`;
`gateway.db` uses it for `sqlite+aiosqlite` URLs.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

DRIVER = "weconn_aiosqlite"


class _Outcome(NamedTuple):
    description: Any
    rows: list[Any]
    rowcount: int
    lastrowid: int | None


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In aiosqlite's thread: the whole life of a cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return _Outcome(description, rows, cursor.rowcount, cursor.lastrowid)
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement runs in one trip; nothing to close afterwards."""

    __slots__ = ("_arraysize", "_outcome")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No driver cursor is made here (the base class makes one, a trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment] # the driver's cursors live in `_run` only
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._outcome = _Outcome(None, [], -1, None)
        self._arraysize = 1

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def description(self) -> Any:
        return self._outcome.description

    @property
    def rowcount(self) -> int:
        return self._outcome.rowcount

    @property
    def lastrowid(self) -> Any:
        return self._outcome.lastrowid

    async def _async_soft_close(self) -> None:
        return

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._one_trip(operation, parameters, many=False))
        except Exception as error:  # noqa: BLE001 - translated to a DBAPI error, as the base does
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._one_trip(operation, seq_of_parameters, many=True))
        except Exception as error:  # noqa: BLE001 - translated to a DBAPI error, as the base does
            self._adapt_connection._handle_exception(error)

    async def _one_trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        async with self._adapt_connection._execute_mutex:
            self._outcome = await connection._execute(_run, connection._conn, operation, parameters, many)
        self._rows = collections.deque(self._outcome.rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment] # a subclass (the stub names the base)

    def rollback(self) -> None:
        connection = self._connection._connection  # the sqlite3 connection, None once closed
        if connection is not None and not connection.in_transaction:
            return  # nothing to roll back: no trip
        super().rollback()


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


class OneTripDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> _Dbapi:
        return _Dbapi(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, "OneTripDialect")
