"""What a campaign sends: its route, its source texts, and each contact's rendered message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.settings import Settings
from resolvers.campaign_fields import CampaignFields
from resolvers.composing import MAX_SMS_CHARS, derived_subject
from resolvers.contact_records import CONTACTS
from resolvers.errors import ValidationFailed, field_error
from resolvers.integrations import Route, resolve_route
from resolvers.rendering import declared_variables, render
from resolvers.templates import find_template

# A campaign template reads the contact: {{ name }}, {{ metadata.city }}, ...
CONTACT_VARIABLES = frozenset({"name", "email", "phone", "metadata", "contact_id"})


@dataclass(frozen=True, slots=True)
class Content:
    """A campaign's route and texts, resolved once per fan-out run."""

    channel: str
    route: Route
    body: str
    subject: str | None
    template_key: str | None
    # The subject once rendered, when it reads no variable: the same for every contact.
    fixed_subject: str | None = None


async def check_content(
    connection: AsyncConnection, settings: Settings, *, tenant_id: int, fields: CampaignFields
) -> None:
    """Everything about a new campaign that can be wrong before any contact is read: a 422 or 404."""
    await resolve_content(
        connection,
        settings,
        tenant_id=tenant_id,
        channel=fields.channel,
        integration_id=fields.integration_id,
        sms_routing=fields.sms_routing,
        message_template=fields.message_template,
        template_key=fields.template_key,
        subject=fields.subject,
    )
    if fields.contact_ids:
        wanted = set(fields.contact_ids)
        query = select(CONTACTS.c.id).where(CONTACTS.c.tenant_id == tenant_id, CONTACTS.c.id.in_(wanted))
        missing = sorted(wanted - set((await connection.execute(query)).scalars()))
        if missing:
            shown = ", ".join(str(contact_id) for contact_id in missing[:20])
            raise field_error(
                "contact_ids", f"no such contacts: {shown}{' ...' if len(missing) > 20 else ''}"
            )


async def resolve_content(
    connection: AsyncConnection,
    settings: Settings,
    *,
    tenant_id: int,
    channel: str,
    integration_id: int | None,
    sms_routing: str | None,
    message_template: str | None,
    template_key: str | None,
    subject: str | None,
) -> Content:
    route = await resolve_route(
        connection, settings, tenant_id=tenant_id, channel=channel, integration_id=integration_id,
        sms_routing=sms_routing,
    )  # fmt: skip
    body, field = message_template, "message_template"
    if template_key is not None:
        template = await find_template(connection, tenant_id, template_key)
        if template is None:
            raise field_error("template_key", f"no template '{template_key}'")
        if template.channel != channel:
            raise field_error("template_key", f"'{template.key}' is a {template.channel} template")
        body, field, subject = template.body, "template_key", subject or template.subject
    assert body is not None  # CampaignFields requires a template or a key
    for name, source in ((field, body), ("subject", subject)):
        unknown = sorted(declared_variables(source, field=name) - CONTACT_VARIABLES) if source else []
        if unknown:
            allowed = ", ".join(sorted(CONTACT_VARIABLES))
            raise ValidationFailed(
                f"{name}: a campaign template may only use the contact's fields ({allowed}); "
                f"unknown: {', '.join(unknown)}",
                fields={name: [f"unknown variables: {', '.join(unknown)}"]},
            )
    fixed = render(subject, {}, field="subject") if subject and not declared_variables(subject) else None
    return Content(
        channel=channel,
        route=route,
        body=body,
        subject=subject,
        template_key=template_key,
        fixed_subject=fixed,
    )


def contact_variables(contact: Any) -> dict[str, Any]:
    return {
        "contact_id": contact.id,
        "name": contact.name or "",
        "email": contact.email or "",
        "phone": contact.phone or "",
        "metadata": contact.metadata or {},
    }


def render_for(content: Content, variables: dict[str, Any]) -> tuple[str | None, str]:
    """(subject, body) for one contact; a ValidationFailed when the contact's data does not fit."""
    body = render(content.body, variables, html=content.channel == "email")
    subject = content.fixed_subject
    if subject is None and content.subject:
        subject = render(content.subject, variables, field="subject")
    if content.channel == "email" and not subject:
        subject = derived_subject(body)
    if content.channel == "sms" and len(body) > MAX_SMS_CHARS:
        raise field_error("body", f"an SMS is at most {MAX_SMS_CHARS} characters once rendered")
    return subject, body
