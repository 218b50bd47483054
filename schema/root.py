"""The Query and Mutation roots and the schema with its limits and caches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import strawberry
from graphql import NoSchemaIntrospectionCustomRule, specified_rules
from graphql.error import GraphQLError
from strawberry.extensions import DisableIntrospection, MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import ExecutionContext

from gateway.settings import Settings
from schema import accounts as account_fields
from schema import calls as call_fields
from schema import campaign_types, webhook_types
from schema import campaigns as campaign_fields
from schema import contacts as contact_fields
from schema import messages as message_fields
from schema import opt_outs as opt_out_fields
from schema import templates as template_fields
from schema import webhooks as webhook_fields
from schema.errors import with_code
from schema.limits import RequestLimits
from schema.live_lane import LaneConfig
from schema.scalars import DateTimeScalar
from schema.subscriptions import DeliveryEvent, Subscription


@strawberry.type
class Query:
    me: account_fields.Me = strawberry.field(resolver=account_fields.resolve_me)
    tenant: account_fields.Tenant = strawberry.field(resolver=account_fields.resolve_tenant)
    contacts: contact_fields.ContactPage = strawberry.field(resolver=contact_fields.resolve_contacts)
    contact: contact_fields.Contact = strawberry.field(resolver=contact_fields.resolve_contact)
    message: message_fields.Message = strawberry.field(resolver=message_fields.resolve_message)
    call: call_fields.Call = strawberry.field(resolver=call_fields.resolve_call, description="A voice call.")
    calls: call_fields.CallPage = strawberry.field(
        resolver=call_fields.resolve_calls, description="Voice calls, newest first."
    )
    messages: message_fields.MessagePage = strawberry.field(resolver=message_fields.resolve_messages)
    templates: list[template_fields.Template] = strawberry.field(resolver=template_fields.resolve_templates)
    integrations: list[template_fields.Integration] = strawberry.field(
        resolver=template_fields.resolve_integrations
    )
    campaigns: campaign_types.CampaignPage = strawberry.field(resolver=campaign_fields.resolve_campaigns)
    campaign: campaign_types.Campaign = strawberry.field(resolver=campaign_fields.resolve_campaign)
    webhooks: webhook_types.WebhookEndpointPage = strawberry.field(resolver=webhook_fields.resolve_webhooks)
    webhook_events_catalog: webhook_types.WebhookEventsCatalog = strawberry.field(
        resolver=webhook_fields.resolve_events_catalog
    )
    webhook_deliveries: webhook_types.WebhookDeliveryPage = strawberry.field(
        resolver=webhook_fields.resolve_deliveries, description="A webhook's deliveries, newest first."
    )


@strawberry.type
class Mutation:
    create_contact: contact_fields.Contact = strawberry.mutation(resolver=contact_fields.create_contact)
    update_contact: contact_fields.Contact = strawberry.mutation(resolver=contact_fields.update_contact)
    delete_contact: contact_fields.DeletedContact = strawberry.mutation(
        resolver=contact_fields.delete_contact
    )
    opt_out_contact: list[opt_out_fields.OptOut] = strawberry.mutation(
        resolver=opt_out_fields.opt_out_contact,
        description="Opts the contact's address out of a channel (sms, email, whatsapp); idempotent.",
    )
    opt_in_contact: list[opt_out_fields.OptOut] = strawberry.mutation(
        resolver=opt_out_fields.opt_in_contact, description="Lifts the contact's opt-out of a channel."
    )
    send_message: message_fields.SendResult = strawberry.mutation(resolver=message_fields.send_message)
    initiate_call: call_fields.Call = strawberry.mutation(
        resolver=call_fields.initiate_call, description="Places a voice call that speaks a message."
    )
    send_batch: message_fields.BatchResult = strawberry.mutation(resolver=message_fields.send_batch)
    create_template: template_fields.Template = strawberry.mutation(resolver=template_fields.create_template)
    update_template: template_fields.Template = strawberry.mutation(resolver=template_fields.update_template)
    delete_template: str = strawberry.mutation(resolver=template_fields.delete_template)
    create_campaign: campaign_types.Campaign = strawberry.mutation(resolver=campaign_fields.create_campaign)
    send_campaign: campaign_types.Campaign = strawberry.mutation(
        resolver=campaign_fields.send_campaign, description="Sends a draft or scheduled campaign now."
    )
    schedule_campaign: campaign_types.Campaign = strawberry.mutation(
        resolver=campaign_fields.schedule_campaign,
        description="Schedules a campaign (ISO 8601 `scheduledAt`, in the future), or moves its time.",
    )
    cancel_campaign: campaign_types.Campaign = strawberry.mutation(
        resolver=campaign_fields.cancel_campaign,
        description="Cancels a scheduled or sending campaign: its queued messages are cancelled.",
    )
    create_webhook: webhook_types.WebhookEndpoint = strawberry.mutation(
        resolver=webhook_fields.create_webhook, description="Registers an endpoint; its secret is shown once."
    )
    delete_webhook: webhook_types.DeletedWebhook = strawberry.mutation(resolver=webhook_fields.delete_webhook)
    rotate_webhook_secret: webhook_types.WebhookEndpoint = strawberry.mutation(
        resolver=webhook_fields.rotate_webhook_secret,
        description="A new secret, shown once; the old one also signs for 24 hours.",
    )
    enable_webhook: webhook_types.WebhookEndpoint = strawberry.mutation(
        resolver=webhook_fields.enable_webhook
    )
    send_webhook_test: webhook_types.WebhookDelivery = strawberry.mutation(
        resolver=webhook_fields.send_webhook_test, description="Sends a webhook.test event to the endpoint."
    )
    redeliver_webhook: webhook_types.WebhookDelivery = strawberry.mutation(
        resolver=webhook_fields.redeliver_webhook,
        description="Delivers an event again (the same webhook-id and body).",
    )


class WeConnSchema(strawberry.Schema):
    lane_config: LaneConfig  # what schema/live_lane.py checks a subscription against

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Codes the errors in place (the result holds this very list); unexpected ones are logged."""
        errors[:] = [with_code(error) for error in errors]


def build_schema(settings: Settings) -> WeConnSchema:
    """Extensions are factories: one fresh instance per request, caches shared at module level.

    The limit rules are built once: the validation cache is keyed by the rule classes, and a
    limiter built per request would make new classes each time and never hit the cache.
    """
    limit_rules = (
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    )
    tokens = settings.graphql_max_tokens
    extensions: list[Callable[[], SchemaExtension]] = [lambda: RequestLimits(tokens, limit_rules)]
    rules = (*specified_rules, *limit_rules)  # as a request ends up with them
    if settings.is_production:
        extensions.append(DisableIntrospection)
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    schema = WeConnSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        scalar_overrides={datetime: DateTimeScalar},
    )
    names = schema.config.name_converter
    fields = DeliveryEvent.__strawberry_definition__.fields  # type: ignore[attr-defined]
    attributes = tuple((names.get_graphql_name(field), field.python_name) for field in fields)
    schema.lane_config = LaneConfig(tokens, rules, attributes)
    return schema
