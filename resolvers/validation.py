"""Turns raw input into typed models, and pydantic's complaints into one ValidationFailed."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from resolvers.errors import BadRequest, ValidationFailed

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_input(model: type[ModelT], raw: Any) -> ModelT:
    if not isinstance(raw, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(raw, strict=True)
    except ValidationError as error:
        raise as_validation_failed(error) from None


def as_validation_failed(error: ValidationError) -> ValidationFailed:
    fields: dict[str, list[str]] = {}
    for issue in error.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in issue["loc"]) or "body"
        message = "unknown field" if issue["type"] == "extra_forbidden" else str(issue["msg"])
        fields.setdefault(path, []).append(message)
    summary = "; ".join(f"{name}: {', '.join(messages)}" for name, messages in fields.items())
    return ValidationFailed(f"invalid input ({summary})", fields=fields)


def bounded_json(value: Any, max_bytes: int) -> Any:
    """`value` (a free-form JSON field) if it takes at most `max_bytes` as JSON; ValueError
    otherwise. An integer beyond 64 bits (GraphQL variables keep them) becomes a float, as it does
    in a REST body (orjson parses it so), so both APIs store the same value."""
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        encoded = json.dumps(value).encode()
        value = orjson.loads(encoded)
    if len(encoded) > max_bytes:
        raise ValueError(f"must be at most {max_bytes} bytes as JSON")
    return value
