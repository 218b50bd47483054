"""The REST envelope: `{"data": ...}`, lists with `meta`, errors as `{"error": {...}}`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from resolvers import errors
from resolvers.pagination import Page

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.BadRequest: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.ValidationFailed: 422,
    errors.Unavailable: 503,
}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_encode, option=orjson.OPT_UTC_Z)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    raise TypeError(f"cannot encode {type(value).__name__}")


def data_response(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"data": data}, status_code=status)


def page_response(page: Page[Any]) -> JSONResponse:
    meta = {"page": page.page, "per_page": page.per_page, "total": page.total, "last_page": page.last_page}
    return JSONResponse({"data": page.items, "meta": meta})


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = 'ApiKey header="X-API-Key", Bearer'
    return JSONResponse({"error": body}, status_code=status, headers=all_headers)


def domain_error_response(
    error: errors.DomainError, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    status = next(
        (code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)),
        400,
    )
    return error_response(status, error.code, error.message, error.fields, headers)
