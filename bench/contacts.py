"""Load benchmark of the contacts endpoints against a bare Starlette ceiling (issue 2).

    .venv/bin/python bench/contacts.py [--duration 10] [--connections 32]
    .venv/bin/python bench/contacts.py --database-url postgresql+asyncpg://root@127.0.0.1:5432/test

Starts, in the same run, a bare Starlette app (bench/baseline_app.py) and `weconn serve` on a
fresh database, both as single uvicorn processes with the same settings on free loopback ports,
then drives each scenario with wrk and prints a Markdown table, the ratios against the targets
and the machine description. Servers, temporary files and the PostgreSQL database are removed
at the end, also on errors and Ctrl-C. Exits 1 when any request failed or a target was missed.
See docs/benchmarks.md for results and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from harness import (
    BENCH_DIR,
    UVICORN_FLAGS,
    Server,
    WrkResult,
    exit_cleanly_on_sigterm,
    failure_banner,
    free_port,
    http_json,
    lua_script,
    lua_string,
    machine_description,
    require_fast_uvicorn,
    require_wrk,
    results_table,
    run_wrk,
    serve,
    stop_process,
)
from profiling import start_py_spy, summarize
from sqlalchemy.engine import make_url

CONTACTS = "/api/v1/integrations/contacts"
GRAPHQL_QUERY = "query($id:Int!){contact(id:$id){id name email phone tags metadata createdAt updatedAt}}"
RUN_PLACEHOLDER = "__RUN__"  # replaced in each script by a token unique to that wrk run

BARE_POST = "bare POST /echo"
CREATE = "REST POST contacts"
BARE_GET = "bare GET /item/1"
REST_GET = "REST GET contacts/{id}"
REST_LIST = "REST GET contacts?per_page=20"
GRAPHQL_GET = "GraphQL contact(id)"


@dataclass(frozen=True)
class Options:
    duration: int
    connections: int
    threads: int
    warmup: int
    database_url: str | None
    profile_dir: Path | None
    py_spy: str | None


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # "bare" or "weconn"
    path: str
    lua: str
    body_error_marker: str | None = None


@dataclass(frozen=True)
class Ratio:
    label: str
    numerator: str
    denominator: str
    target: float | None


@dataclass(frozen=True)
class Servers:
    bare: Server
    weconn: Server
    api_key: str

    def of(self, scenario: Scenario) -> Server:
        return self.bare if scenario.server == "bare" else self.weconn


RATIOS = (
    Ratio("contacts create / bare POST", CREATE, BARE_POST, 0.25),
    Ratio("GraphQL contact(id) / REST GET contacts/{id}", GRAPHQL_GET, REST_GET, 0.5),
    Ratio("REST GET contacts/{id} / bare GET", REST_GET, BARE_GET, None),
)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    wrk = require_wrk()
    require_fast_uvicorn()
    exit_cleanly_on_sigterm()
    machine = machine_description()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weconn-bench-")))
        database_url, database = stack.enter_context(fresh_database(options.database_url))
        machine["database"] = database
        print_header(machine, options)
        servers = start_servers(stack, workdir, database_url)
        contact_id = probe(servers)
        plan = scenarios(servers.api_key, contact_id)
        results = [run_scenario(wrk, scenario, servers, workdir, options) for scenario in plan]
        total = count_contacts(servers)
    profiles = [path for scenario in plan if (path := profile_path(scenario, options)) and path.exists()]
    return report(results, total, profiles, options.duration)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="open connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before each scenario")
    parser.add_argument(
        "--database-url",
        help="postgresql+asyncpg://user@host:port/ADMIN_DB: a fresh database is created through the admin "
        "database for the run and dropped afterwards (default: embedded SQLite in a temp dir)",
    )
    parser.add_argument("--profile", type=Path, help="record py-spy profiles of WeConn into this directory")
    parser.add_argument("--py-spy", help="the py-spy executable (default: py-spy on PATH)")
    args = parser.parse_args(argv)
    if min(args.duration, args.connections, args.threads) < 1 or args.warmup < 0:
        parser.error("--duration, --connections and --threads must be positive, --warmup at least 0")
    py_spy = args.py_spy or shutil.which("py-spy")
    if args.profile and py_spy is None:
        parser.error("--profile needs py-spy: pip install py-spy in a separate venv and pass --py-spy PATH")
    return Options(
        duration=args.duration,
        connections=args.connections,
        threads=args.threads,
        warmup=args.warmup,
        database_url=args.database_url,
        profile_dir=args.profile,
        py_spy=py_spy,
    )


# --- database and servers ----------------------------------------------------------------------


@contextmanager
def fresh_database(admin_url: str | None) -> Iterator[tuple[str | None, str]]:
    """(URL for WECONN_DATABASE_URL, or None for the SQLite default; a description of the database)."""
    if admin_url is None:
        yield None, f"SQLite {sqlite3.sqlite_version} (embedded default, fresh data dir)"
        return
    url = make_url(admin_url)
    if not url.drivername.startswith("postgresql"):
        raise SystemExit("--database-url must be a postgresql+asyncpg:// URL")
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"weconn_bench_{secrets.token_hex(5)}"
    version = asyncio.run(_postgres(dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False), f"PostgreSQL {version} (fresh db)"
    finally:
        asyncio.run(_postgres(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres(dsn: str, statement: str) -> str:
    """Run one statement on the admin database; returns the server version."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(statement, timeout=60)
        return str(await connection.fetchval("SHOW server_version", timeout=10))
    finally:
        await connection.close(timeout=10)


def start_servers(stack: ExitStack, workdir: Path, database_url: str | None) -> Servers:
    bare = stack.enter_context(serve_baseline(workdir))
    weconn = stack.enter_context(serve_weconn(workdir, database_url))
    return Servers(bare=bare, weconn=weconn, api_key=read_api_key(weconn))


def serve_baseline(workdir: Path) -> AbstractContextManager[Server]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "baseline_app:app",
        "--app-dir", str(BENCH_DIR),
        "--host", "127.0.0.1",
        "--port", str(port),
        *UVICORN_FLAGS,
    ]  # fmt: skip
    log_path = workdir / "baseline.log"
    return serve("baseline", command, env=os.environ, port=port, log_path=log_path, ready_path="/item/1")


def serve_weconn(workdir: Path, database_url: str | None) -> AbstractContextManager[Server]:
    weconn = Path(sys.executable).parent / "weconn"
    if not weconn.exists():
        raise SystemExit(f"{weconn} is missing; run make .venv/.installed-stamp")
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("WECONN_")}
    env |= {"WECONN_DATA_DIR": str(workdir / "data"), "WECONN_LOG_LEVEL": "warning"}
    if database_url is not None:
        env["WECONN_DATABASE_URL"] = database_url
    command = [str(weconn), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = workdir / "weconn.log"
    return serve("weconn", command, env=env, port=port, log_path=log_path, ready_path="/readyz")


def read_api_key(server: Server) -> str:
    """The full-access key `weconn serve` prints on the first start of a fresh database."""
    for line in server.log_text().splitlines():
        if line.startswith("wck_"):
            return line.strip()
    raise RuntimeError(f"weconn printed no API key (a line starting with wck_):\n{server.log_text()}")


def probe(servers: Servers) -> int:
    """Check every WeConn request of the benchmark once; returns the id of a contact to read."""
    headers = {"X-API-Key": servers.api_key}
    url = servers.weconn.url
    body = {"name": "Probe", "email": f"probe-{secrets.token_hex(4)}@example.com", "tags": ["bench"]}
    status, created = http_json("POST", url + CONTACTS, body, headers)
    _expect(status == 201, "create", status, created)
    contact_id = int(created["data"]["id"])
    status, got = http_json("GET", f"{url}{CONTACTS}/{contact_id}", headers=headers)
    _expect(status == 200, "get", status, got)
    status, listed = http_json("GET", f"{url}{CONTACTS}?per_page=20", headers=headers)
    _expect(status == 200, "list", status, listed)
    status, answer = http_json("POST", url + "/graphql", _graphql_body(contact_id), headers)
    _expect(status == 200 and not answer.get("errors"), "graphql", status, answer)
    return contact_id


def _expect(ok: bool, what: str, status: int, body: object) -> None:
    if not ok:
        raise RuntimeError(f"probe {what} failed with {status}: {body}")


def _graphql_body(contact_id: int) -> dict[str, object]:
    return {"query": GRAPHQL_QUERY, "variables": {"id": contact_id}}


def count_contacts(servers: Servers) -> int:
    url = f"{servers.weconn.url}{CONTACTS}?per_page=1"
    status, body = http_json("GET", url, headers={"X-API-Key": servers.api_key})
    return int(body["meta"]["total"]) if status == 200 else -1


# --- scenarios ---------------------------------------------------------------------------------


def scenarios(api_key: str, contact_id: int) -> list[Scenario]:
    """Each WeConn scenario follows the bare one it is compared with; creates run before reads."""
    create = unique_contact_lua(api_key)
    read = get_lua(api_key)
    graphql_body = json.dumps(_graphql_body(contact_id), separators=(",", ":"))
    return [
        Scenario(BARE_POST, "bare", "/echo", create),
        Scenario(CREATE, "weconn", CONTACTS, create),
        Scenario(BARE_GET, "bare", "/item/1", read),
        Scenario(REST_GET, "weconn", f"{CONTACTS}/{contact_id}", read),
        Scenario(REST_LIST, "weconn", f"{CONTACTS}?per_page=20", read),
        Scenario(GRAPHQL_GET, "weconn", "/graphql", post_lua(api_key, graphql_body), '"errors"'),
    ]


def unique_contact_lua(api_key: str) -> str:
    """POSTs a contact whose email is unique per request: run token, wrk thread number, counter."""
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = {lua_string(api_key)}
local run = "{RUN_PLACEHOLDER}"
local counter = 0

function request()
  counter = counter + 1
  local body = string.format(
    '{{"name":"Bench %d-%d","email":"bench-%s-%d-%d@example.com","tags":["bench"],'
      .. '"metadata":{{"source":"wrk"}}}}',
    tid, counter, run, tid, counter)
  return wrk.format(nil, nil, nil, body)
end
"""


def get_lua(api_key: str) -> str:
    return f"""
wrk.method = "GET"
wrk.headers["X-API-Key"] = {lua_string(api_key)}
"""


def post_lua(api_key: str, body: str) -> str:
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = {lua_string(api_key)}
wrk.body = {lua_string(body)}
"""


def run_scenario(
    wrk: str, scenario: Scenario, servers: Servers, workdir: Path, options: Options
) -> WrkResult:
    """An unmeasured warm-up, then the measured run (sampled by py-spy when profiling)."""
    server = servers.of(scenario)
    if options.warmup:
        measure(wrk, scenario, server, workdir, options, warmup=True)
    print(f"running {scenario.name} for {options.duration}s ...", flush=True)
    with sampling(server, profile_path(scenario, options), options):
        result = measure(wrk, scenario, server, workdir, options, warmup=False)
    summary = f"  {result.ok_rps:,.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
    if result.failed:
        summary += f"  !!! ERRORS: {result.non_2xx} non-2xx, {result.socket_errors} socket"
        summary += f", {result.body_errors} error bodies"
    print(summary, flush=True)
    time.sleep(1)  # let the server settle between scenarios
    return result


def measure(
    wrk: str, scenario: Scenario, server: Server, workdir: Path, options: Options, *, warmup: bool
) -> WrkResult:
    name = f"{scenario.name} (warm-up)" if warmup else scenario.name
    script = workdir / f"{_slug(name)}.lua"
    lua = lua_script(scenario.lua, body_error_marker=scenario.body_error_marker)
    script.write_text(lua.replace(RUN_PLACEHOLDER, secrets.token_hex(6)))
    return run_wrk(
        wrk,
        name,
        server.url + scenario.path,
        script,
        duration=options.warmup if warmup else options.duration,
        connections=options.connections,
        threads=options.threads,
    )


def profile_path(scenario: Scenario, options: Options) -> Path | None:
    """Where the profile of a scenario goes; None when it is not profiled (only WeConn is)."""
    if options.profile_dir is None or scenario.server != "weconn":
        return None
    return options.profile_dir / f"{_slug(scenario.name)}.collapsed"


@contextmanager
def sampling(server: Server, output: Path | None, options: Options) -> Iterator[None]:
    """While the body runs, py-spy samples the server into `output`; nothing when output is None."""
    if output is None or options.py_spy is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    sampler = start_py_spy(options.py_spy, server.pid, output, duration=options.duration)
    try:
        yield
        _, errors = sampler.communicate(timeout=30)
        if sampler.returncode != 0:
            print(f"py-spy failed: {errors.decode(errors='replace')}", file=sys.stderr)
    finally:
        stop_process(sampler)


def _verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"  (target >= {target:.2f}: {'met' if value >= target else 'MISSED'})"


def _slug(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")


# --- report ------------------------------------------------------------------------------------


def print_header(machine: dict[str, str], options: Options) -> None:
    print("command: " + shlex.join([os.path.relpath(sys.executable), *sys.argv]))
    for name, value in machine.items():
        print(f"{name}: {value}")
    print(
        f"load: wrk, {options.connections} connections, {min(options.threads, options.connections)} threads, "
        f"{options.duration}s per scenario after {options.warmup}s warm-up",
        flush=True,
    )


def report(results: list[WrkResult], contacts_total: int, profiles: list[Path], duration: int) -> int:
    """Print the table, the ratios and any failure; the exit status says whether all is well."""
    print()
    print(results_table(results))
    print(f"\n(contacts in the tenant after the run, about what the reads ran against: {contacts_total:,})\n")
    by_name = {result.name: result for result in results}
    missed = 0
    for ratio in RATIOS:
        value = by_name[ratio.numerator].ok_rps / max(by_name[ratio.denominator].ok_rps, 1e-9)
        print(f"{ratio.label}: {value:.3f}{_verdict(value, ratio.target)}")
        missed += ratio.target is not None and value < ratio.target
    for file in profiles:
        print("\n" + summarize(file, duration=duration))
    banner = failure_banner(results)
    if banner is not None:
        print("\n" + banner, file=sys.stderr)
    return 1 if banner is not None or missed else 0


if __name__ == "__main__":
    sys.exit(main())
