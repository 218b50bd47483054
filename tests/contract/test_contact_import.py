"""Contact import over REST: CSV and JSON lines, upsert by email then phone, per-row errors, limits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from gateway.db import Database
from gateway.settings import Settings
from gateway.tables import Contact, ContactTag
from gateway.tables.columns import table_of
from resolvers.contact_import import MAX_IMPORT_ROWS, MAX_REPORTED_ERRORS
from tests.support.tenants import TenantKeys, new_tenant
from tests.support.webhook_receiver import start_receiver
from tests.support.webhook_service import register, webhook_service

CONTACTS_URL = "/api/v1/integrations/contacts"
IMPORT_URL = CONTACTS_URL + "/import"
CSV = "text/csv"
NDJSON = "application/x-ndjson"
CONTACTS = table_of(Contact)
CONTACT_TAGS = table_of(ContactTag)


def phone(number: int) -> str:
    return f"+4074{number:07d}"


def jsonl(*rows: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps(row) for row in rows) + b"\n"


async def post_import(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    body: bytes | str,
    content_type: str = CSV,
    *,
    key: str | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    headers = {**tenant.headers(key or tenant.write), "Content-Type": content_type}
    return await client.post(IMPORT_URL, content=content, headers=headers, params=params)


async def contacts_of(client: httpx.AsyncClient, tenant: TenantKeys, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(CONTACTS_URL, params={"per_page": 100, **params}, headers=tenant.headers())
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def assert_tag_rows_match(db: Database, tenant_id: int) -> None:
    """contact_tags holds exactly the tags of each contact's tags column, once each."""
    async with db.reading() as connection:
        stored = await connection.execute(
            select(CONTACTS.c.id, CONTACTS.c.tags).where(CONTACTS.c.tenant_id == tenant_id)
        )
        expected = sorted((row.id, tag) for row in stored for tag in row.tags)
        indexed = await connection.execute(
            select(CONTACT_TAGS.c.contact_id, CONTACT_TAGS.c.tag).where(CONTACT_TAGS.c.tenant_id == tenant_id)
        )
        assert sorted((row.contact_id, row.tag) for row in indexed) == expected


async def test_csv_import_creates_normalised_contacts(
    client: httpx.AsyncClient, tenant: TenantKeys, db: Database
) -> None:
    body = (
        "Name,email,phone,tags,metadata.source,metadata\r\n"
        'Maria Ionescu,Maria@Example.com,+40 740 000 001,vip;newsletter,crm,"{""score"": 7}"\r\n'
        "\r\n"
        ",andrei@example.com,,newsletter,,\r\n"
        "Ion,,+40740000003,,,\r\n"
    )
    response = await post_import(client, tenant, body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {"total": 3, "created": 3, "updated": 0, "failed": 0, "errors": [], "errors_truncated": False}
    }
    by_email = {contact["email"]: contact for contact in await contacts_of(client, tenant)}
    maria = by_email["maria@example.com"]
    assert maria["name"] == "Maria Ionescu"
    assert maria["phone"] == phone(1)
    assert maria["tags"] == ["vip", "newsletter"]
    assert maria["metadata"] == {"score": 7, "source": "crm"}
    assert by_email["andrei@example.com"]["name"] == ""
    assert by_email[None]["phone"] == phone(3)
    newsletter = await contacts_of(client, tenant, tag="newsletter")
    assert {contact["email"] for contact in newsletter} == {"maria@example.com", "andrei@example.com"}
    await assert_tag_rows_match(db, tenant.id)


@pytest.mark.parametrize("content_type", [NDJSON, "application/jsonl", "application/x-ndjson; charset=utf-8"])
async def test_json_lines_import(client: httpx.AsyncClient, tenant: TenantKeys, content_type: str) -> None:
    body = jsonl(
        {"first_name": "Ana", "last_name": "Pop", "email": "ana@example.com", "tags": ["a"]},
        {"name": "Bogdan", "phone": phone(11), "metadata": {"plan": {"tier": 2}}},
    )
    response = await post_import(client, tenant, body, content_type)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["created"] == 2
    contacts = {contact["name"]: contact for contact in await contacts_of(client, tenant)}
    assert contacts["Ana Pop"]["tags"] == ["a"]
    assert contacts["Bogdan"]["metadata"] == {"plan": {"tier": 2}}


async def test_the_format_query_names_the_format_when_the_content_type_does_not(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    body = jsonl({"email": "q@example.com"})
    named = await post_import(client, tenant, body, "application/octet-stream", params={"format": "jsonl"})
    assert named.status_code == 200, named.text
    assert named.json()["data"]["created"] == 1
    unnamed = await post_import(client, tenant, body, "application/octet-stream")
    assert unnamed.status_code == 400
    assert unnamed.json()["error"]["code"] == "bad_request"
    unknown = await post_import(client, tenant, body, "text/plain", params={"format": "xlsx"})
    assert unknown.status_code == 422
    assert "format" in unknown.json()["error"]["fields"]


async def test_upsert_by_email_merges_tags_and_keeps_what_the_row_omits(
    client: httpx.AsyncClient, tenant: TenantKeys, db: Database
) -> None:
    created = await client.post(
        CONTACTS_URL,
        json={"name": "Elena", "email": "elena@example.com", "tags": ["old"], "metadata": {"a": 1}},
        headers=tenant.headers(),
    )
    assert created.status_code == 201
    body = "email,phone,tags,name\r\nELENA@example.com,+40740000021,new;old,\r\n"
    response = await post_import(client, tenant, body)
    assert response.json()["data"] | {"errors": None} == {
        "total": 1, "created": 0, "updated": 1, "failed": 0, "errors": None, "errors_truncated": False,
    }  # fmt: skip
    [contact] = await contacts_of(client, tenant)
    assert contact["id"] == created.json()["data"]["id"]
    assert contact["name"] == "Elena"
    assert contact["phone"] == phone(21)
    assert contact["tags"] == ["old", "new"]
    assert contact["metadata"] == {"a": 1}
    assert [c["id"] for c in await contacts_of(client, tenant, tag="new")] == [contact["id"]]
    await assert_tag_rows_match(db, tenant.id)


async def test_upsert_by_phone_when_no_contact_has_the_email(
    client: httpx.AsyncClient, tenant: TenantKeys, db: Database
) -> None:
    created = await client.post(
        CONTACTS_URL, json={"name": "Radu", "phone": phone(31), "tags": ["x"]}, headers=tenant.headers()
    )
    assert created.status_code == 201
    body = jsonl({"email": "radu@example.com", "phone": "+40 740 000 031", "name": "Radu M", "metadata": {}})
    response = await post_import(client, tenant, body, NDJSON)
    assert response.json()["data"]["updated"] == 1
    [contact] = await contacts_of(client, tenant)
    assert contact["id"] == created.json()["data"]["id"]
    assert (contact["name"], contact["email"], contact["tags"]) == ("Radu M", "radu@example.com", ["x"])
    await assert_tag_rows_match(db, tenant.id)


async def test_email_and_phone_of_two_different_contacts_fail_that_row_only(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    first = await client.post(CONTACTS_URL, json={"email": "one@example.com"}, headers=tenant.headers())
    second = await client.post(CONTACTS_URL, json={"phone": phone(41)}, headers=tenant.headers())
    body = "email,phone,name\r\none@example.com,+40740000041,Both\r\nthree@example.com,,Three\r\n"
    response = await post_import(client, tenant, body)
    assert response.status_code == 200
    report = response.json()["data"]
    assert (report["total"], report["created"], report["updated"], report["failed"]) == (2, 1, 0, 1)
    [error] = report["errors"]
    assert (error["row"], error["field"]) == (1, "phone")
    assert str(first.json()["data"]["id"]) in error["message"]
    assert str(second.json()["data"]["id"]) in error["message"]
    names = {contact["name"] for contact in await contacts_of(client, tenant)}
    assert names == {"", "Three"}


async def test_bad_rows_are_reported_with_their_row_numbers(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    body = (
        "name,email,phone,metadata\r\n"
        "Good,good@example.com,,\r\n"
        "Bad email,not-an-email,,\r\n"
        "No address,,,\r\n"
        "Bad phone,,12345,\r\n"
        'Bad metadata,meta@example.com,,"[1, 2]"\r\n'
        "Too,many@example.com,,,extra\r\n"
        "Also good,,+40740000051,\r\n"
    )
    report = (await post_import(client, tenant, body)).json()["data"]
    assert (report["total"], report["created"], report["failed"]) == (7, 2, 5)
    assert [(error["row"], error["field"]) for error in report["errors"]] == [
        (2, "email"), (3, None), (4, "phone"), (5, "metadata"), (6, None),
    ]  # fmt: skip
    assert all(error["message"] for error in report["errors"])
    lines = jsonl({"email": "ok@example.com"}, {"email": "x@example.com", "colour": "red"}, {"tags": "vip"})
    lines += b"{not json\n[1]\n"
    report = (await post_import(client, tenant, lines, NDJSON)).json()["data"]
    assert (report["total"], report["created"], report["failed"]) == (5, 1, 4)
    assert [(error["row"], error["field"]) for error in report["errors"]] == [
        (2, "colour"), (3, "tags"), (4, None), (5, None),
    ]  # fmt: skip


async def test_duplicate_rows_in_one_file_update_the_first(
    client: httpx.AsyncClient, tenant: TenantKeys, db: Database
) -> None:
    body = (
        "name,email,phone,tags\r\n"
        "First,dup@example.com,,a\r\n"
        "Second,DUP@example.com,+40740000061,b\r\n"
        ",,+40740000061,c\r\n"
        "First,dup@example.com,,a\r\n"
    )
    report = (await post_import(client, tenant, body)).json()["data"]
    assert (report["total"], report["created"], report["updated"], report["failed"]) == (4, 1, 3, 0)
    [contact] = await contacts_of(client, tenant)
    assert (contact["name"], contact["email"], contact["phone"]) == ("First", "dup@example.com", phone(61))
    assert contact["tags"] == ["a", "b", "c"]
    await assert_tag_rows_match(db, tenant.id)


async def test_an_address_can_move_between_contacts_within_one_file(
    client: httpx.AsyncClient, tenant: TenantKeys, db: Database
) -> None:
    """Two contacts swap phones through rows that first move one phone away: no constraint trips."""
    for email, number in (("x@example.com", 71), ("y@example.com", 72)):
        created = await client.post(
            CONTACTS_URL, json={"email": email, "phone": phone(number)}, headers=tenant.headers()
        )
        assert created.status_code == 201
    body = (
        "email,phone\r\n"
        "x@example.com,+40740000073\r\n"  # x leaves 71 for 73
        "y@example.com,+40740000071\r\n"  # y takes 71 and leaves 72
        "x@example.com,+40740000072\r\n"  # x takes 72
    )
    report = (await post_import(client, tenant, body)).json()["data"]
    assert (report["updated"], report["failed"]) == (3, 0), report
    phones = {contact["email"]: contact["phone"] for contact in await contacts_of(client, tenant)}
    assert phones == {"x@example.com": phone(72), "y@example.com": phone(71)}


async def test_tags_past_the_limit_fail_the_row(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    first = jsonl({"email": "t@example.com", "tags": [f"a{n}" for n in range(40)]})
    assert (await post_import(client, tenant, first, NDJSON)).json()["data"]["created"] == 1
    more = jsonl({"email": "t@example.com", "tags": [f"b{n}" for n in range(20)]})
    report = (await post_import(client, tenant, more, NDJSON)).json()["data"]
    assert report["failed"] == 1
    assert report["errors"][0]["field"] == "tags"
    [contact] = await contacts_of(client, tenant)
    assert len(contact["tags"]) == 40


async def test_errors_are_capped(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    rows = MAX_REPORTED_ERRORS + 5
    body = "email\r\n" + "bad\r\n" * rows
    report = (await post_import(client, tenant, body)).json()["data"]
    assert (report["total"], report["failed"]) == (rows, rows)
    assert len(report["errors"]) == MAX_REPORTED_ERRORS
    assert report["errors_truncated"] is True
    assert report["errors"][-1]["row"] == MAX_REPORTED_ERRORS


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", CSV),
        (b"\r\n\r\n", CSV),
        (b"name,email\r\n", CSV),
        (b"", NDJSON),
        (b"\xff\xfe\x00\x01garbage", CSV),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", NDJSON),
        (b"colour,size\r\nred,xl\r\n", CSV),
        (b"name,name,email\r\na,b,c@example.com\r\n", CSV),
        (b"name\r\nAna\r\n", CSV),
        (b'email\r\n"unclosed@example.com\r\n', CSV),
        (b"name,email\r\nAna,ana@example.com\r\n", NDJSON),
    ],
)
async def test_files_that_cannot_be_imported_are_422(
    client: httpx.AsyncClient, tenant: TenantKeys, body: bytes, content_type: str
) -> None:
    response = await post_import(client, tenant, body, content_type)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "body" in error["fields"]
    assert await contacts_of(client, tenant) == []


async def test_more_rows_than_the_limit_are_refused_before_any_write(
    client: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    body = "email\n" + "".join(f"u{n}@example.com\n" for n in range(MAX_IMPORT_ROWS + 1))
    response = await post_import(client, tenant, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await contacts_of(client, tenant) == []


async def test_a_body_over_the_import_limit_is_413(
    client: httpx.AsyncClient, tenant: TenantKeys, settings: Settings
) -> None:
    response = await post_import(client, tenant, b"e" * (settings.import_max_bytes + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_import_needs_the_write_scope(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    body = "email\r\nscope@example.com\r\n"
    for key in (tenant.read, tenant.send):
        response = await post_import(client, tenant, body, key=key)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    anonymous = await client.post(IMPORT_URL, content=body, headers={"Content-Type": CSV})
    assert anonymous.status_code == 401
    assert (await post_import(client, tenant, body, key=tenant.full)).status_code == 200


async def test_imports_stay_inside_the_callers_tenant(
    client: httpx.AsyncClient, tenant: TenantKeys, other_tenant: TenantKeys
) -> None:
    created = await client.post(
        CONTACTS_URL, json={"email": "shared@example.com", "name": "Theirs"}, headers=other_tenant.headers()
    )
    assert created.status_code == 201
    report = (await post_import(client, tenant, "email,name\r\nshared@example.com,Mine\r\n")).json()["data"]
    assert report["created"] == 1
    [theirs] = await contacts_of(client, other_tenant)
    assert theirs["name"] == "Theirs"


async def test_openapi_documents_the_import_body(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/integrations/contacts/import"]["post"]
    assert operation["x-scope"] == "write"
    assert operation["x-extension"] is True
    assert {"text/csv", "application/x-ndjson"} <= set(operation["requestBody"]["content"])
    assert "413" in operation["responses"]


async def test_a_hundred_thousand_rows_in_one_request(
    client: httpx.AsyncClient, tenant: TenantKeys, db: Database
) -> None:
    rows = MAX_IMPORT_ROWS
    lines = ["name,email,phone,tags,metadata.n"]
    lines += [
        f"User {n},user{n}@example.com,{phone(n)},bulk;{'even' if n % 2 == 0 else 'odd'},{n}"
        for n in range(rows)
    ]
    body = ("\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    response = await post_import(client, tenant, body)
    elapsed = time.perf_counter() - started
    print(f"\nimported {rows} rows ({len(body) / 1e6:.1f} MB) in {elapsed:.1f} s")
    assert response.status_code == 200, response.text[:500]
    assert response.json()["data"] == {
        "total": rows, "created": rows, "updated": 0, "failed": 0, "errors": [], "errors_truncated": False,
    }  # fmt: skip
    listed = await client.get(CONTACTS_URL, params={"tag": "even", "per_page": 1}, headers=tenant.headers())
    assert listed.json()["meta"]["total"] == rows // 2
    found = await client.get(CONTACTS_URL, params={"search": "user99999@"}, headers=tenant.headers())
    [contact] = found.json()["data"]
    assert (contact["phone"], contact["metadata"]) == (phone(99_999), {"n": "99999"})
    async with db.reading() as connection:
        tag_rows = await connection.execute(
            select(func.count()).select_from(CONTACT_TAGS).where(CONTACT_TAGS.c.tenant_id == tenant.id)
        )
        assert tag_rows.scalar_one() == 2 * rows


async def test_imported_contacts_raise_contact_webhooks(tmp_path: Path) -> None:
    """As a create or an update through the API does: one event per contact, after the commit."""
    receiver = start_receiver()
    try:
        async with webhook_service(tmp_path) as service:
            transport = httpx.ASGITransport(app=service)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                tenant = await new_tenant(service.state.db)
                existing = await http.post(
                    CONTACTS_URL, json={"email": "old@example.com"}, headers=tenant.headers()
                )
                hook = await register(
                    http, tenant, receiver.url("/import"), events=["contact.created", "contact.updated"]
                )
                body = "email,name,tags\r\nold@example.com,Old,x\r\nnew@example.com,New,\r\nbad,,\r\n"
                report = (await post_import(http, tenant, body)).json()["data"]
                assert (report["created"], report["updated"], report["failed"]) == (1, 1, 1)
                received = [
                    request.verify(hook["secret"]) for request in await receiver.wait_for("/import", 2)
                ]
    finally:
        receiver.server.shutdown()
    by_type = {event["type"]: event["data"] for event in received}
    assert by_type["contact.updated"]["id"] == existing.json()["data"]["id"]
    assert (by_type["contact.updated"]["name"], by_type["contact.updated"]["tags"]) == ("Old", ["x"])
    assert by_type["contact.created"]["email"] == "new@example.com"
    assert isinstance(by_type["contact.created"]["id"], int)
