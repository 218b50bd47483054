"""The contacts contract, each case over REST and over GraphQL."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from gateway.db import Database
from resolvers import accounts
from tests.support.tenants import TenantKeys
from tests.support.twins import GraphQLContacts, RestContacts

Api = RestContacts | GraphQLContacts


def unique_phone() -> str:
    return f"+4074{secrets.randbelow(10**7):07d}"


def unique_email() -> str:
    return f"user-{secrets.token_hex(4)}@Example.com"


async def test_create_normalises_and_returns_the_contact(contacts_api: Api, tenant: TenantKeys) -> None:
    phone_digits = unique_phone()[1:]
    spaced = f"+{phone_digits[:2]} {phone_digits[2:5]} {phone_digits[5:8]} {phone_digits[8:]}"
    email = unique_email()
    body = {"name": "Maria Ionescu", "email": email, "phone": spaced, "tags": ["vip", "newsletter", "vip"],
            "metadata": {"source": "crm", "score": 7}}  # fmt: skip
    created = await contacts_api.create(tenant.headers(), body)
    assert created.ok, created
    contact = created.data
    assert contact["name"] == "Maria Ionescu"
    assert contact["phone"] == "+" + phone_digits
    assert contact["email"] == email.lower()
    assert contact["tags"] == ["vip", "newsletter"]
    assert contact["metadata"] == {"source": "crm", "score": 7}
    assert isinstance(contact["id"], int)
    assert contact["created_at"].endswith("Z")
    fetched = await contacts_api.get(tenant.headers(tenant.read), contact["id"])
    assert fetched.data == contact


async def test_metadata_round_trips_whatever_json_it_holds(contacts_api: Api, tenant: TenantKeys) -> None:
    metadata = {"city": "Zürich ✓", "big": 2**70, "nested": {"list": [1.5, None, True, "x"]}, "": 0}
    created = await contacts_api.create(tenant.headers(), {"email": unique_email(), "metadata": metadata})
    assert created.ok, created
    assert created.data["metadata"] == metadata
    fetched = await contacts_api.get(tenant.headers(tenant.read), created.data["id"])
    assert fetched.data["metadata"] == metadata


async def test_first_and_last_name_are_combined(contacts_api: Api, tenant: TenantKeys) -> None:
    created = await contacts_api.create(
        tenant.headers(), {"first_name": "Andrei", "last_name": "Popescu", "phone": unique_phone()}
    )
    assert created.ok, created
    assert created.data["name"] == "Andrei Popescu"


async def test_a_contact_needs_phone_or_email(contacts_api: Api, tenant: TenantKeys) -> None:
    outcome = await contacts_api.create(tenant.headers(), {"name": "Nobody"})
    assert outcome.code == "validation_error"
    assert set(outcome.fields) == {"phone", "email"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+40 12"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "x@example.com", "tags": [""]}, "tags.0"),
        ({"email": "x@example.com", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_fields_are_named(
    contacts_api: Api, tenant: TenantKeys, body: dict, field: str
) -> None:
    outcome = await contacts_api.create(tenant.headers(), body)
    assert outcome.code in {"validation_error", "invalid_query"}
    if outcome.code == "validation_error":
        assert field in outcome.fields


async def test_duplicate_email_or_phone_is_a_conflict(contacts_api: Api, tenant: TenantKeys) -> None:
    email, phone = unique_email(), unique_phone()
    first = await contacts_api.create(tenant.headers(), {"email": email, "phone": phone})
    assert first.ok
    same_email = await contacts_api.create(tenant.headers(), {"email": email.upper()})
    assert same_email.code == "conflict"
    assert "email" in same_email.fields
    same_phone = await contacts_api.create(tenant.headers(), {"phone": phone})
    assert same_phone.code == "conflict"
    assert "phone" in same_phone.fields


async def test_concurrent_creates_each_get_their_own_answer(contacts_api: Api, tenant: TenantKeys) -> None:
    """Creates arriving together are written together (resolvers/contact_inserts.py); a taken
    address fails only its own request, and two requests racing for one phone: one wins."""
    taken = unique_email()
    assert (await contacts_api.create(tenant.headers(), {"email": taken})).ok
    phone = unique_phone()
    bodies: list[dict[str, object]] = [{"email": unique_email(), "tags": ["burst"]} for _ in range(12)]
    bodies += [{"email": taken.upper()}, {"phone": phone, "name": "one"}, {"phone": phone, "name": "two"}]

    answers = await asyncio.gather(*(contacts_api.create(tenant.headers(), body) for body in bodies))

    assert all(answer.ok for answer in answers[:12]), answers[:12]
    assert len({answer.data["id"] for answer in answers[:12]}) == 12
    assert answers[12].code == "conflict"
    assert "email" in answers[12].fields
    won, lost = sorted(answers[13:], key=lambda answer: not answer.ok)
    assert won.ok
    assert lost.code == "conflict"
    assert "phone" in lost.fields
    tagged = await contacts_api.list(tenant.headers(), tag="burst", per_page=100)
    assert tagged.data["total"] == 12


async def test_the_same_address_may_exist_in_two_tenants(
    contacts_api: Api, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    body = {"email": unique_email()}
    assert (await contacts_api.create(tenant.headers(), body)).ok
    assert (await contacts_api.create(other_tenant.headers(), body)).ok


async def test_update_applies_only_the_fields_sent(contacts_api: Api, tenant: TenantKeys) -> None:
    phone = unique_phone()
    created = await contacts_api.create(
        tenant.headers(), {"name": "Ana", "phone": phone, "email": unique_email(), "tags": ["a"]}
    )
    contact_id = created.data["id"]
    renamed = await contacts_api.update(
        tenant.headers(), contact_id, {"name": "Ana Maria", "tags": ["b", "c"]}
    )
    assert renamed.ok, renamed
    assert renamed.data["name"] == "Ana Maria"
    assert renamed.data["phone"] == phone
    assert renamed.data["tags"] == ["b", "c"]
    no_email = await contacts_api.update(tenant.headers(), contact_id, {"email": None})
    assert no_email.ok
    assert no_email.data["email"] is None
    no_address = await contacts_api.update(tenant.headers(), contact_id, {"phone": None})
    assert no_address.code == "validation_error"
    still = await contacts_api.get(tenant.headers(), contact_id)
    assert still.data["phone"] == phone


async def test_update_into_another_contacts_address_conflicts(contacts_api: Api, tenant: TenantKeys) -> None:
    taken = unique_email()
    assert (await contacts_api.create(tenant.headers(), {"email": taken})).ok
    mine = await contacts_api.create(tenant.headers(), {"email": unique_email()})
    outcome = await contacts_api.update(tenant.headers(), mine.data["id"], {"email": taken})
    assert outcome.code == "conflict"
    assert "email" in outcome.fields


async def test_delete_removes_the_contact(contacts_api: Api, tenant: TenantKeys) -> None:
    created = await contacts_api.create(tenant.headers(), {"phone": unique_phone(), "tags": ["x"]})
    deleted = await contacts_api.delete(tenant.headers(), created.data["id"])
    assert deleted.ok
    assert deleted.data == {"id": created.data["id"], "deleted": True}
    assert (await contacts_api.get(tenant.headers(), created.data["id"])).code == "not_found"
    assert (await contacts_api.delete(tenant.headers(), created.data["id"])).code == "not_found"


async def test_list_pages_searches_and_filters_by_tag(contacts_api: Api, tenant: TenantKeys) -> None:
    for index in range(7):
        tags = ["even"] if index % 2 == 0 else ["odd"]
        body = {
            "name": f"Person {index}",
            "email": f"p{index}-{secrets.token_hex(3)}@example.com",
            "tags": tags,
        }
        assert (await contacts_api.create(tenant.headers(), body)).ok
    assert (await contacts_api.create(tenant.headers(), {"name": "Zed 100%_x", "phone": unique_phone()})).ok
    first = await contacts_api.list(tenant.headers(tenant.read), page=1, per_page=3)
    assert first.ok, first
    assert (first.data["total"], first.data["page"], first.data["per_page"], first.data["last_page"]) == (
        8,
        1,
        3,
        3,
    )
    assert len(first.data["items"]) == 3
    last = await contacts_api.list(tenant.headers(), page=3, per_page=3)
    assert len(last.data["items"]) == 2
    seen = {item["id"] for item in first.data["items"]} & {item["id"] for item in last.data["items"]}
    assert not seen
    even = await contacts_api.list(tenant.headers(), tag="even")
    assert even.data["total"] == 4
    assert all("even" in item["tags"] for item in even.data["items"])
    search = await contacts_api.list(tenant.headers(), search="person 3")
    assert [item["name"] for item in search.data["items"]] == ["Person 3"]
    literal = await contacts_api.list(tenant.headers(), search="100%_")
    assert [item["name"] for item in literal.data["items"]] == ["Zed 100%_x"]
    wildcard = await contacts_api.list(tenant.headers(), search="%")
    assert wildcard.data["total"] == 1
    beyond = await contacts_api.list(tenant.headers(), page=9, per_page=3)
    assert beyond.data["items"] == []
    assert beyond.data["total"] == 8


async def test_other_tenants_ids_are_not_found(
    contacts_api: Api, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    created = await contacts_api.create(tenant.headers(), {"email": unique_email()})
    contact_id = created.data["id"]
    outsider = other_tenant.headers()
    assert (await contacts_api.get(outsider, contact_id)).code == "not_found"
    assert (await contacts_api.update(outsider, contact_id, {"name": "x"})).code == "not_found"
    assert (await contacts_api.delete(outsider, contact_id)).code == "not_found"
    listed = await contacts_api.list(outsider)
    assert contact_id not in {item["id"] for item in listed.data["items"]}
    assert (await contacts_api.get(tenant.headers(), contact_id)).ok


async def test_scopes_gate_each_operation(contacts_api: Api, tenant: TenantKeys) -> None:
    created = await contacts_api.create(tenant.headers(tenant.write), {"email": unique_email()})
    assert created.ok
    contact_id = created.data["id"]
    reader = tenant.headers(tenant.read)
    assert (await contacts_api.create(reader, {"email": unique_email()})).code == "forbidden"
    assert (await contacts_api.update(reader, contact_id, {"name": "x"})).code == "forbidden"
    assert (await contacts_api.delete(reader, contact_id)).code == "forbidden"
    assert (await contacts_api.get(reader, contact_id)).ok
    sender = tenant.headers(tenant.send)
    assert (await contacts_api.get(sender, contact_id)).code == "forbidden"
    assert (await contacts_api.list(tenant.headers(tenant.write))).code == "forbidden"


async def test_revoked_and_unknown_keys_are_unauthenticated(
    contacts_api: Api, tenant: TenantKeys, db: Database
) -> None:
    key = await accounts.create_api_key(db, tenant_ref=tenant.slug, scopes="*", name="to revoke")
    assert (await contacts_api.list({"X-API-Key": key.key})).ok
    await accounts.revoke_api_key(db, key_id=key.id)
    assert (await contacts_api.list({"X-API-Key": key.key})).code == "unauthenticated"
    assert (await contacts_api.list({"X-API-Key": "wck_" + "x" * 43})).code == "unauthenticated"
    assert (await contacts_api.list({})).code == "unauthenticated"
