"""One-click unsubscribe links (RFC 8058): a token naming the tenant, channel and address, signed
with a key derived from the service's secret key, so a link is checked without a database lookup.

Campaign emails carry `List-Unsubscribe: <{link}>` and `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`. The link is `{public_base_url}{base_path}/unsubscribe/{token}`; with
no public base URL it is `http://localhost:{port}...` outside production, and in production
the headers are left out (a link nobody can reach would be worse than none).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import orjson

from gateway.settings import Settings

UNSUBSCRIBE_PATH = "/unsubscribe/{token}"
KEY_PURPOSE = b"weconn one-click unsubscribe v1"
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    tenant_id: int
    channel: str
    address: str


def _key(settings: Settings) -> bytes:
    """A key of its own, so these signatures can never pass for the secret key's other uses."""
    return hmac.new(settings.signing_key().encode(), KEY_PURPOSE, hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(settings: Settings, target: Unsubscribe) -> str:
    payload = _encode(orjson.dumps({"t": target.tenant_id, "c": target.channel, "a": target.address}))
    signature = hmac.new(_key(settings), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_encode(signature)}"


def read_token(settings: Settings, token: str) -> Unsubscribe | None:
    """What a token names, or None when it was not made here (or was altered)."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        return None
    payload, signature = token.split(".")
    expected = _encode(hmac.new(_key(settings), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return None
    try:
        data = orjson.loads(_decode(payload))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict):
        return None
    tenant_id, channel, address = data.get("t"), data.get("c"), data.get("a")
    if not (isinstance(tenant_id, int) and isinstance(channel, str) and isinstance(address, str)):
        return None
    return Unsubscribe(tenant_id, channel, address)


def unsubscribe_link(settings: Settings, target: Unsubscribe) -> str | None:
    if settings.public_base_url:
        base = settings.public_base_url.rstrip("/")
    elif settings.is_production:
        return None
    else:
        base = f"http://localhost:{settings.port}"
    path = UNSUBSCRIBE_PATH.format(token=make_token(settings, target))
    return base + settings.base_path + path


def list_unsubscribe_headers(settings: Settings, *, tenant_id: int, address: str) -> dict[str, str]:
    """The RFC 2369 / RFC 8058 headers of a campaign email to `address` (none without a link)."""
    link = unsubscribe_link(settings, Unsubscribe(tenant_id, "email", address))
    if link is None:
        return {}
    return {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
