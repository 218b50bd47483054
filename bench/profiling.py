"""Sampling profiles of a server under load with py-spy, and a plain-text summary of them.

py-spy is not a dependency of the service: install it in a separate virtualenv, for example
`python3 -m venv /tmp/pyspy-venv && /tmp/pyspy-venv/bin/pip install py-spy`, then pass
`--py-spy /tmp/pyspy-venv/bin/py-spy` (or put it on PATH) together with `--profile DIR`.

Only samples where a thread holds the GIL are kept (`py-spy --gil`): the service runs its
Python code on one event-loop thread, so GIL time is the CPU budget it spends per request, and
the sample count over the possible ticks says how busy that budget is. Threads that merely wait
(aiosqlite's worker threads blocked on their queues, the loop in epoll) are left out; py-spy's
own idle detection misreads those threads as busy.

Profiles are written in the collapsed-stack format ("frame;frame;frame count" per line), which
speedscope.app and flamegraph.pl read. Run this module on such files to print their summary:
`python bench/profiling.py DIR/*.collapsed`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

RATE = 200  # samples per second
SERVICE_PACKAGES = ("gateway", "resolvers", "rest_compat", "schema", "workers")
ENTRY_MODULES = ("gateway/cli.py",)  # on every stack: nothing to learn from their inclusive time
# Each sample is charged to the first layer found anywhere on its stack, else to its leaf's layer.
# (SQLAlchemy runs ORM code inside greenlets, whose stacks lack the callers; the layer view is
# exact regardless, while inclusive times of service functions understate database work.)
STACK_LAYERS = (
    ("GraphQL parse + validate", ("graphql/language/", "graphql/validation/", "graphql/utilities/type_info")),
    ("database: SQLAlchemy/SQLModel + driver", ("sqlalchemy/", "sqlmodel/", "aiosqlite/", "asyncpg/")),
    ("GraphQL execution (strawberry, graphql-core)", ("strawberry/", "graphql/")),
    ("input validation (pydantic, email, phone)", ("pydantic", "email_validator/", "phonenumbers/")),
)
LEAF_LAYERS = (
    (
        "service code (gateway, resolvers, rest_compat, schema)",
        tuple(f"{name}/" for name in SERVICE_PACKAGES),
    ),
    ("HTTP: uvicorn + starlette", ("uvicorn/", "starlette/")),
    ("event loop: uvloop C code (sockets, callbacks)", ("asyncio/runners.py",)),
)
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def start_py_spy(py_spy: str, pid: int, output: Path, *, duration: int) -> subprocess.Popen[bytes]:
    """Sample the GIL holder of `pid` for `duration` seconds into a collapsed-stack file."""
    command = [
        py_spy, "record",
        "--pid", str(pid),
        "--duration", str(duration),
        "--rate", str(RATE),
        "--format", "raw",
        "--function",
        "--gil",
        "--nonblocking",
        "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


@dataclass(frozen=True)
class Frame:
    function: str
    module: str  # as py-spy names it, relative to sys.path: "sqlalchemy/orm/session.py"
    package: str  # "sqlalchemy", "weconn:resolvers", "stdlib:asyncio"

    @property
    def label(self) -> str:
        return f"{self.function} ({self.module})"


def parse_frame(text: str) -> Frame:
    match = FRAME.match(text)
    if match is None:
        return Frame(function=text, module="?", package="?")
    module = match.group("file").split("site-packages/", 1)[-1]
    return Frame(function=match.group("function"), module=module, package=_package(module))


def _package(module: str) -> str:
    if module.startswith("<string>"):
        return "(generated code)"
    # "sqlalchemy/orm/session.py", "<sqlalchemy generated ...>", "<frozen importlib._bootstrap>"
    top = module.strip("<>").split("/", 1)[0].split(" ", 1)[0].removesuffix(".py")
    if top in SERVICE_PACKAGES:
        return "weconn:" + top
    if top in sys.stdlib_module_names or top == "frozen":
        return "stdlib:" + top
    return top


@dataclass
class Profile:
    samples: int = 0
    by_layer: Counter[str] = field(default_factory=Counter)
    self_by_package: Counter[str] = field(default_factory=Counter)
    self_by_function: Counter[str] = field(default_factory=Counter)
    inclusive_service: Counter[str] = field(default_factory=Counter)  # own functions, with callees


def load(path: Path) -> Profile:
    profile = Profile()
    for stack, count in _stacks(path.read_text().splitlines()):
        frames = [parse_frame(text) for text in stack]
        leaf = frames[-1]
        profile.samples += count
        profile.by_layer[layer_of(frames)] += count
        profile.self_by_package[leaf.package] += count
        profile.self_by_function[leaf.label] += count
        for label in {frame.label for frame in frames if _is_service(frame)}:
            profile.inclusive_service[label] += count
    return profile


def layer_of(frames: list[Frame]) -> str:
    for layer, prefixes in STACK_LAYERS:
        if any(frame.module.startswith(prefixes) for frame in frames):
            return layer
    leaf = frames[-1]
    return next((layer for layer, prefixes in LEAF_LAYERS if leaf.module.startswith(prefixes)), "other")


def _is_service(frame: Frame) -> bool:
    return frame.package.startswith("weconn:") and frame.module not in ENTRY_MODULES


def _stacks(lines: Iterable[str]) -> Iterable[tuple[list[str], int]]:
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def summarize(path: Path, *, top: int = 12, duration: float | None = None) -> str:
    """Where the GIL time went: by package, by function, and inside the service's own code."""
    profile = load(path)
    if profile.samples == 0:
        return f"{path.name}: no samples"
    busy = (
        "" if duration is None else f", GIL held {100 * profile.samples / (RATE * duration):.0f}% of the time"
    )
    lines = [f"{path.name}: {profile.samples} samples with the GIL held{busy}"]
    sections = (
        ("by layer", profile.by_layer),
        ("self time by package", profile.self_by_package),
        ("self time by function", profile.self_by_function),
        ("inclusive time of the service's own functions", profile.inclusive_service),
    )
    for title, counter in sections:
        lines.append(f"  {title}:")
        lines.extend(
            f"    {100 * count / profile.samples:5.1f}%  {name}" for name, count in counter.most_common(top)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise py-spy collapsed-stack profiles")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--duration", type=float, help="seconds recorded, to show how busy the GIL was")
    args = parser.parse_args(argv)
    for file in args.files:
        print(summarize(file, top=args.top, duration=args.duration), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
