"""The garbage collector, tuned for a long-running server once start-up is done.

Measured with `bench/contacts.py` (docs/benchmarks.md): full collections walked everything start-up
built (the GraphQL schema, the tables, SQLAlchemy's caches) again and again, and they were the p99
of every endpoint. After start-up that heap is frozen (`gc.freeze`: out of the collector's view, never
freed), and the youngest generation is collected less often, since a request makes thousands of
short-lived objects and few cycles.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations between collections of the youngest generation (default 700)


def settle_heap() -> None:
    """Call once, when start-up has built what lives as long as the process."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
