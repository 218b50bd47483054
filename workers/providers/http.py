"""What the HTTP API providers share: one connection pool per provider, and network failures as
transient refusals.

The client is aiohttp's: with 32 sends in flight on one event loop it answers about ten times as
many requests a second as httpx does on this machine (its parser is C, its pool does not take a
lock per request), and provider calls are most of what a worker does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from workers.providers.base import ProviderError

POOL_SIZE = 100  # connections per provider and event loop, as many kept alive


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status_code: int
    content: bytes


class ApiClient:
    """An aiohttp session made on first use (inside the worker's event loop) and reused after."""

    def __init__(self, provider: str, *, timeout: float) -> None:
        self.provider = provider
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        seconds: float | None = None,
        auth: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> ApiResponse:
        """Sends one request (`data` form-encodes, `json` sends JSON; redirects are not followed);
        the network failing (refused, reset, timed out) is a transient refusal."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=POOL_SIZE),
                json_serialize=lambda value: orjson.dumps(value).decode(),
            )
        timeout = aiohttp.ClientTimeout(total=seconds or self.timeout)
        basic = aiohttp.BasicAuth(*auth) if auth else None
        try:
            async with self._session.request(
                method, url, auth=basic, timeout=timeout, allow_redirects=False, **kwargs
            ) as response:
                return ApiResponse(response.status, await response.read())
        except TimeoutError as error:
            raise ProviderError(f"{self.provider}_timeout", _text(error), transient=True) from error
        except aiohttp.InvalidURL as error:  # a base URL no request can go to (ftp://, no host)
            raise ProviderError(f"{self.provider}_config", _text(error), transient=False) from error
        except (aiohttp.ClientError, OSError) as error:
            raise ProviderError(f"{self.provider}_unavailable", _text(error), transient=True) from error

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def json_object(response: ApiResponse) -> dict[str, Any]:
    """The response body as a JSON object; anything else (HTML error pages, garbage) is `{}`."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def timeout_of(config: dict[str, Any]) -> float | None:
    """The channel config's `timeout` in seconds, when it sets a usable one."""
    try:
        value = float(config.get("timeout") or 0)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
