"""The layout-2 store of ``tests/store/test_migrate.py`` and what it answered: run with the
checkout of layout 2 (3ceca7a) on ``sys.path``, the output directory as the argument."""

import dataclasses
import datetime as dt
import enum
import json
import sys
import tempfile
from pathlib import Path

from linecode.serials import MasterKey
from linecode.store import CodeRule, Level, Origin, Store
from tests.factories import make_batch, make_product
from tests.store.conftest import Line
from tests.store.test_check_backup import every_state


def main(out: Path) -> None:
    tmp = Path(tempfile.mkdtemp())
    master = MasterKey(bytes(range(32)))
    store = Store.open(tmp / "d", master_key=master, sync=False)
    make_product(store)
    make_batch(store, "B1")
    line = Line(store, "B1")
    codes = every_state(line)
    # a GS1 product too, an idempotent allocation, and a code locked and unlocked while still allocated
    store.create_product(
        "gs1prod",
        "GS1 thing",
        "MAH",
        [
            Level(
                "unit", CodeRule.GS1, "09501101530003", serial_alphabet="0123456789ABCDEF", serial_length=10
            ),
            Level("case", CodeRule.GS1, "19501101530000", pack_ratio=10),
        ],
    )
    store.create_batch(
        "gs1prod",
        "L-77",
        batch_id="G1",
        production_date=dt.date(2026, 1, 1),
        expiry_date=dt.date(2030, 12, 31),
        line="L2",
        planned_quantity=100,
    )
    g = store.allocate("G1", "unit", 30, origin=Origin(idempotency_key="gkey", line="L2"))
    store.report_events("printed", g.codes[:5])
    store.report_events("verified", g.codes[:5])
    c = store.allocate("G1", "case", 3)
    store.report_events("printed", c.codes[:1])
    store.report_events("verified", c.codes[:1])
    store.aggregate(c.codes[0], g.codes[:5], partial=True)
    u = store.allocate("B1", "unit", 5).codes
    store.set_lock("pending", codes=[u[0]], reason="hold")
    store.set_lock("normal", codes=[u[0]], reason="released hold")
    store.set_status("recalled", codes=[u[1]], reason="test")
    store.allocate("B1", "unit", 300)  # untouched codes

    def rec(r):
        d = dataclasses.asdict(r)
        return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in d.items()}

    expected = {
        "codes": codes,
        "gs1_idem": {"key": "gkey", "codes": list(g.codes), "symbols": list(g.symbols)},
        "records": {
            b.batch_id: sorted((rec(r) for r in store.records(b.batch_id)), key=lambda r: r["code"])
            for b in store.batches()
        },
        "counts": [rec(r) for r in store.counts()],
        "reconcile": {b.batch_id: repr(store.reconcile(b.batch_id)) for b in store.batches()},
        "events": [rec(e) for e in store.events()],
        "pools": store.pools(),
        "used_bytes": store.used_bytes(),
    }
    store.backup(out / "store")
    store.close()
    (out / "expected.json").write_text(json.dumps(expected, indent=None, sort_keys=True))
    print("ok", len(expected["events"]), sum(len(v) for v in expected["records"].values()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
