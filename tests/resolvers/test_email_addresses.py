"""The remembered-domain shortcut gives exactly email-validator's answer: the same normal form for
every address it accepts, and the same error message for every address it refuses."""

from __future__ import annotations

import random

from email_validator import EmailNotValidError, validate_email

from resolvers import email_addresses
from resolvers.email_addresses import normalized_email

LOCAL_PIECES = [
    "a", "Bob", "x.y", "o'neil", "a+tag", "_", "~", "{}", "a..b", ".a", "a.", "ü", '"q"', "a b", "", "@",
]  # fmt: skip
DOMAIN_PIECES = [
    "example.com", "Example.COM", "xn--bcher-kva.com", "b\u00fccher.com", "localhost", "mail.local",
    "site.test", "a-b.io", "-ab.io", "ab-.io", "a..b.com", "a.b.c.d.e.org", "com", "1.2.3.4", "[1.2.3.4]",
    "x.123", "a_b.com", "münchen.de", "ex ample.com", "example.com.", "invalid", "xn--zz.com",
    "a" * 63 + ".com", "a" * 64 + ".com", ".".join(["b" * 60] * 4) + ".com",
]  # fmt: skip


def _answer(raw: str) -> str:
    try:
        return "ok " + normalized_email(raw)
    except EmailNotValidError as error:
        return "error " + str(error)


def _reference(raw: str) -> str:
    try:
        return "ok " + validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        return "error " + str(error)


def _corpus(count: int) -> list[str]:
    pick = random.Random(20261127)
    addresses = [local + "@" + domain for local in LOCAL_PIECES for domain in DOMAIN_PIECES]
    for _ in range(count):
        local = "".join(pick.choice(LOCAL_PIECES) for _ in range(pick.randint(1, 3)))
        local += "x" * pick.choice([0, 0, 40, 70, 200])
        addresses.append(local + "@" + pick.choice(DOMAIN_PIECES))
    addresses += ["plain", "a@b@c.com", "Name <a@example.com>", "a@example.com\n", " a@example.com"]
    return addresses


def test_same_answer_as_email_validator() -> None:
    answers = {raw: (_answer(raw), _reference(raw)) for raw in _corpus(1500)}
    assert [(raw, ours, theirs) for raw, (ours, theirs) in answers.items() if ours != theirs] == []
    accepted = sum(ours.startswith("ok ") for ours, _ in answers.values())
    assert 200 < accepted < len(answers) - 200  # both kinds of answer are well represented


def test_a_domain_is_checked_once_and_its_answer_reused() -> None:
    email_addresses._checked_domain.cache_clear()
    for number in range(50):
        assert normalized_email(f"User{number}@Shared-Domain.example.org") == (
            f"user{number}@shared-domain.example.org"
        )
    info = email_addresses._checked_domain.cache_info()
    assert (info.misses, info.hits) == (1, 49)
