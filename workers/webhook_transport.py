"""The HTTP client of webhook deliveries: it connects only to addresses the SSRF guard checked.

The URL keeps its host name (so TLS verifies the certificate of that name and `Host` is right),
but the connector resolves the name through the guard, which refuses any non-public address, and
connects to the checked addresses only: a DNS answer that changes between the check and the
connection (rebinding) cannot redirect a delivery. The connector keeps a checked answer for
`DNS_TTL` seconds (a host's addresses are not looked up and checked again for every delivery),
and keeps connections alive between deliveries to the same host. A host that is an IP address
is not resolved: the sender's `check_url` refuses non-public ones before every attempt.
Redirects are never followed, and no proxy from the environment is used (it would connect on our
behalf, unchecked).

The client is aiohttp's: with many requests in flight on one event loop it completes several
times as many as httpx (see workers/providers/http.py).
"""

from __future__ import annotations

import asyncio
import socket
import weakref

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.settings import Settings
from resolvers.ssrf import resolve_public

POOL_SIZE = 256  # connections per event loop (a worker's attempts in flight), as many kept alive
DNS_TTL = 10  # seconds a checked answer is reused
KEEPALIVE_SECONDS = 5.0
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, aiohttp.ClientSession]] = (
    weakref.WeakKeyDictionary()
)


class GuardedResolver(AbstractResolver):
    """Every address of the host, each checked by the SSRF guard (UnsafeTarget, UnresolvableHost)."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve_public(host, port, allow_private=self.allow_private)
        return [
            ResolveResult(
                hostname=host, host=address, port=port, proto=0, flags=socket.AI_NUMERICHOST,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
            )
            for address in addresses
        ]  # fmt: skip

    async def close(self) -> None:
        return None


def _session(allow_private: bool) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow_private=allow_private),
        family=socket.AF_UNSPEC,
        limit=POOL_SIZE,
        ttl_dns_cache=DNS_TTL,
        keepalive_timeout=KEEPALIVE_SECONDS,
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False)


def client_for(settings: Settings) -> aiohttp.ClientSession:
    """One session per event loop (connections are reused between deliveries to the same host)."""
    per_loop = _sessions.setdefault(asyncio.get_running_loop(), {})
    session = per_loop.get(settings.webhook_allow_private)
    if session is None or session.closed:
        session = per_loop[settings.webhook_allow_private] = _session(settings.webhook_allow_private)
    return session


async def close_clients() -> None:
    """Closes this event loop's sessions (at worker shutdown): their pooled connections with them."""
    for session in _sessions.pop(asyncio.get_running_loop(), {}).values():
        await session.close()
