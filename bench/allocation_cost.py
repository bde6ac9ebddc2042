"""``Store.allocate`` in process: codes per second and store bytes per allocated code (issue 16).

``PYTHONPATH=. .venv/bin/python bench/allocation_cost.py`` allocates 1,000,000 unit codes as 10 calls of
100,000 (durable, fsync) on a fresh store, three times, and prints the rate and how much the data
file's used pages grew per code (``Store.used_bytes``).
"""

from __future__ import annotations

import tempfile
import time

from linecode.serials import MasterKey
from linecode.store import Store
from tests.factories import make_batch, make_product

CALLS, PER_CALL = 10, 100_000

if __name__ == "__main__":
    for _ in range(3):
        with tempfile.TemporaryDirectory() as d:
            store = Store.open(d, master_key=MasterKey(b"k" * 32))
            make_product(store)
            make_batch(store, "B1")
            used = store.used_bytes()
            start = time.perf_counter()
            for _ in range(CALLS):
                store.allocate("B1", "unit", PER_CALL)
            seconds = time.perf_counter() - start
            grew = store.used_bytes() - used
            store.close()
        n = CALLS * PER_CALL
        print(f"{n:,} codes: {n / seconds / 1e6:.2f} M codes/s; {grew / n:.0f} store bytes per code")
