"""Turns raw input into typed models, and pydantic's complaints into one ValidationFailed."""

from __future__ import annotations

from typing import Any, TypeVar

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
