"""Group commit: many callers' requests share one durable commit, each still all or nothing."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import pytest

from linecode.errors import LinecodeError
from linecode.store import Origin, ReconciliationReport
from linecode.store.model import EventKind, Lock, Stamp, now_us
from linecode.store.replay import differences
from linecode.store.tx import Tx
from tests.factories import make_batch

from .conftest import Line, in_one_group


def test_group_commit_isolates_a_failing_request(line: Line) -> None:
    """Many threads at once: the good requests all land, each bad one fails alone."""
    store = line.store
    parents = line.commissioned("bundle", 40)
    units = line.commissioned("unit", 200)
    errors: list[LinecodeError] = []
    commits = store.commits

    def pack(i: int) -> None:
        kids = units[5 * i : 5 * i + 5]
        if i % 10 == 3:
            kids = [*kids[:4], units[0]]  # units[0] belongs to request 0: one of the two must fail
        try:
            store.aggregate(parents[i], kids, origin=Origin(idempotency_key=f"k{i}"))
        except LinecodeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pack, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 4 and {e.reason for e in errors} <= {
        "CHILD_ALREADY_AGGREGATED",
        "PARTIAL_NOT_DECLARED",
    }
    packed = sum(1 for p in parents if store.record(p).children == 5)
    assert packed == 36
    assert store.commits - commits <= 40  # at least sometimes several requests shared a commit
    assert not differences(store)


def test_group_commit_rolls_back_a_request_that_fails_half_way(line: Line) -> None:
    """A replace whose second step fails, in one group with good requests before and after it:
    its first step (taking the old child out) must not survive, the others must."""
    store = line.store
    parents = line.commissioned("bundle", 3)
    units = line.commissioned("unit", 15)
    store.aggregate(parents[0], units[:5])
    not_printed = store.allocate("B1", "unit", 1).codes[0]
    outcomes, commits = in_one_group(
        store,
        [
            lambda: store.aggregate(parents[1], units[5:10]),
            # CHILD_NOT_COMMISSIONED after the unpack:
            lambda: store.replace(parents[0], units[0], not_printed),
            lambda: store.aggregate(parents[2], units[10:15]),
            lambda: store.aggregate(parents[2], units[10:15]),  # the same again: already packed
        ],
    )
    assert commits == 1
    assert outcomes[1] == "CHILD_NOT_COMMISSIONED" and outcomes[3] == "CHILD_ALREADY_AGGREGATED"
    assert set(store.children_of(parents[0])) == set(units[:5])
    assert store.record(units[0]).parent == parents[0]
    assert {store.record(u).parent for u in units[5:10]} == {parents[1]}
    assert {store.record(u).parent for u in units[10:15]} == {parents[2]}
    assert not differences(store)


def test_the_requests_of_one_group_see_each_others_writes(line: Line) -> None:
    """The requests of a group share what they have read (batches, counters, the last event's
    number), in one transaction and in the savepoints after a failing request: counters changed by
    one request are in the next one's reconciliation, a batch closed by one is closed for the next,
    and events keep counting."""
    store = line.store
    make_batch(store, "B2")
    for batch_id in ("B1", "B2"):
        parents = line.commissioned("bundle", 2, batch_id)
        units = line.commissioned("unit", 10, batch_id)
        last = store.last_event_seq()
        calls: list[Callable[[], object]] = [
            lambda p=parents, u=units: store.aggregate(p[0], u[:5]),
            lambda b=batch_id: store.close_batch(b, "end of shift"),
            lambda p=parents, u=units: store.aggregate(p[1], u[5:10]),
        ]
        if batch_id == "B1":  # a failing request before the close, which then runs in a savepoint
            calls.insert(1, lambda p=parents, u=units: store.aggregate(p[1], u[:5]))
        outcomes, commits = in_one_group(store, calls)
        assert commits == 1
        assert outcomes[0].event_seq == last + 1  # type: ignore[attr-defined]
        if batch_id == "B1":
            assert outcomes[1] == "CHILD_ALREADY_AGGREGATED"
        report = outcomes[-2]
        assert isinstance(report, ReconciliationReport), report
        assert report.closed_event_seq > last + 1
        unit_level = next(level for level in report.levels if level.level_name == "unit")
        assert (unit_level.aggregated, unit_level.loose) == (5, 5)
        assert not any("counters" in d for d in report.discrepancies), report.discrepancies
        assert outcomes[-1] == "BATCH_NOT_OPEN"  # closed by the request before it
        assert store.record(units[5]).parent is None
        assert not any("counters" in d for d in store.reconcile(batch_id).discrepancies)
    assert not differences(store)


def test_an_event_that_would_not_be_last_is_an_error_not_lost(line: Line) -> None:
    """LMDB's append mode skips a key that is not after the last one without an error; the event
    log turns that into one, so a wrong sequence number can never drop an event silently."""
    store = line.store
    last = store.last_event_seq()

    def append_with_a_stale_number(tx: Tx) -> int:
        tx._seq = last - 1  # as if another write had appended since it was read
        return tx.append_event(Stamp(now_us(), "", ""), EventKind.SAMPLED, 1)

    with pytest.raises(RuntimeError, match="would not be the last"):
        store._db.write(append_with_a_stale_number)
    assert store.last_event_seq() == last and not differences(store)


def test_many_callers_mixing_writes_keep_records_log_and_counters_in_step(line: Line) -> None:
    """32 threads send a seeded random mix of writes, many of them refused (codes taken, locked,
    sampled, batch locks), so groups keep falling back to savepoints: afterwards the records agree
    with the replayed log and the per-state counters with the records."""
    store = line.store
    bundles = line.commissioned("bundle", 12)
    units = line.commissioned("unit", 60)
    errors: list[BaseException] = []
    done: list[int] = []
    refusals: set[str] = set()

    def write(rng: random.Random, n: int) -> None:
        bundle, picked, op = rng.choice(bundles), rng.sample(units, 5), rng.randrange(6)
        if op == 0:
            store.aggregate(bundle, picked, partial=rng.random() < 0.5)
        elif op == 1:
            store.disaggregate(bundle)
        elif op == 2:
            store.report_events("sampled", picked[:1])
        elif op == 3:
            store.set_lock(rng.choice(list(Lock)), codes=picked[:2])
        elif op == 4:
            store.set_lock(rng.choice([Lock.NORMAL, Lock.PENDING]), batch_id="B1")
        else:  # keys shared between threads: a retry, or a key reused for another request
            store.aggregate(bundle, picked[:3], partial=True, origin=Origin(idempotency_key=f"k{n % 7}"))

    def caller(seed: int) -> None:
        rng = random.Random(seed)
        for n in range(25):
            try:
                write(rng, n)
                done.append(1)
            except LinecodeError as exc:  # expected; they must leave no trace
                refusals.add(exc.reason)
            except BaseException as exc:
                errors.append(exc)

    commits = store.commits
    threads = [threading.Thread(target=caller, args=(seed,)) for seed in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(done) > 100 and {"CHILD_ALREADY_AGGREGATED", "CODE_LOCKED"} <= refusals
    assert store.commits - commits < 32 * 25  # requests did share commits
    assert not differences(store)
    store.set_lock(Lock.NORMAL, batch_id="B1")
    assert not any("counters" in d for d in store.reconcile("B1").discrepancies)
