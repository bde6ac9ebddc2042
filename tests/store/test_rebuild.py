"""A store rebuilt from its complete event log (``linecode.store.rebuild``) equals the original: every
code's record (also those allocated and never touched), the counters, batches, products, pools,
children and the log itself, and ``linecode check`` passes on it; in commits of any size, with the
map growing midway, for a site of a hub, and after random runs of the model machine. A log that is
not a store's complete log (a gap, an event altered, cut short, another master key) is refused
naming its first bad event, and leaves nothing behind."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event
from hypothesis.stateful import precondition, rule

from linecode.errors import AlreadyExists
from linecode.serials import MasterKey
from linecode.store import (
    CodeRule,
    Event,
    EventKind,
    IndexRange,
    Lease,
    Level,
    Origin,
    State,
    Store,
    now_us,
    records,
)
from linecode.store.check import check
from linecode.store.rebuild import LogRefused, rebuild
from linecode.store.replay import differences, stored
from tests.factories import EXPORT, EXPORT_LEVELS, commissioned, make_batch, make_product

from .conftest import Line
from .linemachine import settings_for
from .test_check_backup import every_state
from .test_model import StoreMachine

LEASED = "leased"
LEASED_LEVELS = (
    Level("unit", CodeRule.NMPA20, "8600009"),
    Level("case", CodeRule.NMPA20, "8600008", pack_ratio=4),
)
"""A product whose pools this store does not claim: another server leases it ranges of them."""


def every_kind_of_write(line: Line, tmp_path: Path, master: MasterKey) -> None:
    """``every_state`` (batch B1 open with codes in every state and every packing change, B2 closed
    with an override and exported) and more: a mixed SSCC pallet of two batches, events with their
    own times, actors and lines, one report and one status set over two batches, batch locks, rework
    to destroyed and to loose, a close that releases codes without an override, a GS1 batch
    exported twice, pools filled by leases from another server, an allocation retried."""
    store = line.store
    every_state(line)
    make_product(store, "mixed", mixed_pallets=True)
    make_batch(store, "M1", "mixed")
    make_batch(store, "M2", "mixed", line="L2")
    cases = []
    for batch in ("M1", "M2"):
        (case,) = commissioned(store, batch, "case", 1)
        bundles = commissioned(store, batch, "bundle", 4)
        for bundle in bundles:
            store.aggregate(bundle, commissioned(store, batch, "unit", 5))
        store.aggregate(case, bundles)
        cases.append(case)
    (pallet,) = commissioned(store, "M1", "pallet", 1)
    store.aggregate(pallet, cases, origin=Origin(actor="palletiser", line="L1", time_us=now_us() + 1000))
    one, two = commissioned(store, "M1", "unit", 2), commissioned(store, "M2", "unit", 2)
    store.report_events("sampled", [one[0], two[0]], origin=Origin(actor="qa", line="L1"))
    store.set_status("self_checked", codes=[one[1], two[1]], reason="checked")
    store.set_lock("pending", codes=[one[1]], reason="hold")
    store.set_lock("abnormal", batch_id="M2", reason="deviation")
    store.set_lock("normal", batch_id="M2", reason="cleared")
    store.set_status("lot_released", batch_id="M2")
    bundle = store.children_of(cases[0])[0]
    units = store.children_of(bundle)
    fresh = commissioned(store, "M1", "unit", 2)
    store.replace(bundle, units[0], fresh[0], old_child_to=State.DESTROYED)
    store.replace(bundle, units[1], fresh[1], old_child_to=State.COMMISSIONED)  # loose now
    store.close_batch("M1", override_reason="rework leftovers")
    make_product(store, EXPORT, EXPORT_LEVELS)
    make_batch(store, "G1", EXPORT)
    units = commissioned(store, "G1", "unit", 20)
    for i, case in enumerate(commissioned(store, "G1", "case", 2)):
        store.aggregate(case, units[10 * i : 10 * i + 10])
    store.close_batch("G1")  # nothing to override: RELEASED, then BATCH_CLOSED
    store.mark_exported("G1", "NMPA platform, receipt 1")
    store.mark_exported("G1", "NMPA platform, receipt 2")
    with Store.open(tmp_path / "owner", master_key=master, sync=False) as owner:
        make_product(owner, LEASED, LEASED_LEVELS)
        given = [owner.export_lease(pool, 100) for pool in ("nmpa20/8600009", "nmpa20/8600008")]
    make_product(store, LEASED, LEASED_LEVELS, claim_pools=False)
    for lease in given:
        store.import_lease(lease)
    make_batch(store, "LB", LEASED, line="L2")
    (case,) = commissioned(store, "LB", "case", 1)
    store.aggregate(case, commissioned(store, "LB", "unit", 4))
    store.export_lease("nmpa20/8600009", 10)
    for _ in range(2):
        store.allocate("LB", "unit", 3, origin=Origin(idempotency_key="k1"))


def assert_same(original: Store, rebuilt: Store) -> None:
    """Everything ``rebuilt`` keeps equals what ``original`` keeps, and it checks clean."""
    assert list(rebuilt.events()) == list(original.events())
    assert stored(rebuilt) == stored(original)
    assert rebuilt.products() == original.products()
    assert rebuilt.batches() == original.batches()
    assert rebuilt.pools() == original.pools()
    assert rebuilt.counts() == original.counts()
    for batch in original.batches():
        product = original.product(batch.product_id)
        assert rebuilt.reconcile(batch.batch_id) == original.reconcile(batch.batch_id)
        # every code, those allocated and never touched too (answered from their allocations)
        assert list(rebuilt.records(batch.batch_id)) == list(original.records(batch.batch_id))
        for level in range(1, product.top + 1):
            codes = list(original.codes(batch.batch_id, level))
            assert list(rebuilt.codes(batch.batch_id, level)) == codes
            for code in codes[:: max(1, len(codes) // 5)]:
                assert rebuilt.record(code) == original.record(code)
                assert rebuilt.info(code) == original.info(code)
            if level > 1:
                assert list(rebuilt.parents(batch.batch_id, level)) == list(
                    original.parents(batch.batch_id, level)
                )
    assert differences(rebuilt) == []
    report = check(rebuilt)
    assert report.ok, report.findings
    assert report.last_event_seq == original.last_event_seq()


def rebuilt_from(original: Store, data: Path, master: MasterKey, **options: Any) -> Store:
    n = rebuild(list(original.events()), data, master, **options)
    assert n == original.last_event_seq()
    return Store.open(data, master_key=master)


@pytest.mark.parametrize("events_per_commit", [5000, 1, 3])
def test_a_store_of_every_kind_of_write_rebuilds_to_itself(
    line: Line, tmp_path: Path, master: MasterKey, events_per_commit: int
) -> None:
    every_kind_of_write(line, tmp_path, master)
    kinds = {e.kind for e in line.store.events()}
    assert kinds == set(EventKind), f"the scenario writes no {set(EventKind) - kinds}"
    with rebuilt_from(line.store, tmp_path / "rebuilt", master, events_per_commit=events_per_commit) as again:
        assert_same(line.store, again)
        assert again.store_id() != line.store.store_id()  # a rebuilt store is another store
        assert not (tmp_path / "rebuilt" / "master.key").exists()  # the key is the caller's to place
        # the rebuilt store goes on as the original would
        (bundle,) = commissioned(again, "B1", "bundle", 1)
        again.aggregate(bundle, commissioned(again, "B1", "unit", 5))
        assert not differences(again)
    assert not list(tmp_path.glob(".*rebuild-*"))


def test_the_map_grows_midway(line: Line, tmp_path: Path, master: MasterKey) -> None:
    """A commit that finds the map full is run again from its start on a grown map."""
    units = commissioned(line.store, "B1", "unit", 5000)
    bundles = commissioned(line.store, "B1", "bundle", 1000)
    for i, bundle in enumerate(bundles):
        line.store.aggregate(bundle, units[5 * i : 5 * i + 5])
    with rebuilt_from(line.store, tmp_path / "rebuilt", master, map_size=256 * 1024) as again:
        assert again._db.env.info()["map_size"] > 256 * 1024
        assert_same(line.store, again)


def test_a_site_of_a_hub_rebuilds_with_its_hub_pools(tmp_path: Path, master: MasterKey) -> None:
    with Store.open(tmp_path / "site", master_key=master, sync=False) as site:
        site.pools_from_hub = True
        make_product(site)  # its pools empty and flagged hub, filled by the hub's grants
        for pool in ("nmpa20/8600001", "nmpa20/8600002"):
            site.import_lease(Lease(pool, (IndexRange(1000, 1100), IndexRange(5000, 5010))))
        make_batch(site, "B1")
        (bundle,) = commissioned(site, "B1", "bundle", 1)
        site.aggregate(bundle, commissioned(site, "B1", "unit", 5))
        site.allocate("B1", "unit", 100)  # across both granted ranges
        assert all(p.get("hub") for p in site.pools().values())
        with rebuilt_from(site, tmp_path / "rebuilt", master, pools_from_hub=True) as again:
            assert_same(site, again)
        # Rebuilt as a store of no hub, the pools lack the flag (the log does not say it): all else equal.
        with rebuilt_from(site, tmp_path / "plain", master) as plain:
            assert stored(plain) == stored(site)
            granted = ("nmpa20/8600001", "nmpa20/8600002")
            assert all("hub" not in plain.pools()[name] for name in granted)
            assert {n: {**plain.pools()[n], "hub": True} for n in granted} == {
                n: site.pools()[n] for n in granted
            }


def test_a_pool_never_leased_nor_used_is_rebuilt_claimed(tmp_path: Path, master: MasterKey) -> None:
    """What the log cannot tell: a product's pool made empty for leases (``claim_pools=False``) that
    no lease ever reached is rebuilt claimed whole, as a store of no hub makes it. One a lease
    reached, and one that handed out codes, are rebuilt as they were."""
    with Store.open(tmp_path / "d", master_key=master, sync=False) as store:
        make_product(store, LEASED, LEASED_LEVELS, claim_pools=False)
        store.import_lease(Lease("nmpa20/8600009", (IndexRange(0, 50),)))
        make_product(store)  # claimed
        make_batch(store, "B1")
        commissioned(store, "B1", "unit", 3)
        with rebuilt_from(store, tmp_path / "rebuilt", master) as again:
            assert stored(again) == stored(store)
            pools, before = again.pools(), store.pools()
            assert {n: p for n, p in pools.items() if n != "nmpa20/8600008"} == {
                n: p for n, p in before.items() if n != "nmpa20/8600008"
            }
            assert before["nmpa20/8600008"]["free"] == []
            assert pools["nmpa20/8600008"]["free"] == [[0, before["nmpa20/8600008"]["size"]]]


def test_a_directory_with_anything_in_it_is_refused(line: Line, tmp_path: Path, master: MasterKey) -> None:
    events = list(line.store.events())
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    for taken in (tmp_path / "busy", line.store.path, tmp_path / "busy" / "notes.txt"):
        with pytest.raises(AlreadyExists) as info:
            rebuild(events, taken, master)
        assert "not an empty directory" in str(info.value)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    assert line.store.last_event_seq() == len(events)
    (tmp_path / "empty").mkdir()
    assert rebuild(events, tmp_path / "empty", master) == len(events)
    assert rebuild(events, tmp_path / "new" / "deeper", master) == len(events)
    assert not list(tmp_path.glob(".*rebuild-*")) and not list((tmp_path / "new").glob(".*"))


def _first(events: list[Event], kind: EventKind, when: Callable[[Event], bool] = lambda e: True) -> int:
    """The index in ``events`` of the first event of ``kind`` for which ``when`` holds."""
    return next(i for i, e in enumerate(events) if e.kind is kind and when(e))


def _altered(events: list[Event], i: int, **change: Any) -> list[Event]:
    return [*events[:i], dataclasses.replace(events[i], **change), *events[i + 1 :]]


def _gap(events: list[Event]) -> tuple[list[Event], int, str]:
    return events[:10] + events[11:], 11, "where event 11 belongs"


def _no_start(events: list[Event]) -> tuple[list[Event], int, str]:
    return events[3:], 1, "event 1 (the log must be complete)"


def _unknown_code(events: list[Event]) -> tuple[list[Event], int, str]:
    i = _first(events, EventKind.COMMISSIONED)
    codes = ("86000019999999990000", *events[i].codes[1:])
    return _altered(events, i, codes=codes), i + 1, "not in this store"


def _other_ranges(events: list[Event]) -> tuple[list[Event], int, str]:
    i = _first(events, EventKind.ALLOCATED, lambda e: e.seq > 5)
    pool, ranges, level = records.parse_allocation_detail(events[i].detail)
    detail = records.allocation_detail(
        pool, [IndexRange(r.start + 7000, r.end + 7000) for r in ranges], level
    )
    return _altered(events, i, detail=detail), i + 1, "re-ran to another event: detail"


def _full_parent_flagged_partial(events: list[Event]) -> tuple[list[Event], int, str]:
    i = _first(events, EventKind.AGGREGATED, lambda e: e.detail == "")
    return _altered(events, i, detail="partial"), i + 1, "re-ran to another event: detail ''"


def _time_went_back(events: list[Event]) -> tuple[list[Event], int, str]:
    i = _first(events, EventKind.COMMISSIONED)
    return (
        _altered(events, i, time_us=events[i - 1].time_us - 1_000_000),
        i + 1,
        "earlier than the last event",
    )


def _close_cut_in_two(events: list[Event]) -> tuple[list[Event], int, str]:
    i = _first(events, EventKind.RELEASED)
    return events[: i + 1], i + 1, "not followed by its batch's batch_closed (the log ends)"


def _close_split(events: list[Event]) -> tuple[list[Event], int, str]:
    """A RELEASED whose BATCH_CLOSED is moved away is no close."""
    i = _first(events, EventKind.RELEASED)
    j = _first(events, EventKind.BATCH_CLOSED, lambda e: e.seq > i)
    assert j == i + 1
    rest = [dataclasses.replace(e, seq=e.seq - 1) for e in events[j + 1 :]]
    return events[: i + 1] + rest + [dataclasses.replace(events[j], seq=len(events))], i + 1, "released"


@pytest.mark.parametrize(
    "damage",
    [
        _gap,
        _no_start,
        _unknown_code,
        _other_ranges,
        _full_parent_flagged_partial,
        _time_went_back,
        _close_cut_in_two,
        _close_split,
    ],
)
def test_a_log_that_is_not_a_store_s_log_is_refused_leaving_nothing(
    line: Line,
    tmp_path: Path,
    master: MasterKey,
    damage: Callable[[list[Event]], tuple[list[Event], int, str]],
) -> None:
    every_state(line)
    events, seq, said = damage(list(line.store.events()))
    with pytest.raises(LogRefused) as info:
        rebuild(events, tmp_path / "rebuilt", master, events_per_commit=7)
    assert info.value.seq == seq, str(info.value)
    assert said in str(info.value) and f"event {seq}" in str(info.value), str(info.value)
    assert info.value.reason == "INVALID_ARGUMENT"
    assert not (tmp_path / "rebuilt").exists()
    assert not list(tmp_path.glob(".*rebuild-*"))


def test_a_log_cut_short_is_refused_when_its_length_is_known(
    line: Line, tmp_path: Path, master: MasterKey
) -> None:
    every_state(line)
    events = list(line.store.events())
    with pytest.raises(LogRefused) as info:
        rebuild(events[:-4], tmp_path / "rebuilt", master, last_seq=len(events))
    assert info.value.seq == len(events) - 3
    assert f"the log ends at event {len(events) - 4}; expected it to end at event {len(events)}" in str(
        info.value
    )
    assert not (tmp_path / "rebuilt").exists() and not list(tmp_path.glob(".*rebuild-*"))
    # Unknown length: a log cut short is the log of an earlier moment, and rebuilds to that.
    assert rebuild(events[:-4], tmp_path / "earlier", master) == len(events) - 4
    with Store.open(tmp_path / "earlier", master_key=master) as earlier:
        assert check(earlier).ok


def test_another_master_key_is_refused_at_the_first_code(line: Line, tmp_path: Path) -> None:
    every_state(line)
    events = list(line.store.events())
    with pytest.raises(LogRefused) as info:
        rebuild(events, tmp_path / "rebuilt", MasterKey(bytes(32)))
    assert info.value.seq == events[_first(events, EventKind.ENCODED)].seq
    assert "not in this store" in str(info.value) and "master key" in str(info.value)
    assert not (tmp_path / "rebuilt").exists() and not list(tmp_path.glob(".*rebuild-*"))


class RebuildMachine(StoreMachine):
    """The store's model machine (random writes of every kind, by callers of any line, with retries,
    refusals, times of their own) with one more step: rebuild the store from its log and compare."""

    @precondition(lambda self: self.store is not None)
    @rule()
    def rebuilt(self) -> None:
        target, key = self.tmp / "rebuilt", MasterKey(bytes(range(32)))  # the machine's store's key
        try:
            rebuild(list(self.s.events()), target, key, events_per_commit=4)
            with Store.open(target, master_key=key) as again:
                assert_same(self.s, again)
            event("rebuilt: equal")
        finally:
            shutil.rmtree(target, ignore_errors=True)


TestRebuildModel = pytest.mark.slow(RebuildMachine.TestCase)
TestRebuildModel.settings = settings_for(examples=25, steps=40)
