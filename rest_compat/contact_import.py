"""REST translation of contact import: the raw file is the body, its Content-Type names the format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resolvers import contact_import
from resolvers.context import Context
from resolvers.errors import BadRequest
from rest_compat.envelope import data_response
from rest_compat.table import Endpoint, RawBody

IMPORT_PATH = "/integrations/contacts/import"  # its body may be larger (WECONN_IMPORT_MAX_BYTES)
FORMAT_BY_MEDIA_TYPE = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
}
DESCRIPTION = (
    f"The file itself, up to {contact_import.MAX_IMPORT_ROWS:,} rows (UTF-8). "
    "CSV: a header row naming the columns name, first_name, last_name, email, phone, "
    "tags (several separated by ';', e.g. vip;newsletter), metadata (a JSON object) "
    "and metadata.<key>; an empty cell is a field not given. "
    "JSON lines: one contact object per line, with the fields of a contact create. "
    "Each row updates the contact with its email, else the one with its phone, else creates one. "
    "Answers the counts and the errors of the rows that failed (`row` is the 1-based data row)."
)


def import_format(request: Request) -> str:
    """The format named by the Content-Type, else by the `format` query parameter."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in FORMAT_BY_MEDIA_TYPE:
        return FORMAT_BY_MEDIA_TYPE[media_type]
    named = request.query_params.get("format")
    if named is None:
        raise BadRequest(
            "send the file with Content-Type text/csv or application/x-ndjson, or name its format "
            "with ?format=csv or ?format=jsonl"
        )
    return named.strip().lower()


async def import_contacts(request: Request, ctx: Context) -> Response:
    file_format = import_format(request)
    report = await contact_import.import_contacts(ctx, body=await request.body(), file_format=file_format)
    return data_response(report)


ENDPOINTS = (
    Endpoint("POST", IMPORT_PATH, "write", import_contacts,
             "Import contacts from CSV or JSON lines (upsert by email, then phone)", "Contacts",
             query=("format",), extra_statuses=(413,), extension=True,
             raw_body=RawBody(tuple(FORMAT_BY_MEDIA_TYPE), DESCRIPTION)),
)  # fmt: skip
