"""Starlette's router with an index of its fixed paths.

Starlette tries each route's regular expression in turn, about a hundred here, so a request for a
route far down the table paid for every one above it. A path without parameters (the create and
list endpoints, /graphql, the health checks) is now found in a dict by path and method. The index
holds, for each such pair, the route Starlette's own scan would pick (computed by running that scan
once at start-up), so the answer is the same; everything else goes through the scan as before.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

ANY_METHOD = ("GET", "POST")  # indexed for a route that takes every method (/graphql)


class IndexedRouter(Router):
    def __init__(self, routes: list[BaseRoute], **options: Any) -> None:
        super().__init__(routes, **options)
        self._fixed: dict[tuple[str, str], Route] = _fixed_routes(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):  # mounted elsewhere: scan
            route = self._fixed.get((scope["path"], scope["method"]))
            if route is not None:
                scope.setdefault("router", self)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)


def _fixed_routes(routes: list[BaseRoute]) -> dict[tuple[str, str], Route]:
    """(path, method) -> the route a scan would pick, for routes whose path has no parameters."""
    index: dict[tuple[str, str], Route] = {}
    for route in routes:
        if not isinstance(route, Route) or route.param_convertors:
            continue
        for method in route.methods or ANY_METHOD:
            scope = {"type": "http", "path": route.path, "root_path": "", "method": method}
            if _scan(routes, scope) is route:
                index.setdefault((route.path, method), route)
    return index


def _scan(routes: list[BaseRoute], scope: Scope) -> BaseRoute | None:
    return next((route for route in routes if route.matches(scope)[0] is Match.FULL), None)
