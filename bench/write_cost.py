"""CPU per ``Store.aggregate`` without fsync or threads: what the store's Python costs a write.

``PYTHONPATH=TREE .venv/bin/python bench/write_cost.py`` prints the best of 3 rounds, µs per call:
one caller (``sync=False, group_commit=False``), 2000 ``aggregate`` calls with idempotency keys,
10 units each, after 20,000 units and 2000 bundles are commissioned. Runs against a tree of before
issue 15 too (it then passes ``idempotency_key=`` instead of an ``Origin``), for A/B in alternation
(bench/RESULTS.md, The house).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from typing import Any

from linecode.serials import MasterKey
from linecode.store import CodeRule, Level, Store

ORIGIN: Any
try:
    from linecode.store import Origin as ORIGIN
except ImportError:  # a tree from before issue 15
    ORIGIN = None

LEVELS = (
    Level("unit", CodeRule.NMPA20, "8600001"),
    Level("bundle", CodeRule.NMPA20, "8600002", pack_ratio=10),
)


def keyed(key: str) -> dict[str, Any]:
    return {"origin": ORIGIN(idempotency_key=key)} if ORIGIN is not None else {"idempotency_key": key}


def one_round() -> float:
    with tempfile.TemporaryDirectory() as d:
        store = Store.open(d, master_key=MasterKey(b"k" * 32), sync=False, group_commit=False)
        store.create_product("p", "x", "y", LEVELS)
        made, expires = dt.date(2026, 1, 1), dt.date(2028, 1, 1)
        store.create_batch("p", "B1", production_date=made, expiry_date=expires, line="L", planned_quantity=1)
        units = list(store.allocate("B1", "unit", 20_000).codes)
        bundles = list(store.allocate("B1", "bundle", 2000).codes)
        for codes in (units, bundles):
            for i in range(0, len(codes), 5000):
                store.report_events("printed", codes[i : i + 5000])
                store.report_events("verified", codes[i : i + 5000])
        start = time.perf_counter()
        for i, bundle in enumerate(bundles):
            store.aggregate(bundle, units[i * 10 : (i + 1) * 10], **keyed(f"k{i}"))
        seconds = time.perf_counter() - start
        store.close()
    return seconds / len(bundles) * 1e6


if __name__ == "__main__":
    print(f"{min(one_round() for _ in range(3)):.1f}")
