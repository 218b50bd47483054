"""Domain errors with stable codes; REST maps them to statuses, GraphQL to `extensions.code`."""

from __future__ import annotations

import sqlalchemy.exc


class DomainError(Exception):
    """Base of every error a caller may see; `code` is stable and documented."""

    code = "error"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class BadRequest(DomainError):
    code = "bad_request"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class ValidationFailed(DomainError):
    code = "validation_error"


class Unavailable(DomainError):
    """The service is short of capacity for now (no database connection came free in time)."""

    code = "service_unavailable"


def capacity_error(error: BaseException) -> Unavailable | None:
    """The caller's view of a failure of capacity rather than of the request, if it is one."""
    if isinstance(error, sqlalchemy.exc.TimeoutError):  # the connection pool stayed exhausted
        return Unavailable("the service is busy; retry in a moment")
    return None


def field_error(field: str, message: str) -> ValidationFailed:
    """A validation error about one field, with the field named in `fields`."""
    return ValidationFailed(f"{field}: {message}", fields={field: [message]})
