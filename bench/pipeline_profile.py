"""A py-spy profile (bench/profiling.py's collapsed stacks) summarised by the layers of the send
pipeline: database, provider clients, the broker, the event loop, the service's own code.

bench/profiling.py's layers are those of a request (GraphQL, HTTP server); a worker's time goes to
other libraries (Dramatiq, redis-py, httpx, aiosmtplib), which it would count as "other".
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from profiling import RATE, Frame, load, parse_frame

# A sample is charged to the first library layer whose modules appear anywhere on its stack (the
# libraries a request or a send calls into), else to the layer of its leaf frame (the code that was
# running: the service's own, the HTTP server's, the event loop's), else to "other".
# Dramatiq's event-loop thread (dramatiq/asyncio.py) is at the bottom of every coroutine of a worker,
# so it marks no layer; its worker and consumer threads (dramatiq/worker.py) and redis-py do.
STACK_LAYERS = (
    ("database: SQLAlchemy + asyncpg/aiosqlite", ("sqlalchemy/", "sqlmodel/", "asyncpg/", "aiosqlite/")),
    ("provider HTTP client: httpx, httpcore, h11, anyio", ("httpx/", "httpcore/", "h11/", "anyio/")),
    ("SMTP client: aiosmtplib", ("aiosmtplib/",)),
    ("email MIME building: stdlib email", ("email/",)),
    ("broker: Dramatiq worker + consumer threads, redis-py", ("dramatiq/", "redis/")),
    (
        "input validation: pydantic, phonenumbers, email_validator",
        ("pydantic", "phonenumbers/", "email_validator/"),
    ),
    ("template rendering: Jinja2", ("jinja2/",)),
    ("JSON encoding: orjson, json", ("orjson", "json/")),
)
LEAF_LAYERS = (
    (
        "service code (gateway, resolvers, rest_compat, workers)",
        ("gateway/", "resolvers/", "rest_compat/", "workers/"),
    ),
    ("HTTP server: uvicorn + starlette", ("uvicorn/", "starlette/")),
    (
        "event loop: uvloop C code / asyncio, thread hand-offs",
        ("asyncio/", "threading.py", "concurrent/", "queue.py"),
    ),
)
EVENT_LOOP_THREAD = "dramatiq/asyncio.py"


def layer_of(frames: list[Frame]) -> str:
    modules = [frame.module for frame in frames if frame.module != EVENT_LOOP_THREAD]
    for layer, prefixes in STACK_LAYERS:
        if any(module.startswith(prefixes) for module in modules):
            return layer
    leaf = frames[-1].module
    return next((layer for layer, prefixes in LEAF_LAYERS if leaf.startswith(prefixes)), "other")


def by_layer(path: Path) -> tuple[int, Counter[str]]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[layer_of([parse_frame(text) for text in stack.split(";")])] += int(count)
    return sum(counts.values()), counts


def summarize_pipeline(path: Path, *, duration: float, top: int = 12) -> str:
    samples, layers = by_layer(path)
    if samples == 0:
        return f"{path.name}: no samples"
    busy = 100 * samples / (RATE * duration)
    lines = [
        f"{path.name}: {samples} samples with the GIL held, GIL held {busy:.0f}% of the time",
        "  by layer:",
    ]
    lines += [f"    {100 * count / samples:5.1f}%  {name}" for name, count in layers.most_common()]
    profile = load(path)
    for title, counter in (
        ("self time by function", profile.self_by_function),
        ("inclusive time of the service's own functions", profile.inclusive_service),
    ):
        lines.append(f"  {title}:")
        lines += [f"    {100 * count / samples:5.1f}%  {name}" for name, count in counter.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise py-spy profiles by the send pipeline's layers")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--duration", type=float, required=True, help="seconds recorded")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    for file in args.files:
        print(summarize_pipeline(file, duration=args.duration, top=args.top), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
