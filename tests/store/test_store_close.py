"""Batch close and reconciliation (SPEC §4)."""

from __future__ import annotations

import json
from dataclasses import replace

from linecode.cli.batch import format_report
from linecode.errors import AlreadyExists, InvalidArgument, NotFound, Precondition
from linecode.store import BatchState, EventKind, Lock, Origin, State
from linecode.store.model import now_us
from linecode.store.replay import differences

from .conftest import Line, refused


def _packed_case(line: Line) -> str:
    (case,) = line.commissioned("case", 1)
    line.store.aggregate(case, [line.bundle()[0] for _ in range(4)])
    return case


def test_clean_batch_closes_and_releases(line: Line) -> None:
    store = line.store
    (pallet,) = line.commissioned("pallet", 1)
    store.aggregate(pallet, [_packed_case(line), _packed_case(line)])
    store.allocate("B1", "unit", 7)  # handed out, never printed: unused, not a discrepancy
    report = store.close_batch("B1")
    assert report.ok and report.state is BatchState.CLOSED and report.closed_event_seq
    unit = report.levels[0]
    assert (unit.allocated, unit.unused, unit.encoded, unit.aggregated, unit.released) == (47, 7, 40, 40, 40)
    assert all(level.balanced for level in report.levels)
    assert store.record(pallet).state is State.RELEASED
    assert store.batch("B1").state is BatchState.CLOSED
    assert list(store.events("B1"))[-1].kind is EventKind.BATCH_CLOSED
    assert not differences(store)


def test_discrepancies_block_close_until_overridden(line: Line) -> None:
    store = line.store
    _, units = line.bundle()
    loose = line.commissioned("unit", 2)
    printed = list(store.allocate("B1", "unit", 1).codes)
    store.report_events("printed", printed)
    (partial,) = line.commissioned("bundle", 1)
    store.aggregate(partial, line.commissioned("unit", 5))
    store.disaggregate(partial, store.children_of(partial)[:2])  # now 3 of 5, never declared partial
    (empty,) = line.commissioned("bundle", 1)
    error = refused(store, lambda: store.close_batch("B1"), Precondition, "BATCH_DISCREPANCY")
    # a time in the wrong unit is told first, whatever else the request gets wrong (as every write)
    seconds = Origin(time_us=5)
    refused(store, lambda: store.close_batch("B1", "x\x00y", origin=seconds), InvalidArgument, "BAD_TIME")
    assert set(loose) <= set(error.codes) and partial in error.codes
    report = store.reconcile("B1")
    unit, level2 = report.levels[0], report.levels[1]
    assert unit.loose == 4 and unit.not_verified == 1  # 2 loose + 2 taken out of the partial bundle
    assert level2.partial_undeclared == 1 and level2.empty_parents == 1
    assert level2.loose == 3  # bundles in no case are loose too
    assert len(report.discrepancies) == 5 and empty not in report.undeclared_partial
    closed = store.close_batch("B1", override_reason="line stop: QA accepts, ticket 7")
    assert closed.override_reason and closed.discrepancies == report.discrepancies
    event = list(store.events("B1"))[-1]
    assert json.loads(event.detail)["override_reason"] == "line stop: QA accepts, ticket 7"
    assert store.record(units[0]).state is State.RELEASED  # packed codes are released
    assert store.record(loose[0]).state is State.COMMISSIONED  # loose ones are not
    refused(store, lambda: store.close_batch("B1", override_reason="again"), Precondition, "BATCH_NOT_OPEN")
    assert not differences(store)


def test_declared_partial_parent_is_fine_and_locked_codes_are_not_released(line: Line) -> None:
    store = line.store
    (bundle,) = line.commissioned("bundle", 1)
    store.aggregate(bundle, line.commissioned("unit", 2), partial=True)
    (case,) = line.commissioned("case", 1)
    store.aggregate(case, [bundle], partial=True)
    full, _ = line.bundle()
    (pallet,) = line.commissioned("pallet", 1)
    store.aggregate(pallet, [case], partial=True)
    (case2,) = line.commissioned("case", 1)
    store.aggregate(case2, [full], partial=True)
    store.reparent(pallet, [case2])
    store.set_lock(Lock.PENDING, codes=[full])
    report = store.close_batch("B1")
    assert report.ok, report.discrepancies
    assert report.levels[1].partial_declared == 1 and report.levels[1].locked == 1
    assert store.record(full).state is State.AGGREGATED  # locked: stays where it is
    assert store.record(bundle).state is State.RELEASED


def test_a_closed_batch_is_marked_exported_once_per_delivery_and_stays_closed_to_the_line(line: Line) -> None:
    store = line.store
    _, units = line.bundle()
    refused(store, lambda: store.mark_exported("B1", "NMPA"), Precondition, "BATCH_NOT_CLOSED")
    closed = store.close_batch("B1", override_reason="test batch")
    refused(store, lambda: store.mark_exported("B1", "  "), InvalidArgument, "BAD_DESTINATION")
    refused(store, lambda: store.mark_exported("B1", "x" * 1001), InvalidArgument, "BAD_DESTINATION")
    refused(store, lambda: store.mark_exported("B9", "NMPA"), NotFound, "UNKNOWN_BATCH")
    closed_at = list(store.events("B1"))[-1].time_us
    report = store.reconcile("B1")  # a read, later: it still says how the batch was closed
    assert (report.closed_event_seq, report.closed_us) == (closed.closed_event_seq, closed_at) > (0, 0)
    assert report.override_reason == closed.override_reason == "test batch" and closed.closed_us == closed_at
    assert report.exported_to is None and store.batch("B1").closed_event_seq == closed.closed_event_seq
    refused(
        store,
        lambda: store.mark_exported("B1", "NMPA", origin=Origin(time_us=closed_at - 1)),
        Precondition,
        "TIME_WENT_BACKWARDS",
    )
    change = store.mark_exported(
        "B1", "药品追溯协同平台, receipt 42", origin=Origin(actor="qa-li", idempotency_key="x1")
    )
    assert change.event_seq > closed.closed_event_seq and not change.replayed
    assert store.batch("B1").state is BatchState.EXPORTED
    event = list(store.events("B1"))[-1]
    assert (event.seq, event.kind, event.actor) == (change.event_seq, EventKind.BATCH_EXPORTED, "qa-li")
    assert json.loads(event.detail) == {"destination": "药品追溯协同平台, receipt 42"}
    retry = store.mark_exported("B1", "药品追溯协同平台, receipt 42", origin=Origin(idempotency_key="x1"))
    assert retry.replayed and retry.event_seq == change.event_seq
    assert store.last_event_seq() == change.event_seq  # a retry writes nothing
    refused(
        store,
        lambda: store.mark_exported("B1", "somewhere else", origin=Origin(idempotency_key="x1")),
        AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert store.reconcile("B1").exported_to == "药品追溯协同平台, receipt 42"
    again = store.mark_exported("B1", "MAH archive")  # delivered again: one more event, still exported
    assert again.event_seq == change.event_seq + 1 and store.batch("B1").state is BatchState.EXPORTED
    report = store.reconcile("B1")
    assert (report.exported_to, report.exported_us) == ("MAH archive", list(store.events("B1"))[-1].time_us)
    assert report.closed_event_seq == closed.closed_event_seq and report.override_reason == "test batch"
    refused(store, lambda: store.allocate("B1", "unit", 1), Precondition, "BATCH_NOT_OPEN")
    refused(store, lambda: store.close_batch("B1"), Precondition, "BATCH_NOT_OPEN")
    assert store.record(units[0]).state is State.RELEASED
    assert not differences(store)


def test_batch_wide_event_times_never_go_backwards(line: Line) -> None:
    store = line.store
    ahead = now_us() + 60_000_000  # a clock a minute ahead
    store.set_lock(Lock.PENDING, batch_id="B1", origin=Origin(time_us=ahead))
    for call in (
        lambda: store.set_status("self_checked", batch_id="B1", origin=Origin(time_us=ahead - 1)),
        lambda: store.close_batch("B1", override_reason="x", origin=Origin(time_us=ahead - 1)),
    ):
        refused(store, call, Precondition, "TIME_WENT_BACKWARDS")
    store.set_status("self_checked", batch_id="B1")  # no time sent: the store's own, not before the lock's
    store.close_batch("B1", override_reason="x")
    assert [e.time_us for e in store.events("B1")][-2:] == [ahead, ahead]
    assert not differences(store)


def test_a_retried_close_gets_the_report_and_writes_nothing(line: Line) -> None:
    store = line.store
    line.commissioned("unit", 2)  # loose
    first = store.close_batch(
        "B1", override_reason="two loose units to rework", origin=Origin(idempotency_key="close-1")
    )
    seq = store.last_event_seq()
    retry = store.close_batch(
        "B1", override_reason="two loose units to rework", origin=Origin(idempotency_key="close-1")
    )
    assert store.last_event_seq() == seq
    assert retry == first and retry.closed_event_seq == seq and len(retry.loose_units) == 2
    refused(
        store,
        lambda: store.close_batch("B1", origin=Origin(idempotency_key="close-1")),
        AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert not differences(store)


def test_the_replay_check_sees_a_batch_record_that_disagrees_with_the_log(line: Line) -> None:
    store = line.store
    store.set_lock(Lock.PENDING, batch_id="B1")
    assert not differences(store)
    batch = store.batch("B1")
    store._db.write(lambda tx: tx.put_batch(replace(batch, last_event_us=0)))  # as an older linecode wrote it
    assert not differences(store)
    store._db.write(
        lambda tx: tx.put_batch(replace(batch, lock=Lock.NORMAL))
    )  # a record the log does not explain
    (found,) = differences(store)
    assert found.startswith("batch B1:") and "PENDING" in found


def test_a_batch_closed_before_it_kept_its_close_event(line: Line) -> None:
    """A store written by an earlier linecode: the batch record has no event numbers. The report
    says so instead of "event 0", a close retry still gets its time, an export after the upgrade is
    kept, and the replay check takes the numbers from the log."""
    store = line.store
    line.bundle()
    first = store.close_batch("B1", override_reason="shift end", origin=Origin(idempotency_key="close-B1"))
    old = replace(store.batch("B1"), closed_event_seq=0)
    store._db.write(lambda tx: tx.put_batch(old))  # as the earlier linecode wrote it
    assert not differences(store)
    report = store.reconcile("B1")
    assert (report.closed_event_seq, report.closed_us, report.override_reason) == (0, 0, None)
    assert "closed before the batch record kept its close event" in "\n".join(format_report(report))
    retry = store.close_batch("B1", override_reason="shift end", origin=Origin(idempotency_key="close-B1"))
    assert (retry.closed_event_seq, retry.closed_us) == (first.closed_event_seq, first.closed_us)
    assert retry.override_reason == "shift end" and retry == first
    store.mark_exported("B1", "NMPA")
    retry = store.close_batch("B1", override_reason="shift end", origin=Origin(idempotency_key="close-B1"))
    assert retry.state is BatchState.EXPORTED and retry.exported_to == "NMPA"  # as it stands now
    assert not differences(store)
    store._db.write(lambda tx: tx.put_batch(replace(store.batch("B1"), closed_event_seq=1)))
    (found,) = differences(store)
    assert found.startswith("batch B1:") and f"closed_event_seq={first.closed_event_seq}" in found
