"""Headers that must stay on one line: a long URL in angle brackets (List-Unsubscribe) would
otherwise be folded into RFC 2047 encoded words, which mail clients do not decode in that header."""

from __future__ import annotations

from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.policy import Policy, default

ONE_LINE = ("list-unsubscribe", "list-unsubscribe-post")
MAX_LINE = 998  # RFC 5322's limit on a line


class OneLineHeader(UnstructuredHeader, BaseHeader):
    """Written as given, on one line; refused when that line would pass RFC 5322's limit."""

    def fold(self, *, policy: Policy) -> str:
        line = f"{self.name}: {self}"
        if len(line) > MAX_LINE or any(character in line for character in "\r\n"):
            raise ValueError(f"the {self.name} header is longer than {MAX_LINE} characters")
        return line + str(policy.linesep)


def _registry() -> HeaderRegistry:
    registry = HeaderRegistry()
    for name in ONE_LINE:
        registry.map_to_type(name, OneLineHeader)
    return registry


POLICY = default.clone(header_factory=_registry())
