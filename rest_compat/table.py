"""The route table: one row per documented REST path, from which routes and OpenAPI are made."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from resolvers.context import Context

Handler = Callable[[Request, Context], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class RawBody:
    """A request body that is a file rather than a JSON object (OpenAPI: one string per media type)."""

    media_types: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # below the base path, e.g. "/integrations/contacts/{id}"
    scope: str | None  # None: no credential needed (sign-in)
    handler: Handler
    summary: str
    tag: str
    success_status: int = 200
    body: type[BaseModel] | None = None
    query: tuple[str, ...] = ()
    list_response: bool = False
    extra_statuses: tuple[int, ...] = field(default_factory=tuple)
    raw_body: RawBody | None = None
    extension: bool = False  # beyond the portal's contract (OpenAPI: `x-extension: true`)
