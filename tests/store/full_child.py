"""Child process of the file-size-limit test: writes to a store under ``RLIMIT_FSIZE``, then without.

Usage: ``python full_child.py DATA_DIR CODE`` (a store with batch B1, ``CODE`` a commissioned unit of
it). Caps this process's file size at the data file's size (SIGXFSZ ignored, so a write past it
fails with EFBIG or comes back short instead of killing the process), asks for two allocations too
large for the room left in the file, lifts the cap, and sends the first again and a report. Prints
one JSON line: the refusals' reasons, message and hint, whether the store was byte for byte
unchanged, whether reads and the writer went on, and how many codes the allocation after the lift
got.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

from linecode.errors import LinecodeError
from linecode.serials import MasterKey
from linecode.store import Origin, Store


def main(data: Path, code: str) -> None:
    store = Store.open(data, master_key=MasterKey(bytes(range(32))))
    db = store._db

    def raw() -> list[list[tuple[bytes, bytes]]]:
        with db.reading() as txn:
            main = [(bytes(k), bytes(v)) for k, v in txn.cursor()]
            return [main, *([(bytes(k), bytes(v)) for k, v in txn.cursor(db=h)] for h in db.dbs.values())]

    printed = list(store.allocate("B1", "unit", 2000).codes)
    before = raw()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, ((data / "data.mdb").stat().st_size, hard))
    refused: list[LinecodeError] = []
    for count in (20_000, 5000):
        try:
            store.allocate("B1", "unit", count, origin=Origin(idempotency_key=f"big-{count}"))
        except LinecodeError as exc:
            refused.append(exc)
    unchanged = raw() == before
    reads = store.record(code).state.label == "commissioned" and store.verify(code).usable
    reads = reads and bool(store.counts("B1")) and bool(list(store.events("B1")))
    alive = db._writer is not None and db._writer.is_alive()
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    after = len(store.allocate("B1", "unit", 20_000, origin=Origin(idempotency_key="big-20000")).codes)
    store.report_events("printed", printed)
    store.close()
    print(
        json.dumps(
            {
                "refused": [exc.reason for exc in refused],
                "message": str(refused[0]) if refused else "",
                "hint": (refused[0].hint or "") if refused else "",
                "unchanged": unchanged,
                "reads": reads,
                "writer_alive": alive,
                "after": after,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
