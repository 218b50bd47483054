"""Reading what providers send us: their signatures (Twilio's X-Twilio-Signature, Meta's
X-Hub-Signature-256) and where the statuses are in Meta's webhook payload.

Pure functions over plain values; signature comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.settings import Settings

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def public_url(settings: Settings, seen_url: str) -> str:
    """The URL the provider called: with `public_base_url` set (behind a proxy), its scheme and host
    (and any path prefix) in front of the path and query this service saw; else the seen URL."""
    if not settings.public_base_url:
        return seen_url
    parts = urlsplit(seen_url)
    return settings.public_base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def twilio_signature(auth_token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """Twilio's documented scheme: base64 of HMAC-SHA1, keyed by the AuthToken, over the full URL
    followed by every POST parameter, sorted by name, as name then value with no delimiters."""
    payload = url + "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_signature_matches(
    auth_token: str, url: str, params: Mapping[str, Sequence[str]], signature: str
) -> bool:
    """True when `signature` signs the request, with or without the URL's port (Twilio signs
    https URLs without it, and some set-ups with it; Twilio's own validators accept both)."""
    given = signature.encode("utf-8", "replace")
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, params).encode(), given)
        for candidate in _port_variants(url)
    )


def hub_signature_matches(app_secret: str, body: bytes, signature: str) -> bool:
    """Meta's scheme: `sha256=` and the hex HMAC-SHA256 of the raw body, keyed by the app secret."""
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "replace"))


def secrets_match(expected: str, given: str) -> bool:
    """A constant-time comparison of two strings of any characters."""
    return hmac.compare_digest(expected.encode("utf-8", "replace"), given.encode("utf-8", "replace"))


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port is not None:
        without = parts.netloc[: -len(f":{port}")] if parts.netloc.endswith(f":{port}") else parts.netloc
        return [url, urlunsplit(parts._replace(netloc=without))]
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or not parts.netloc:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))]


def whatsapp_status_items(payload: Any) -> Iterator[dict[str, Any]]:
    """`entry[].changes[].value.statuses[]`, skipping whatever has another shape."""
    for entry in objects_at(payload, "entry"):
        for change in objects_at(entry, "changes"):
            yield from objects_at(change.get("value"), "statuses")


def whatsapp_error(item: dict[str, Any]) -> tuple[str, str] | None:
    """The first of a status's `errors[]` as (code, the most specific text Meta gives)."""
    errors = objects_at(item, "errors")
    if not errors or (code := clean(errors[0].get("code"))) is None:
        return None
    data = errors[0].get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    return code, clean(details or errors[0].get("message") or errors[0].get("title")) or ""


def objects_at(container: Any, key: str) -> list[dict[str, Any]]:
    """The JSON objects in the list at `container[key]`; nothing when either has another shape."""
    items = container.get(key) if isinstance(container, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def clean(value: Any) -> str | None:
    """Provider text as we store it: no control characters, bounded; empty is None."""
    text = CONTROL.sub(" ", str(value)).strip()[:1000] if value is not None else ""
    return text or None
