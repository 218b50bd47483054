"""The HTTP client of webhook deliveries: it connects only to addresses the SSRF guard checked.

The URL keeps its host name (so TLS verifies the certificate of that name and `Host` is right),
but the connection pool's network backend resolves the name itself, refuses any non-public
address, and connects to the checked address: a DNS answer that changes between the check and
the connection (rebinding) cannot redirect a delivery. Redirects are never followed, and no proxy
from the environment is used (it would connect on our behalf, unchecked).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable

import httpcore
import httpx

from gateway.settings import Settings
from resolvers.ssrf import resolve_public

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[bool, float], httpx.AsyncClient]
] = weakref.WeakKeyDictionary()


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_public(host, port, allow_private=self.allow_private)  # raises UnsafeTarget
        failure: Exception = httpcore.ConnectError(f"no address for '{host}'")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are never delivered to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _client(allow_private: bool, timeout: float) -> httpx.AsyncClient:
    context = httpx.create_ssl_context()  # certifi's roots, as every httpx client here
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # the same pool httpx makes, on the guarded backend
        ssl_context=context,
        max_connections=200,
        max_keepalive_connections=50,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow_private=allow_private),
    )
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False, timeout=timeout)


def client_for(settings: Settings) -> httpx.AsyncClient:
    """One client per event loop (connections are reused between deliveries to the same host)."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    key = (settings.webhook_allow_private, settings.webhook_timeout_seconds)
    client = per_loop.get(key)
    if client is None:
        client = per_loop[key] = _client(*key)
    return client
