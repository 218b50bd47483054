"""The OpenAPI 3.1 document, made from the same endpoint table that makes the routes."""

from __future__ import annotations

from typing import Any

from rest_compat.table import Endpoint

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
META_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "integer"} for name in ("page", "per_page", "total", "last_page")},
}
STATUS_TEXT = {
    400: "Malformed request",
    401: "Missing or unknown credential",
    403: "Missing scope or membership",
    404: "Unknown id, or another tenant's",
    409: "Conflict",
    413: "Body too large",
    422: "Validation failed",
}


def openapi_document(endpoints: tuple[Endpoint, ...], *, base_path: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "PageMeta": META_SCHEMA}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "WeConn API", "version": "1.0.0"},
        "servers": [{"url": base_path}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "TenantId": {"type": "apiKey", "in": "header", "name": "X-Tenant-Id"},
            },
        },
    }


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": endpoint.summary, "tags": [endpoint.tag]}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": _path_type(name)}}
        for name in _path_names(endpoint.path)
    ]
    parameters += [{"name": name, "in": "query", "schema": {"type": "string"}} for name in endpoint.query]
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        schemas[endpoint.body.__name__] = endpoint.body.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        ref = {"$ref": f"#/components/schemas/{endpoint.body.__name__}"}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    if endpoint.raw_body is not None:
        operation["requestBody"] = {
            "required": True,
            "description": endpoint.raw_body.description,
            "content": {media: {"schema": {"type": "string"}} for media in endpoint.raw_body.media_types},
        }
    if endpoint.extension:
        operation["x-extension"] = True
    if endpoint.scope is not None:
        operation["security"] = [{"ApiKey": []}, {"Bearer": [], "TenantId": []}]
        operation["x-scope"] = endpoint.scope
    success: dict[str, Any] = {"type": "object", "properties": {"data": {}}}
    if endpoint.list_response:
        success["properties"]["meta"] = {"$ref": "#/components/schemas/PageMeta"}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    statuses = [400, 422, *endpoint.extra_statuses]
    if endpoint.scope is not None:
        statuses += [401, 403]
    if "{" in endpoint.path:
        statuses.append(404)
    operation["responses"] = {
        str(endpoint.success_status): {
            "description": "Success",
            "content": {"application/json": {"schema": success}},
        },
        **{str(status): {"description": STATUS_TEXT[status], **error} for status in sorted(set(statuses))},
    }
    return operation


def _path_type(name: str) -> str:
    return "integer" if name == "id" or name.endswith("_id") else "string"


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
