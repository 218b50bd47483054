"""What the HTTP API providers share: one connection pool per provider, and network failures as
transient refusals."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from workers.providers.base import ProviderError


class ApiClient:
    """An httpx client made on first use (inside the worker's event loop) and reused after."""

    def __init__(self, provider: str, *, timeout: float) -> None:
        self.provider = provider
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def request(
        self, method: str, url: str, *, seconds: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Sends one request; the network failing (refused, reset, timed out) is a transient refusal."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        try:
            return await self._client.request(method, url, timeout=seconds or self.timeout, **kwargs)
        except httpx.TimeoutException as error:
            raise ProviderError(f"{self.provider}_timeout", _text(error), transient=True) from error
        except httpx.UnsupportedProtocol as error:
            raise ProviderError(f"{self.provider}_config", _text(error), transient=False) from error
        except httpx.TransportError as error:
            raise ProviderError(f"{self.provider}_unavailable", _text(error), transient=True) from error
        except httpx.InvalidURL as error:
            raise ProviderError(f"{self.provider}_config", _text(error), transient=False) from error

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def json_object(response: httpx.Response) -> dict[str, Any]:
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


def _text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
