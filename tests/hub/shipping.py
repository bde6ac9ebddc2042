"""What the shipping tests share: a packaging run that names every kind of code event, the hub's
view of a site's codes, and waiting for a site's log to reach the hub."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from linecode.serials import MasterKey
from linecode.service.config import ServeConfig
from linecode.service.server import Running, start
from linecode.store import BatchState, Lock, RegulatoryStatus, State, Store
from linecode.store.leases import holdings
from linecode.store.replay import CodeState, stored
from tests.factories import commissioned, make_batch


def pack_batch(store: Store, batch_id: str, *, close: bool = True) -> None:
    """A batch packed to one pallet: 40 units in 8 bundles in 2 cases on 1 pallet, one unit
    scrapped and one sampled, marks set on codes and the batch, one bundle re-packed; closed."""
    make_batch(store, batch_id)
    units = commissioned(store, batch_id, "unit", 42)
    bundles = commissioned(store, batch_id, "bundle", 8)
    cases = commissioned(store, batch_id, "case", 2)
    (pallet,) = commissioned(store, batch_id, "pallet", 1)
    store.report_events("destroyed", [units[40]])
    store.report_events("sampled", [units[41]])
    for i, bundle in enumerate(bundles):
        store.aggregate(bundle, units[i * 5 : i * 5 + 5])
    store.disaggregate(bundles[0], units[:2])
    store.aggregate(bundles[0], units[:2])
    for i, case in enumerate(cases):
        store.aggregate(case, bundles[i * 4 : i * 4 + 4])
    store.aggregate(pallet, cases)
    store.set_status(RegulatoryStatus.SELF_CHECKED, codes=units[:3])
    store.set_lock(Lock.PENDING, codes=[units[39]])
    store.set_lock(Lock.NORMAL, codes=[units[39]])
    store.set_status(RegulatoryStatus.LOT_RELEASED, batch_id=batch_id)
    if close:
        store.close_batch(batch_id, override_reason="test run")


def hub_codes(dsn: str, site_id: str) -> dict[str, CodeState]:
    """Every code the hub holds of ``site_id`` with its state, as the site's records say it."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT code, batch_id, state, status, lock, parent, children, partial, last_event_us "
            "FROM codes WHERE site_id = %s",
            (site_id,),
        ).fetchall()
    return {
        code: CodeState(batch, State(st), RegulatoryStatus(status), Lock(lock), parent, children, partial, t)
        for code, batch, st, status, lock, parent, children, partial, t in rows
    }


def site_codes(store: Store) -> dict[str, CodeState]:
    """Every code the site holds a record of (every code an event named) with its state."""
    return stored(store)


def wait_shipped(store: Store, timeout: float = 30.0) -> None:
    """Until the hub has acknowledged every event of ``store``."""
    deadline = time.monotonic() + timeout
    while store.shipped() < store.last_event_seq():
        assert time.monotonic() < deadline, f"shipped {store.shipped()} of {store.last_event_seq()}"
        time.sleep(0.02)


def wait_leased(store: Store, timeout: float = 30.0) -> None:
    """Until a site of a hub holds indices of every pool (its refiller took its first grants)."""
    deadline = time.monotonic() + timeout
    while not all(h.remaining for h in holdings(store.pools())):
        assert time.monotonic() < deadline, "no leases came"
        time.sleep(0.02)


def wait_exported(store: Store, batch_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while store.batch(batch_id).state is not BatchState.EXPORTED:
        assert time.monotonic() < deadline, f"batch {batch_id} is {store.batch(batch_id).state}"
        time.sleep(0.02)


KEY = MasterKey(bytes(range(32)))
"""The sites' master key (one per MAH: docs/hub.md)."""


def serve_site(path: Path, site_id: str, hub_port: int, *, sync: bool = False) -> tuple[Store, Running]:
    """A site server of the hub on ``hub_port`` over the store in ``path``."""
    store = Store.open(path, master_key=KEY, sync=sync)
    config = ServeConfig(
        listen="127.0.0.1:0",
        hub_address=f"127.0.0.1:{hub_port}",
        hub_site_id=site_id,
        hub_low_water=200,
        hub_lease_size=1000,
    )
    running, _ = start(store, config)
    return store, running
