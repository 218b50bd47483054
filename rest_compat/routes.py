"""Starlette routes built from the endpoint table, each authenticating then calling its handler."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.services import Services
from resolvers.errors import DomainError, capacity_error
from rest_compat import (
    accounts,
    calls,
    campaigns,
    contact_import,
    contact_opt_outs,
    contacts,
    inbound_sms,
    messages,
    provider_receipts,
    templates,
    unsubscribe,
    webhooks,
)
from rest_compat.envelope import JSONResponse, domain_error_response
from rest_compat.openapi import openapi_document
from rest_compat.request import bare_context, context_for
from rest_compat.table import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    *accounts.ENDPOINTS,
    *contacts.ENDPOINTS,
    *contact_import.ENDPOINTS,
    *messages.ENDPOINTS,
    *campaigns.ENDPOINTS,
    *templates.ENDPOINTS,
    *provider_receipts.ENDPOINTS,
    *webhooks.ENDPOINTS,
    *contact_opt_outs.ENDPOINTS,
    *inbound_sms.ENDPOINTS,
    *unsubscribe.ENDPOINTS,
    *calls.ENDPOINTS,
)


def _route_for(endpoint: Endpoint, services: Services) -> Route:
    async def serve(request: Request) -> Response:
        try:
            if endpoint.scope is None:
                ctx = bare_context(services)
            else:
                ctx = await context_for(request, services)
                ctx.require(endpoint.scope)
            return await endpoint.handler(request, ctx)
        except DomainError as error:
            return domain_error_response(error)
        except Exception as error:
            unavailable = capacity_error(error)
            if unavailable is None:
                raise
            return domain_error_response(unavailable, headers={"Retry-After": "1"})

    return Route(
        services.settings.base_path + endpoint.path, serve, methods=[endpoint.method], name=endpoint.summary
    )


def build_routes(services: Services) -> list[Route]:
    base_path = services.settings.base_path
    document = openapi_document(ENDPOINTS, base_path=base_path)

    async def serve_openapi(_request: Request) -> Response:
        return JSONResponse(document)

    routes = [_route_for(endpoint, services) for endpoint in ENDPOINTS]
    routes.append(Route(base_path + "/openapi.json", serve_openapi, methods=["GET"]))
    return routes
