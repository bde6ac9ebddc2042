"""Child process of the shared-store test: one of several processes writing one store.

Usage: ``python shared_child.py DATA_DIR BUNDLE UNIT...`` (the data dir's writer lock held by the
test). Allocates units in many small requests and, half way, packs UNITs into BUNDLE with an
idempotency key every child uses; prints ``{"codes": [...], "packed": [event_seq, [children]]}``.
"""

from __future__ import annotations

import json
import sys

from linecode.serials import MasterKey
from linecode.store import Origin, Store


def main(data: str, bundle: str, units: list[str]) -> None:
    store = Store.open(data, shared=True, master_key=MasterKey(bytes(range(32))))
    try:
        codes: list[str] = []
        packed = None
        for i in range(40):
            codes += store.allocate("B1", "unit", 25).codes
            if i == 20:
                packed = store.aggregate(bundle, units, origin=Origin(idempotency_key="pack-once"))
        assert packed is not None
        print(json.dumps({"codes": codes, "packed": [packed.event_seq, sorted(packed.codes)]}))
    finally:
        store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
