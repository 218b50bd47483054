"""One attempt of a delivery: sign the body, POST it, and note what came back (never raises)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from gateway.settings import Settings
from resolvers.ssrf import UnresolvableHost, UnsafeTarget, check_url
from resolvers.webhook_attempts import Claimed, Outcome
from resolvers.webhook_signing import signed_headers

SNIPPET_BYTES = 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def attempt(client: aiohttp.ClientSession, settings: Settings, claimed: Claimed) -> Outcome:
    """Success is a 2xx within `webhook_timeout_seconds`; a redirect is a failure, never followed."""
    return await post_signed(
        client, settings, url=claimed.url, webhook_id=claimed.webhook_id, payload=claimed.payload,
        signing_secrets=claimed.signing_secrets,
    )  # fmt: skip


async def post_signed(
    client: aiohttp.ClientSession,
    settings: Settings,
    *,
    url: str,
    webhook_id: str,
    payload: dict[str, Any],
    signing_secrets: list[str],
) -> Outcome:
    """One signed POST (Standard Webhooks) through the SSRF guard; what came back, never raising."""
    body = orjson.dumps(payload)
    headers = signed_headers(signing_secrets, webhook_id, int(time.time()), body)
    started_at, clock = datetime.now(UTC), time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - clock) * 1000)

    error: str
    try:
        check_url(url, allow_private=settings.webhook_allow_private, require_https=settings.is_production)
        async with asyncio.timeout(settings.webhook_timeout_seconds):
            async with client.post(url, data=body, headers=headers, allow_redirects=False) as response:
                snippet = await _head(response)
        status = response.status
        error_text = None
        if status in REDIRECTS and "location" in response.headers:
            location = response.headers.get("location", "")[:300]
            error_text = f"redirect ({status}) to '{location}' not followed"
        return Outcome(started_at, elapsed(), status, error_text, snippet)
    except UnsafeTarget as refused:
        error = f"refused by the SSRF guard: {refused}"
    except UnresolvableHost as unresolvable:
        error = str(unresolvable)
    except TimeoutError:
        error = f"no answer within {settings.webhook_timeout_seconds:g} s"
    except (aiohttp.ClientError, OSError) as failure:
        cause = failure.__cause__
        if isinstance(cause, UnsafeTarget):
            error = f"refused by the SSRF guard: {cause}"
        elif isinstance(cause, UnresolvableHost):
            error = str(cause)
        else:
            error = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    return Outcome(started_at, elapsed(), None, error)


async def _head(response: aiohttp.ClientResponse) -> str:
    """The first 1 KB of the body (the rest is not read)."""
    head = bytearray()
    while len(head) < SNIPPET_BYTES:
        chunk = await response.content.read(SNIPPET_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head[:SNIPPET_BYTES].decode("utf-8", errors="replace")
