"""The one-click unsubscribe link of campaign emails (RFC 8058), as mail clients and people use it.

`POST` (the mail client's one-click, body `List-Unsubscribe=One-Click`, or the page's button)
opts the address out; `GET` only shows a page with that button, since mail scanners fetch links.
No API key: the signed token in the path is the authority. A bad token is a 404 in the envelope.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from resolvers import unsubscribe
from resolvers.context import Context
from resolvers.unsubscribe_tokens import UNSUBSCRIBE_PATH
from rest_compat.envelope import data_response
from rest_compat.table import Endpoint, RawBody

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>{title}</h1><p>{text}</p>{form}</body></html>"""
FORM = """<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>"""


def _page(view: unsubscribe.UnsubscribeView) -> HTMLResponse:
    address = escape(view.address)
    if view.unsubscribed:
        title, text, form = "You are unsubscribed", f"{address} will get no more of these emails.", ""
    else:
        title, text, form = "Unsubscribe", f"Stop these emails to {address}?", FORM
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(PAGE.format(title=title, text=text, form=form), headers=headers)


async def view(request: Request, ctx: Context) -> Response:
    return _page(await unsubscribe.view_unsubscribe(ctx, token=request.path_params["token"]))


async def one_click(request: Request, ctx: Context) -> Response:
    done = await unsubscribe.unsubscribe(ctx, token=request.path_params["token"])
    if "text/html" in request.headers.get("accept", ""):  # the page's button, in a browser
        return _page(done)
    return data_response(done)


TAG = "Unsubscribe"
ENDPOINTS = (
    Endpoint("GET", UNSUBSCRIBE_PATH, None, view,
             "Unsubscribe page of a campaign email's link (changes nothing)", TAG),
    Endpoint("POST", UNSUBSCRIBE_PATH, None, one_click,
             "One-click unsubscribe (RFC 8058): opts the link's address out of email", TAG,
             raw_body=RawBody(("application/x-www-form-urlencoded", "multipart/form-data"),
                              "List-Unsubscribe=One-Click")),
)  # fmt: skip
