"""REST translation of the contacts resolvers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resolvers import contacts
from resolvers.contact_fields import ContactFields
from resolvers.context import Context
from resolvers.validation import parse_input
from rest_compat.envelope import data_response, page_response
from rest_compat.request import int_path, int_query, json_body
from rest_compat.table import Endpoint


async def list_contacts(request: Request, ctx: Context) -> Response:
    page = await contacts.list_contacts(
        ctx,
        page=int_query(request, "page"),
        per_page=int_query(request, "per_page"),
        search=request.query_params.get("search"),
        tag=request.query_params.get("tag"),
    )
    return page_response(page)


async def get_contact(request: Request, ctx: Context) -> Response:
    return data_response(await contacts.get_contact(ctx, contact_id=int_path(request, "id")))


async def create_contact(request: Request, ctx: Context) -> Response:
    fields = parse_input(ContactFields, await json_body(request))
    return data_response(await contacts.create_contact(ctx, fields=fields), status=201)


async def update_contact(request: Request, ctx: Context) -> Response:
    contact_id = int_path(request, "id")
    fields = parse_input(ContactFields, await json_body(request))
    return data_response(await contacts.update_contact(ctx, contact_id=contact_id, fields=fields))


async def delete_contact(request: Request, ctx: Context) -> Response:
    deleted = await contacts.delete_contact(ctx, contact_id=int_path(request, "id"))
    return data_response({"id": deleted, "deleted": True})


BASE = "/integrations/contacts"
ENDPOINTS = (
    Endpoint("GET", BASE, "read", list_contacts, "List contacts (paginated, searchable)", "Contacts",
             query=("page", "per_page", "search", "tag"), list_response=True),
    Endpoint("GET", BASE + "/{id}", "read", get_contact, "Get single contact", "Contacts"),
    Endpoint("POST", BASE, "write", create_contact, "Create contact", "Contacts", 201, ContactFields,
             extra_statuses=(409,)),
    Endpoint("PUT", BASE + "/{id}", "write", update_contact, "Update contact", "Contacts", 200, ContactFields,
             extra_statuses=(409,)),
    Endpoint("DELETE", BASE + "/{id}", "write", delete_contact, "Delete contact", "Contacts"),
)  # fmt: skip
