"""Reused SMTP sessions: a connection (with its TLS handshake and AUTH) carries many messages.

One pool per provider instance, that is per worker event loop. Sessions are kept per server and
credentials (the connection options), at most `SESSIONS_PER_SERVER` at once; a session goes back
to the pool after a successful transaction and is closed after any failure (its state is then
unknown), after `MESSAGES_PER_SESSION` messages, or when idle for `IDLE_SECONDS` (servers drop
idle clients; a dropped one found on reuse is replaced once, transparently).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from workers.providers.mime import RawEmail

SESSIONS_PER_SERVER = 32
MESSAGES_PER_SESSION = 100
IDLE_SECONDS = 30.0

Key = tuple[tuple[str, Any], ...]


@dataclass
class _Session:
    client: aiosmtplib.SMTP
    sent: int = 0
    last_used: float = field(default_factory=time.monotonic)


class SmtpPool:
    def __init__(self) -> None:
        self._idle: dict[Key, list[_Session]] = {}
        self._slots: dict[Key, asyncio.Semaphore] = {}

    async def send(self, email: EmailMessage | RawEmail, options: dict[str, Any]) -> None:
        """Sends over a pooled session of this server; raises what aiosmtplib raises."""
        key = tuple(sorted(options.items()))
        async with self._slots.setdefault(key, asyncio.Semaphore(SESSIONS_PER_SERVER)):
            session = self._take(key)
            if session is not None:
                try:
                    await self._send_on(session, email, key)
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    pass  # the server dropped the idle session before this message: a fresh one
                else:
                    return
            await self._send_on(await _open(options), email, key)

    async def aclose(self) -> None:
        for sessions in self._idle.values():
            for session in sessions:
                await _close(session, polite=True)
        self._idle.clear()

    async def _send_on(self, session: _Session, email: EmailMessage | RawEmail, key: Key) -> None:
        try:
            if isinstance(email, RawEmail):
                await session.client.sendmail(email.sender, [email.recipient], email.data)
            else:
                await session.client.send_message(email)
        except BaseException:
            await _close(session, polite=False)
            raise
        session.sent += 1
        session.last_used = time.monotonic()
        if session.sent >= MESSAGES_PER_SESSION:
            await _close(session, polite=True)
        else:
            self._idle.setdefault(key, []).append(session)

    def _take(self, key: Key) -> _Session | None:
        idle = self._idle.get(key, [])
        while idle:
            session = idle.pop()
            if session.client.is_connected and time.monotonic() - session.last_used < IDLE_SECONDS:
                return session
            session.client.close()
        return None


async def _open(options: dict[str, Any]) -> _Session:
    """Connects, with STARTTLS and AUTH as the options say (aiosmtplib's `connect` does both)."""
    client = aiosmtplib.SMTP(**options)
    await client.connect()
    return _Session(client)


async def _close(session: _Session, *, polite: bool) -> None:
    if polite and session.client.is_connected:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await session.client.quit()
    session.client.close()
