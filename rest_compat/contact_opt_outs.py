"""REST translation of a contact's opt-outs (extensions): list, opt out of a channel, opt back in."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resolvers import contact_opt_outs
from resolvers.contact_opt_outs import OptOutFields
from resolvers.context import Context
from resolvers.validation import parse_input
from rest_compat.envelope import data_response
from rest_compat.request import int_path, json_body
from rest_compat.table import Endpoint


async def list_opt_outs(request: Request, ctx: Context) -> Response:
    return data_response(await contact_opt_outs.contact_opt_outs(ctx, contact_id=int_path(request, "id")))


async def opt_out(request: Request, ctx: Context) -> Response:
    contact_id = int_path(request, "id")
    fields = parse_input(OptOutFields, await json_body(request))
    return data_response(
        await contact_opt_outs.opt_out_contact(ctx, contact_id=contact_id, channel=fields.channel)
    )


async def opt_in(request: Request, ctx: Context) -> Response:
    contact_id, channel = int_path(request, "id"), request.path_params["channel"]
    return data_response(await contact_opt_outs.opt_in_contact(ctx, contact_id=contact_id, channel=channel))


BASE = "/integrations/contacts/{id}/opt-outs"
ENDPOINTS = (
    Endpoint("GET", BASE, "read", list_opt_outs, "List a contact's opt-outs", "Contacts", extension=True),
    Endpoint("POST", BASE, "write", opt_out, "Opt a contact out of a channel (idempotent)", "Contacts",
             body=OptOutFields, extension=True),
    Endpoint("DELETE", BASE + "/{channel}", "write", opt_in, "Opt a contact back in to a channel", "Contacts",
             extension=True),
)  # fmt: skip
