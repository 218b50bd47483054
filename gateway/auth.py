"""Credential primitives: API keys, password hashes, signed access tokens, scopes.

No database and no HTTP here; `resolvers.accounts` runs the flows that use these.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Scope = Literal["read", "write", "send"]
ALL_SCOPES: frozenset[str] = frozenset({"read", "write", "send"})
KNOWN_SCOPES: frozenset[str] = ALL_SCOPES | {"*"}
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": ALL_SCOPES,
    "admin": ALL_SCOPES,
    "member": ALL_SCOPES,
}
API_KEY_PREFIX = "wck_"
TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name, not a secret

_password_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, for which tenant, allowed to do what."""

    tenant_id: int
    scopes: frozenset[str]
    kind: Literal["api_key", "user"]
    api_key_id: int | None = None
    user_id: int | None = None
    role: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


def parse_scopes(text: str) -> frozenset[str]:
    """`read,send` -> {"read", "send"}; `*` means every scope. Unknown names raise ValueError."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = names - KNOWN_SCOPES
    if unknown or not names:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown)) or '(none given)'}")
    return ALL_SCOPES if "*" in names else frozenset(names)


def format_scopes(scopes: frozenset[str]) -> str:
    return "*" if scopes >= ALL_SCOPES else ",".join(sorted(scopes))


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: (the key itself, shown once; its SHA-256 hex; a display prefix)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_secret(key), key[:12]


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_access_token(*, user_id: int, signing_key: str, ttl_seconds: int) -> tuple[str, datetime]:
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    claims = {"sub": str(user_id), "exp": expires_at, "iat": datetime.now(UTC), "typ": "access"}
    return jwt.encode(claims, signing_key, algorithm=TOKEN_ALGORITHM), expires_at


def read_access_token(token: str, *, signing_key: str) -> int | None:
    """The user id inside a valid, unexpired access token; None for anything else."""
    try:
        claims = jwt.decode(token, signing_key, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    try:
        return int(claims["sub"])
    except (KeyError, ValueError):
        return None


def new_refresh_token() -> tuple[str, str]:
    """(token shown to the client, its SHA-256 hex kept in the database)."""
    token = "wcr_" + secrets.token_urlsafe(32)
    return token, hash_secret(token)
