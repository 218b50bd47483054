"""Authentication flows: API keys, dashboard login with refresh-token rotation, users and keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from gateway import auth
from gateway.db import Database
from gateway.settings import Settings
from gateway.tables import ApiKey, Membership, RefreshToken, Tenant, User
from gateway.tables.columns import table_of
from gateway.ttl_cache import TtlCache
from resolvers.errors import BadRequest, Conflict, Forbidden, Unauthenticated, field_error
from resolvers.tenants import find_tenant

ROLES = ("owner", "admin", "member")
API_KEYS = table_of(ApiKey)


@dataclass(frozen=True, slots=True)
class TenantMembership:
    id: int
    slug: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: datetime
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    # The tenants the user may name in `X-Tenant-Id`, so a client needs no tenant to sign in.
    tenants: tuple[TenantMembership, ...] = ()


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    id: int
    key: str
    prefix: str
    scopes: str
    tenant_id: int


async def authenticate(
    db: Database, settings: Settings, *, api_key: str | None, bearer: str | None, tenant_ref: str | None
) -> auth.Principal | None:
    """The caller behind the presented credentials; None when none were presented."""
    if api_key is not None:
        return await _authenticate_api_key(db, settings, api_key)
    if bearer is not None:
        return await _authenticate_bearer(db, settings, bearer, tenant_ref)
    return None


@dataclass(slots=True)
class _VerifiedKey:
    principal: auth.Principal
    last_used_at: datetime | None


# Keys verified recently in this process, by SHA-256: a burst of requests costs one lookup.
_verified_keys: TtlCache[str, _VerifiedKey] = TtlCache()


async def _authenticate_api_key(db: Database, settings: Settings, key: str) -> auth.Principal:
    key_hash = auth.hash_secret(key.strip())
    verified = _verified_keys.get(key_hash)
    if verified is None:
        verified = await _look_up_key(db, key_hash)
        _verified_keys.put(key_hash, verified, ttl=settings.api_key_cache_seconds)
    now = datetime.now(UTC)
    touch_interval = timedelta(seconds=settings.api_key_touch_interval_seconds)
    if verified.last_used_at is None or verified.last_used_at < now - touch_interval:
        verified.last_used_at = now
        async with db.writing() as connection:
            statement = update(API_KEYS).where(API_KEYS.c.id == verified.principal.api_key_id)
            await connection.execute(statement.values(last_used_at=now))
    return verified.principal


async def _look_up_key(db: Database, key_hash: str) -> _VerifiedKey:
    query = core_select(
        API_KEYS.c.id, API_KEYS.c.tenant_id, API_KEYS.c.scopes, API_KEYS.c.last_used_at
    ).where(API_KEYS.c.key_hash == key_hash, API_KEYS.c.revoked_at.is_(None))
    async with db.reading() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        raise Unauthenticated("invalid or revoked API key")
    principal = auth.Principal(
        tenant_id=row.tenant_id, scopes=auth.parse_scopes(row.scopes), kind="api_key", api_key_id=row.id
    )
    return _VerifiedKey(principal=principal, last_used_at=row.last_used_at)


async def _authenticate_bearer(
    db: Database, settings: Settings, token: str, tenant_ref: str | None
) -> auth.Principal:
    user_id = auth.read_access_token(token, signing_key=settings.signing_key())
    if user_id is None:
        raise Unauthenticated("invalid or expired access token")
    if not tenant_ref:
        message = "the X-Tenant-Id header is required with a bearer token"
        raise BadRequest(message, fields={"X-Tenant-Id": [message]})
    tenant_match = (
        col(Tenant.id) == int(tenant_ref) if tenant_ref.isdigit() else col(Tenant.slug) == tenant_ref
    )
    query = (
        select(Membership.tenant_id, Membership.role, User.is_active)
        .join(User, col(User.id) == col(Membership.user_id))
        .join(Tenant, col(Tenant.id) == col(Membership.tenant_id))
        .where(Membership.user_id == user_id, tenant_match)
    )
    async with db.sessions() as session:
        row = (await session.exec(query)).first()
    if row is None:
        raise Forbidden("you are not a member of this tenant")
    tenant_id, role, is_active = row
    if not is_active:
        raise Unauthenticated("this user is disabled")
    return auth.Principal(
        tenant_id=tenant_id, scopes=auth.ROLE_SCOPES[role], kind="user", user_id=user_id, role=role
    )


async def login(db: Database, settings: Settings, *, email: str, password: str) -> TokenPair:
    async with db.sessions() as session:
        user = (await session.exec(select(User).where(User.email == email.strip().lower()))).first()
    # Verify against a dummy hash when the user is unknown, so timing does not reveal who exists.
    password_hash = user.password_hash if user else _dummy_hash()
    if not auth.verify_password(password_hash, password) or user is None or not user.is_active:
        raise Unauthenticated("wrong email or password")
    assert user.id is not None
    return await _issue_tokens(db, settings, user_id=user.id, family=secrets.token_hex(8))


async def refresh(db: Database, settings: Settings, *, refresh_token: str) -> TokenPair:
    """Rotate a refresh token; reusing a spent one revokes every token of its family."""
    now = datetime.now(UTC)
    token_hash = auth.hash_secret(refresh_token)
    async with db.sessions() as session:
        stored = (
            await session.exec(select(RefreshToken).where(RefreshToken.token_hash == token_hash))
        ).first()
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise Unauthenticated("invalid or expired refresh token")
        if stored.used_at is not None:
            await session.exec(
                update(RefreshToken).where(col(RefreshToken.family) == stored.family).values(revoked_at=now)
            )
            await session.commit()
            raise Unauthenticated("refresh token already used; sign in again")
        spent = await session.exec(
            update(RefreshToken)
            .where(col(RefreshToken.id) == stored.id, col(RefreshToken.used_at).is_(None))
            .values(used_at=now)
        )
        await session.commit()
        if spent.rowcount != 1:
            raise Unauthenticated("refresh token already used; sign in again")
    return await _issue_tokens(db, settings, user_id=stored.user_id, family=stored.family)


async def _issue_tokens(db: Database, settings: Settings, *, user_id: int, family: str) -> TokenPair:
    access, expires_at = auth.issue_access_token(
        user_id=user_id, signing_key=settings.signing_key(), ttl_seconds=settings.access_token_ttl_seconds
    )
    refresh_token, refresh_hash = auth.new_refresh_token()
    refresh_expiry = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds)
    memberships = (
        select(Tenant.id, Tenant.slug, Tenant.name, Membership.role)
        .join(Membership, col(Membership.tenant_id) == col(Tenant.id))
        .where(Membership.user_id == user_id)
        .order_by(col(Tenant.id))
    )
    async with db.sessions() as session:
        session.add(
            RefreshToken(user_id=user_id, family=family, token_hash=refresh_hash, expires_at=refresh_expiry)
        )
        await session.commit()
        tenants = tuple(TenantMembership(*row) for row in (await session.exec(memberships)).all())
    return TokenPair(access_token=access, refresh_token=refresh_token, expires_at=expires_at, tenants=tenants)


async def create_user(db: Database, *, email: str, password: str, tenant_ref: str, role: str) -> User:
    if role not in ROLES:
        raise field_error("role", f"must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise field_error("password", "must be at least 8 characters")
    async with db.sessions() as session:
        tenant = await find_tenant(session, tenant_ref)
        user = (await session.exec(select(User).where(User.email == email.strip().lower()))).first()
        if user is None:
            user = User(email=email.strip().lower(), password_hash=auth.hash_password(password))
            session.add(user)
            await session.flush()
        assert user.id is not None
        assert tenant.id is not None
        session.add(Membership(user_id=user.id, tenant_id=tenant.id, role=role))
        try:
            await session.commit()
        except IntegrityError as error:
            raise Conflict("this user is already a member of the tenant") from error
        return user


async def create_api_key(db: Database, *, tenant_ref: str, scopes: str, name: str) -> CreatedApiKey:
    try:
        parsed = auth.parse_scopes(scopes)
    except ValueError as error:
        raise field_error("scopes", str(error)) from error
    key, key_hash, prefix = auth.new_api_key()
    async with db.sessions() as session:
        tenant = await find_tenant(session, tenant_ref)
        assert tenant.id is not None
        row = ApiKey(
            tenant_id=tenant.id,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            scopes=auth.format_scopes(parsed),
        )
        session.add(row)
        await session.commit()
        assert row.id is not None
        return CreatedApiKey(id=row.id, key=key, prefix=prefix, scopes=row.scopes, tenant_id=tenant.id)


async def revoke_api_key(db: Database, *, key_id: int) -> None:
    async with db.sessions() as session:
        result = await session.exec(
            update(ApiKey)
            .where(col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        await session.commit()
    _verified_keys.discard_where(lambda verified: verified.principal.api_key_id == key_id)
    if result.rowcount != 1:
        raise field_error("key_id", "no active API key with this id")


@cache
def _dummy_hash() -> str:
    return auth.hash_password(secrets.token_hex(16))
