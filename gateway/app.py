"""Assembles the Starlette application: REST under the base path, /graphql, health checks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.body_limit import BodySizeLimit
from gateway.db import Database
from gateway.settings import Settings
from rest_compat.envelope import JSONResponse, error_response
from rest_compat.routes import build_routes
from schema.view import GraphQLView

logger = logging.getLogger("weconn")
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(settings: Settings) -> Starlette:
    db = Database(settings)
    graphql = GraphQLView(db, settings)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        database = await db.ping()
        body = {"status": "ok" if database else "unavailable", "checks": {"database": database}}
        return JSONResponse(body, status_code=200 if database else 503)

    async def http_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), headers=error.headers)

    async def internal_error(_request: Request, error: Exception) -> Response:
        logger.error("unhandled error", exc_info=error)
        return error_response(500, "internal_error", "internal error")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await db.dispose()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        *build_routes(db, settings),
    ]
    middleware = [Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)]
    if settings.allowed_origins:
        middleware.insert(0, _cors(settings.allowed_origins))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.settings = settings
    return app


def _cors(origins: list[str]) -> Middleware:
    """Browsers on these origins may call the API with the documented headers."""
    return Middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "X-Tenant-Id", "X-API-Key", "Content-Type", "Idempotency-Key"],
        max_age=600,
    )
