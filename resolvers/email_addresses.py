"""Email addresses checked by email-validator, with its verdict on each domain remembered.

Most of email-validator's time goes to the domain (IDNA/UTS-46 rules, character by character),
and a tenant's contacts share few domains. A plain ASCII address (dot-atom local part, hostname
characters after the @) is split here and its domain looked up in a bounded cache of
email-validator's own answers; anything else, and any domain it refuses, goes through the full
`validate_email`, so accepted addresses, their normal form and every error message are exactly
email-validator's (tests/resolvers/test_email_addresses.py compares both on a generated corpus).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email

# RFC 5322 atext, the same characters as email-validator's DOT_ATOM_TEXT; then hostname characters.
_ATEXT = r"[A-Za-z0-9_!#$%&'*+\-/=?^`{|}~]+"
_PLAIN_ADDRESS = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9.\-]+)\Z")
_MAX_ADDRESS_OCTETS = 254  # RFC 5321 path limit, as email-validator enforces it
DOMAIN_CACHE_SIZE = 4096


class _Domain(NamedTuple):
    normalized: str  # what email-validator writes after the @ (Unicode for xn-- labels)
    ascii: str


def normalized_email(raw: str) -> str:
    """email-validator's normal form of `raw` (no DNS lookups), lower-cased so that addresses
    differing only in case are one; raises EmailNotValidError."""
    plain = _PLAIN_ADDRESS.match(raw)
    if plain is not None:
        local, domain_part = plain.groups()
        domain = _checked_domain(domain_part)
        if domain is not None and _fits(local, domain_part, domain):
            return f"{local}@{domain.normalized}".lower()
    return validate_email(raw, check_deliverability=False).normalized.lower()


@lru_cache(maxsize=DOMAIN_CACHE_SIZE)
def _checked_domain(domain_part: str) -> _Domain | None:
    """email-validator's reading of a domain; None when it refuses it (the caller then gets the
    full validation and its exact error)."""
    try:
        checked = validate_email(f"x@{domain_part}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return _Domain(normalized=checked.domain, ascii=checked.ascii_domain)


def _fits(local: str, domain_part: str, domain: _Domain) -> bool:
    """The length rule email-validator applies to the address as given, normalised and in ASCII."""
    longest = max(len(domain_part), len(domain.normalized.encode()), len(domain.ascii))
    return len(local) + 1 + longest <= _MAX_ADDRESS_OCTETS
