"""The `weconn` command: serve, migrate, administration of tenants, users and API keys, imports."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.db import Database
from gateway.migrate import upgrade_to_head
from gateway.queue import QUEUES
from gateway.settings import Settings, get_settings
from gateway.startup import announce_demo_key, prepare_database
from resolvers import accounts, contact_import
from resolvers.contact_import_parsing import FORMATS
from resolvers.errors import DomainError
from resolvers.tenants import create_tenant

ResultT = TypeVar("ResultT")
FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
SHOWN_IMPORT_ERRORS = 20


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        return int(args.run(args, settings) or 0)
    except DomainError as error:
        detail = "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in error.fields.items())
        print(f"error: {error.message}" + (f" ({detail})" if detail else ""), file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weconn", description="WeConn messaging gateway")
    commands = parser.add_subparsers(required=True, dest="command")

    serve = commands.add_parser("serve", help="migrate, then serve HTTP and GraphQL")
    serve.add_argument("--host", help="bind address (default WECONN_HOST)")
    serve.add_argument("--port", type=int, help="port (default WECONN_PORT)")
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)

    worker = commands.add_parser("worker", help="consume the Redis queue (scaled-out mode)")
    worker.add_argument("--threads", type=int, default=16, help="concurrent messages (default 16)")
    worker.add_argument(
        "--queues",
        type=_queue_names,
        help=f"consume only these queues, comma-separated: {', '.join(sorted(QUEUES))} (default: all)",
    )
    worker.set_defaults(run=_worker)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(required=True, dest="action")
    tenant_create = tenant.add_parser("create", help="create a tenant; prints its id")
    tenant_create.add_argument("--slug", required=True)
    tenant_create.add_argument("--name", default="")
    tenant_create.set_defaults(run=_tenant_create)

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(
        required=True, dest="action"
    )
    apikey_create = apikey.add_parser("create", help="create a key; the key is the last line of output")
    apikey_create.add_argument("--tenant", required=True, help="tenant slug or id")
    apikey_create.add_argument("--scopes", default="read", help="comma-separated: read,write,send or *")
    apikey_create.add_argument("--name", default="cli")
    apikey_create.set_defaults(run=_apikey_create)
    apikey_revoke = apikey.add_parser("revoke", help="revoke a key by id")
    apikey_revoke.add_argument("key_id", type=int)
    apikey_revoke.set_defaults(run=_apikey_revoke)

    user = commands.add_parser("user", help="manage dashboard users").add_subparsers(
        required=True, dest="action"
    )
    user_create = user.add_parser("create", help="create a user and make it a member of a tenant")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--password", required=True)
    user_create.add_argument("--tenant", required=True, help="tenant slug or id")
    user_create.add_argument("--role", default="member", choices=accounts.ROLES)
    user_create.set_defaults(run=_user_create)

    contacts = commands.add_parser("contacts", help="manage contacts").add_subparsers(
        required=True, dest="action"
    )
    contacts_import = contacts.add_parser(
        "import", help="import a CSV or JSON lines file into a tenant (upsert by email, then phone)"
    )
    contacts_import.add_argument("file", type=Path)
    contacts_import.add_argument("--tenant", required=True, help="tenant slug or id")
    contacts_import.add_argument("--format", choices=FORMATS, help="default: from the file name's extension")
    contacts_import.set_defaults(run=_contacts_import)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    created = asyncio.run(prepare_database(settings))
    if created is not None:
        print(announce_demo_key(created), flush=True)
    from gateway.app import create_app  # noqa: PLC0415 - the app is only built when serving

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=True,
        # Status frames are a few hundred bytes: compressing each cost more CPU per event than the
        # rest of its send, and 40 KB of zlib state per socket (docs/benchmarks.md, Subscriptions).
        ws_per_message_deflate=False,
    )
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from workers.process import run_worker  # noqa: PLC0415 - only a worker process needs the workers

    asyncio.run(_with_db(settings, lambda db: upgrade_to_head(db.engine)))
    run_worker(settings, threads=args.threads, queues=args.queues)
    return 0


def _queue_names(text: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = names - QUEUES
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown queue(s) {sorted(unknown)}; known: {sorted(QUEUES)}")
    return names


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_with_db(settings, lambda db: upgrade_to_head(db.engine)))
    print("database is at the newest revision")
    return 0


def _tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    async def create(db: Database) -> int:
        async with db.sessions() as session:
            tenant = await create_tenant(session, slug=args.slug, name=args.name)
            await session.commit()
            assert tenant.id is not None
            return tenant.id

    print(asyncio.run(_with_db(settings, create)))
    return 0


def _apikey_create(args: argparse.Namespace, settings: Settings) -> int:
    created = asyncio.run(
        _with_db(
            settings,
            lambda db: accounts.create_api_key(
                db, tenant_ref=args.tenant, scopes=args.scopes, name=args.name
            ),
        )
    )
    print(f"created API key {created.id} for tenant {created.tenant_id} with scopes {created.scopes}")
    print(created.key)
    return 0


def _apikey_revoke(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_with_db(settings, lambda db: accounts.revoke_api_key(db, key_id=args.key_id)))
    print(f"revoked API key {args.key_id}")
    return 0


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    user = asyncio.run(
        _with_db(
            settings,
            lambda db: accounts.create_user(
                db, email=args.email, password=args.password, tenant_ref=args.tenant, role=args.role
            ),
        )
    )
    print(f"user {user.id} ({user.email}) is now {args.role} of tenant {args.tenant}")
    return 0


def _contacts_import(args: argparse.Namespace, settings: Settings) -> int:
    """Exit status 0 when every row was imported, 1 when some failed, 2 when the file was refused."""
    path: Path = args.file
    file_format = args.format or FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if file_format is None:
        print(f"error: cannot tell the format of {path.name}; pass --format csv or jsonl", file=sys.stderr)
        return 2
    try:
        body = path.read_bytes()
    except OSError as error:
        print(f"error: cannot read {path}: {error.strerror}", file=sys.stderr)
        return 2
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(f"importing {path.name}", total=None, visible=False)  # until a row is read

        def show(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, visible=True)

        report = asyncio.run(
            _with_db(
                settings,
                lambda db: contact_import.import_contacts_as_operator(
                    db, tenant_ref=args.tenant, body=body, file_format=file_format, progress=show
                ),
            )
        )
    print(f"{report.total} rows: {report.created} created, {report.updated} updated, {report.failed} failed")
    for failure in report.errors[:SHOWN_IMPORT_ERRORS]:
        print(f"row {failure.row}{f' {failure.field}' if failure.field else ''}: {failure.message}")
    if len(report.errors) > SHOWN_IMPORT_ERRORS or report.errors_truncated:
        print(f"... and more errors ({report.failed} rows failed in all)")
    return 1 if report.failed else 0


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[ResultT]]) -> ResultT:
    db = Database(settings)
    try:
        await upgrade_to_head(db.engine)
        return await work(db)
    finally:
        await db.dispose()


if __name__ == "__main__":
    sys.exit(main())
