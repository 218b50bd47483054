"""Template rendering in a sandbox: `{{ name }}` from the request's variables, nothing else."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

from resolvers.errors import ValidationFailed, field_error

MAX_TEMPLATE_CHARS = 64 * 1024


@cache
def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape)


@lru_cache(maxsize=1024)
def _compiled(source: str, autoescape: bool) -> tuple[Template, frozenset[str]]:
    """A template compiled once per distinct text (compiling costs far more than rendering)."""
    environment = _environment(autoescape)
    return environment.from_string(source), frozenset(
        meta.find_undeclared_variables(environment.parse(source))
    )


def _compile(source: str, *, html: bool, field: str) -> tuple[Template, frozenset[str]]:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise field_error(field, f"at most {MAX_TEMPLATE_CHARS} characters")
    try:
        return _compiled(source, html)
    except TemplateSyntaxError as error:
        raise field_error(field, f"template syntax error on line {error.lineno}: {error.message}") from None


def declared_variables(source: str, *, field: str = "body") -> frozenset[str]:
    """The variables a template reads; a syntax error is a 422 naming `field`."""
    return _compile(source, html=False, field=field)[1]


def render(source: str, variables: dict[str, Any], *, html: bool = False, field: str = "body") -> str:
    """Renders `source`; a variable it needs but `variables` lacks is a 422 naming it."""
    template, needed = _compile(source, html=html, field=field)
    missing = sorted(needed - variables.keys())
    if missing:
        message = f"missing template variables: {', '.join(missing)}"
        raise ValidationFailed(
            message, fields={f"variables.{name}": ["required by the template"] for name in missing}
        )
    try:
        return template.render(variables)
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
        # The sandbox refuses unsafe access (SecurityError is a TemplateError); bad data fails here too.
        raise field_error("variables", f"the template could not be rendered: {error}") from None
