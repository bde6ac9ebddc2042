"""``Store.allocate`` in process: codes per second and store bytes per allocated code (issue 16).

``PYTHONPATH=. .venv/bin/python bench/allocation_cost.py`` allocates 1,000,000 unit codes on a fresh
store, durable (fsync), in one call and as 10 calls of 100,000, five times each, alternating, and
prints per run: the rate with the codes made (``Allocation.packed``: fixed-width bytes, as the gRPC
service sends them), the rate of the reservation alone, and how much the data file's used pages grew
per 1,000,000 allocated codes (``Store.used_bytes``); then what a code costs once its first event
has come (100,000 codes printed, 1,000 a report: its record and slot, and the events).
"""

from __future__ import annotations

import statistics
import tempfile
import time

from linecode.serials import MasterKey
from linecode.store import Store
from tests.factories import make_batch, make_product

TOTAL = 1_000_000


def run(calls: int) -> tuple[float, float, int]:
    """(codes/s with the codes made, codes/s reserving only, store bytes per 1M codes)."""
    per_call = TOTAL // calls
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(d, master_key=MasterKey(b"k" * 32))
        make_product(store)
        make_batch(store, "B1")
        used = store.used_bytes()
        made = reserved = 0.0
        for _ in range(calls):
            start = time.perf_counter()
            allocation = store.allocate("B1", "unit", per_call)
            middle = time.perf_counter()
            codes, _ = allocation.packed
            assert len(codes) == per_call
            end = time.perf_counter()
            made += end - start
            reserved += middle - start
        grew = store.used_bytes() - used
        store.close()
    return TOTAL / made, TOTAL / reserved, grew * 1_000_000 // TOTAL


def printed_cost() -> int:
    """Store bytes per code once printed (100,000 codes, reported 1,000 at a time)."""
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(d, master_key=MasterKey(b"k" * 32), sync=False)
        make_product(store)
        make_batch(store, "B1")
        codes = store.allocate("B1", "unit", 100_000).codes
        used = store.used_bytes()
        for i in range(0, len(codes), 1000):
            store.report_events("printed", codes[i : i + 1000])
        grew = store.used_bytes() - used
        store.close()
    return grew // len(codes)


if __name__ == "__main__":
    results: dict[int, list[tuple[float, float, int]]] = {1: [], 10: []}
    for _ in range(5):
        for calls in (1, 10):
            results[calls].append(run(calls))
    for calls, runs in results.items():
        made = [r[0] / 1e6 for r in runs]
        reserved = [r[1] / 1e6 for r in runs]
        print(
            f"{TOTAL:,} codes in {calls} call(s): {statistics.median(made):.1f} M codes/s with the codes "
            f"made (runs {', '.join(f'{m:.1f}' for m in made)}); reserving only "
            f"{statistics.median(reserved):,.0f} M codes/s; {runs[0][2]:,} store bytes per 1,000,000 codes"
        )
    print(f"once printed: {printed_cost()} store bytes per code (record, slot and its share of the events)")
