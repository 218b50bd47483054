"""The indexed router answers every request exactly as Starlette's own scan of the same table:
same route, same 405 for a method the path lacks, same redirect for a trailing slash."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from gateway.routing import IndexedRouter


def _answer(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(f"{name} {request.method} {dict(request.path_params)}")

    return endpoint


def _table() -> list[BaseRoute]:
    inner = Router([Route("/inside", _answer("mounted"), methods=["GET"])])
    return [
        Route("/items/{id}", _answer("item"), methods=["GET"]),
        Route("/items/new", _answer("shadowed"), methods=["GET", "POST"]),  # GET goes to /items/{id}
        Route("/items", _answer("list"), methods=["GET"]),
        Route("/items", _answer("create"), methods=["POST"]),
        Route("/any", _answer("any")),
        Mount("/mounted", app=inner),
        Route("/mounted/inside", _answer("never"), methods=["GET"]),  # the mount comes first
        Route("/slash/", _answer("slash"), methods=["GET"]),
    ]


REQUESTS = [
    ("GET", "/items"), ("POST", "/items"), ("PUT", "/items"), ("HEAD", "/items"), ("GET", "/items/new"),
    ("POST", "/items/new"), ("GET", "/items/7"), ("GET", "/any"), ("POST", "/any"), ("PATCH", "/any"),
    ("GET", "/mounted/inside"), ("GET", "/slash"), ("GET", "/slash/"), ("GET", "/nowhere"),
    ("DELETE", "/items"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_same_answer_as_starlettes_scan(method: str, path: str) -> None:
    scanned, indexed = Starlette(routes=_table()), Starlette(routes=_table())
    indexed.router = IndexedRouter(_table())
    answers = []
    for app in (scanned, indexed):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.request(method, path, follow_redirects=False)
            answers.append((response.status_code, response.text, response.headers.get("location")))
    assert answers[0] == answers[1]


def test_only_paths_a_scan_would_give_the_same_route_are_indexed() -> None:
    indexed = IndexedRouter(_table())
    assert sorted(indexed._fixed) == [
        ("/any", "GET"), ("/any", "HEAD"), ("/items", "GET"), ("/items", "HEAD"), ("/items", "POST"),
        ("/items/new", "POST"), ("/slash/", "GET"), ("/slash/", "HEAD"),
    ]  # fmt: skip
