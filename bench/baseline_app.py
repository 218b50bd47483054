"""The "ceiling": a bare Starlette app doing the least an HTTP JSON endpoint can do.

Served by bench/contacts.py with the same uvicorn settings as the WeConn service, so the ratio
between the two measures what the service adds (auth, validation, database, envelopes).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def echo(request: Request) -> Response:
    """Parse the JSON body and answer 201 with a small JSON object, like a create would."""
    body = await request.json()
    return JSONResponse({"id": 1, "received": len(body)}, status_code=201)


async def item(request: Request) -> Response:
    """A small JSON object, like a get by id would return."""
    return JSONResponse({"id": int(request.path_params["id"]), "name": "item", "tags": []})


app = Starlette(
    routes=[
        Route("/echo", echo, methods=["POST"]),
        Route("/item/{id:int}", item, methods=["GET"]),
    ]
)
