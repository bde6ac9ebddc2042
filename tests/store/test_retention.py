"""Retention on a site of a hub: shipped events of batches no longer open, and idempotency answers,
pruned once old; what stays is enough for every answer and for ``linecode check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from linecode.errors import Precondition
from linecode.serials import MasterKey
from linecode.store import Origin, Store, now_us, retention
from linecode.store.check import check
from linecode.store.replay import differences, stored
from tests.factories import commissioned, make_batch, make_product, product

DAY = retention.DAY_US


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "site", master_key=MasterKey(bytes(range(32))), sync=False)
    make_product(s, mixed_pallets=True)
    return s


def _pack(store: Store, batch_id: str, *, close: bool) -> tuple[list[str], str]:
    make_batch(store, batch_id)
    units = commissioned(store, batch_id, "unit", 10)
    bundles = commissioned(store, batch_id, "bundle", 2)
    for i, bundle in enumerate(bundles):
        store.aggregate(
            bundle, units[i * 5 : i * 5 + 5], origin=Origin(idempotency_key=f"agg-{batch_id}-{i}")
        )
    if close:
        store.close_batch(batch_id, override_reason="test")
    return units, bundles[0]


def test_shipped_events_of_closed_batches_go_the_rest_stays_and_check_holds(store: Store) -> None:
    _pack(store, "B1", close=True)
    _pack(store, "B2", close=False)
    before = stored(store)
    store.set_shipped(store.last_event_seq())
    last = store.last_event_seq()
    kept_kinds = [e.kind for e in store.events() if e.batch_id is None]

    done = retention.prune(store, now_us() + DAY)

    assert done.events > 0 and done.batches == {"B1"} and done.answers == 4  # every keyed answer
    assert {e.kind for e in store.events() if e.batch_id == "B1"} <= retention.KEPT  # B1's own events
    report = store.reconcile("B1")
    assert report.override_reason == "test" and report.closed_event_seq
    assert [e.kind for e in store.events() if e.batch_id is None] == kept_kinds  # products, leases
    assert [e.batch_id for e in store.events()].count("B2") > 0  # an open batch keeps its history
    assert store.last_event_seq() == last
    assert stored(store) == before  # every record as it was
    assert differences(store) == [] and check(store).ok, check(store).as_dict()
    with pytest.raises(Precondition) as pruned:
        list(store.events("B1"))
    assert pruned.value.reason == "EVENTS_PRUNED"
    store.set_status("self_checked", codes=[next(iter(store.codes("B1", "unit")))])  # B1 lives on
    assert store.last_event_seq() == last + 1 and check(store).ok


def test_unshipped_recent_and_other_batches_events_are_kept(store: Store) -> None:
    _units, bundle = _pack(store, "B1", close=False)
    make_batch(store, "B2")
    (pallet,) = commissioned(store, "B2", "pallet", 1)
    (case,) = commissioned(store, "B1", "case", 1)  # a case of B1 on B2's pallet: a mixed pallet
    store.aggregate(case, [bundle], partial=True)
    store.aggregate(pallet, [case], partial=True)
    store.close_batch("B1", override_reason="test")
    store.close_batch("B2", override_reason="test")
    half = store.last_event_seq() // 2
    store.set_shipped(half)

    assert retention.prune(store, now_us() - DAY).events == 0  # nothing is a day old
    done = retention.prune(store, now_us() + DAY)

    seqs = [e.seq for e in store.events()]
    assert all(s in seqs for s in range(half + 1, store.last_event_seq() + 1))  # unshipped: all kept
    mixed = [e for e in store.events() if e.parent == pallet]
    assert mixed, "B2's aggregation naming B1's case is B1's history too: kept"
    assert done.events > 0 and check(store).ok, check(store).as_dict()


def test_nothing_pruned_before_the_hub_acknowledged_anything(store: Store) -> None:
    _pack(store, "B1", close=True)
    assert retention.prune(store, now_us() + DAY).events == 0
    assert product() is not None and check(store).ok
