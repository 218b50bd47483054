"""Message templates: list by channel; create, update and delete with declared variables."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tables import Template
from gateway.tables.columns import table_of
from resolvers import plan_cache
from resolvers.context import Context
from resolvers.errors import Conflict, NotFound, ValidationFailed, field_error
from resolvers.rendering import declared_variables

TEMPLATES = table_of(Template)
COLUMNS = (
    TEMPLATES.c.id,
    TEMPLATES.c.key,
    TEMPLATES.c.channel,
    TEMPLATES.c.name,
    TEMPLATES.c.subject,
    TEMPLATES.c.body,
    TEMPLATES.c.variables,
    TEMPLATES.c.created_at,
    TEMPLATES.c.updated_at,
)
TEMPLATE_CHANNELS = ("sms", "email", "whatsapp", "voice")
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    id: int
    key: str
    channel: str
    name: str
    subject: str | None
    body: str
    variables: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> TemplateRecord:
        return cls(*row)


class TemplateFields(BaseModel):
    """A template; `variables` lists what `body` and `subject` may use (derived when omitted)."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    channel: Literal["sms", "email", "whatsapp", "voice"] | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024)] | None = None
    variables: list[VariableName] | None = Field(default=None, max_length=100)


async def list_templates(ctx: Context, *, channel: str | None) -> list[TemplateRecord]:
    tenant_id = ctx.require("read").tenant_id
    if channel is not None and channel not in TEMPLATE_CHANNELS:
        raise field_error("channel", f"one of {', '.join(TEMPLATE_CHANNELS)}")
    query = select(*COLUMNS).where(TEMPLATES.c.tenant_id == tenant_id).order_by(TEMPLATES.c.key)
    if channel is not None:
        query = query.where(TEMPLATES.c.channel == channel)
    async with ctx.db.reading() as connection:
        return [TemplateRecord.from_row(row) for row in await connection.execute(query)]


async def find_template(connection: AsyncConnection, tenant_id: int, key: str) -> TemplateRecord | None:
    query = select(*COLUMNS).where(TEMPLATES.c.tenant_id == tenant_id, TEMPLATES.c.key == key)
    row = (await connection.execute(query)).first()
    return None if row is None else TemplateRecord.from_row(row)


async def create_template(ctx: Context, *, fields: TemplateFields) -> TemplateRecord:
    tenant_id = ctx.require("write").tenant_id
    missing = [name for name in ("key", "channel", "body") if getattr(fields, name) is None]
    if missing:
        raise ValidationFailed("missing fields", fields={name: ["required"] for name in missing})
    assert fields.key is not None  # narrowed by the check above
    if not KEY_PATTERN.match(fields.key):
        raise field_error(
            "key", "lowercase letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    now = datetime.now(UTC)
    values = {
        "tenant_id": tenant_id,
        "key": fields.key,
        "channel": fields.channel,
        "name": fields.name or fields.key,
        "subject": fields.subject,
        "body": fields.body,
        "variables": _checked_variables(fields.body or "", fields.subject, fields.variables),
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with ctx.db.writing() as connection:
            row = (await connection.execute(insert(TEMPLATES).values(values).returning(*COLUMNS))).one()
    except IntegrityError:
        raise Conflict(
            f"a template with key '{fields.key}' exists", fields={"key": ["already used"]}
        ) from None
    plan_cache.forget(tenant_id)
    return TemplateRecord.from_row(row)


async def update_template(ctx: Context, *, key: str, fields: TemplateFields) -> TemplateRecord:
    tenant_id = ctx.require("write").tenant_id
    sent = fields.model_fields_set - {"key"}
    async with ctx.db.writing() as connection:
        current = await find_template(connection, tenant_id, key)
        if current is None:
            raise NotFound(f"template '{key}' not found")
        changes: dict[str, Any] = {name: getattr(fields, name) for name in sent if name != "variables"}
        body = changes.get("body", current.body)
        subject = changes.get("subject", current.subject)
        declared = fields.variables if "variables" in sent else None
        changes["variables"] = _checked_variables(body, subject, declared)
        changes["updated_at"] = datetime.now(UTC)
        statement = update(TEMPLATES).where(TEMPLATES.c.id == current.id).values(changes).returning(*COLUMNS)
        row = (await connection.execute(statement)).one()
    plan_cache.forget(tenant_id)
    return TemplateRecord.from_row(row)


async def delete_template(ctx: Context, *, key: str) -> str:
    tenant_id = ctx.require("write").tenant_id
    statement = delete(TEMPLATES).where(TEMPLATES.c.tenant_id == tenant_id, TEMPLATES.c.key == key)
    async with ctx.db.writing() as connection:
        if (await connection.execute(statement.returning(TEMPLATES.c.id))).first() is None:
            raise NotFound(f"template '{key}' not found")
    plan_cache.forget(tenant_id)
    return key


def _checked_variables(body: str, subject: str | None, declared: list[str] | None) -> list[str]:
    """The variables the texts use must be declared; with no declaration, the used ones are."""
    used = set(declared_variables(body, field="body"))
    if subject:
        used |= declared_variables(subject, field="subject")
    if declared is None:
        return sorted(used)
    undeclared = sorted(used - set(declared))
    if undeclared:
        raise field_error("variables", f"the template uses undeclared variables: {', '.join(undeclared)}")
    return list(dict.fromkeys(declared))
