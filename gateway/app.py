"""Assembles the Starlette application: REST under the base path, /graphql, health checks, /dashboard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from gateway.body_limit import BodySizeLimit
from gateway.bus import EventBus
from gateway.bus_redis import RedisBus
from gateway.db import Database
from gateway.gc_tuning import settle_heap
from gateway.queue import BrokerQueue
from gateway.routing import IndexedRouter
from gateway.services import Services
from gateway.settings import Settings
from resolvers.errors import capacity_error
from rest_compat.contact_import import IMPORT_PATH
from rest_compat.envelope import JSONResponse, error_response
from rest_compat.routes import build_routes
from schema.view import GraphQLView
from workers.broker import broker_reachable, build_broker
from workers.embedded import WorkerPool

logger = logging.getLogger("weconn")
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}
DASHBOARD_DIR = Path(__file__).with_name("dashboard")
# The page loads only its own files and talks only to this origin (HTTP and WebSocket).
DASHBOARD_POLICY = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def create_app(settings: Settings, *, run_workers: bool = True) -> Starlette:
    """The service. Embedded (no `WECONN_REDIS_URL`), it also runs the workers and the sweeper;
    `run_workers=False` leaves them to the caller (tests start them when they need them)."""
    db = Database(settings)
    broker = build_broker(settings)
    bus = RedisBus(settings.redis_url) if settings.redis_url else EventBus()
    services = Services(settings=settings, db=db, queue=BrokerQueue(broker), bus=bus)
    pool = (
        None
        if settings.redis_url
        else WorkerPool(settings, broker, services.bus, threads=settings.embedded_worker_threads)
    )
    if pool is None:
        broker.declare_queue("default")
    graphql = GraphQLView(services)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        checks = {"database": await db.ping(), "broker": await broker_reachable(broker)}
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )

    async def dashboard(_request: Request) -> Response:
        headers = {"content-security-policy": DASHBOARD_POLICY, "cache-control": "no-cache"}
        return FileResponse(DASHBOARD_DIR / "index.html", headers=headers)

    async def http_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail), headers=error.headers)

    async def internal_error(_request: Request, error: Exception) -> Response:
        unavailable = capacity_error(error)
        if unavailable is not None:
            return error_response(503, unavailable.code, unavailable.message, headers={"Retry-After": "1"})
        logger.error("unhandled error", exc_info=error)
        return error_response(500, "internal_error", "internal error")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if pool is not None and run_workers:
            pool.start_workers()
            pool.start_sweeper(db)
        relay_stop = asyncio.Event()
        redis_bus = bus if isinstance(bus, RedisBus) else None
        relay = asyncio.create_task(redis_bus.relay(relay_stop)) if redis_bus is not None else None
        settle_heap()
        yield
        if redis_bus is not None and relay is not None:
            relay_stop.set()
            await relay
            await redis_bus.close()
        if pool is not None:
            await pool.stop()
        await db.dispose()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        Route("/dashboard", dashboard, methods=["GET"]),
        Route("/dashboard/", dashboard, methods=["GET"]),
        Mount("/dashboard", StaticFiles(directory=DASHBOARD_DIR), name="dashboard"),
        *build_routes(services),
    ]
    import_limit = {settings.base_path + IMPORT_PATH: settings.import_max_bytes}
    middleware = [Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, path_limits=import_limit)]
    if settings.allowed_origins:
        middleware.insert(0, _cors(settings.allowed_origins))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.router = IndexedRouter(routes, lifespan=lifespan)  # the same table, fixed paths found by dict
    app.state.db = db
    app.state.settings = settings
    app.state.services = services
    app.state.workers = pool
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
