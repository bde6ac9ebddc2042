"""Child process of the crash test: hammers a store with allocations and aggregations until killed.

Usage: ``python crash_child.py DATA_DIR JOURNAL``, the checkout on ``PYTHONPATH`` (for
``tests.factories``). After every acknowledged call it appends one line to JOURNAL (``A code…``
for codes handed out, ``G parent child…`` for an aggregation), so the test knows exactly what the
store promised before it died.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from linecode.errors import AlreadyExists
from linecode.serials import MasterKey
from linecode.store import Origin, Store
from tests.factories import LEVELS, make_batch, make_product

THREADS = 4


def main(data: str, journal: str) -> None:
    store = Store.open(Path(data), master_key=MasterKey(bytes(range(32))))
    try:
        make_product(store, levels=LEVELS[:2])  # unit and bundle
        make_batch(store, "B1", planned=10**6)
    except AlreadyExists:
        pass
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    run = os.getpid()

    def note(kind: str, codes: list[str]) -> None:
        os.write(fd, f"{kind} {' '.join(codes)}\n".encode())  # one O_APPEND write per line: atomic

    def worker(n: int) -> None:
        i = 0
        while True:
            i += 1
            (bundle,) = store.allocate("B1", "bundle", 1).codes
            units = list(store.allocate("B1", "unit", 5 + i % 3).codes)  # some units stay unused
            note("A", [bundle, *units])
            store.report_events("printed", [bundle, *units[:5]])
            store.report_events("verified", [bundle, *units[:5]])
            store.aggregate(bundle, units[:5], origin=Origin(idempotency_key=f"{run}-{n}-{i}"))
            note("G", [bundle, *units[:5]])

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    note("R", [])  # running
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
