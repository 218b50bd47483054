"""The API contract (the portal page), kept verbatim in docs/api-contract.txt, read by the tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "api-contract.txt"
SEED = ROOT.parent / "shared" / "seeds" / "000_291b6f7de6c210ce.txt"
ROW = re.compile(r"^\| (GET|POST|PUT|DELETE|PATCH) \| (/\S+) \| (\w+|\*) \| (.+) \|$")


@dataclass(frozen=True)
class ContractEndpoint:
    method: str
    path: str  # below /api/v1, with {id} placeholders
    scope: str
    description: str


def text() -> str:
    return CONTRACT.read_text()


def endpoints() -> list[ContractEndpoint]:
    rows = (ROW.match(line.strip()) for line in text().splitlines())
    return [ContractEndpoint(*match.groups()) for match in rows if match]


def snippet(start: str, end: str) -> str:
    """The contract's text from the line starting with `start` through the line ending with `end`."""
    body = text()
    first = body.index(start)
    last = body.index(end, first) + len(end)
    return body[first:last]
