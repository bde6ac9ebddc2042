"""Rebuilding every code's and batch's state from the event log alone, and comparing it with the
stored records.

The event log is the truth the exports are made from; the code records are a fast index of it.
``differences(store)`` must be empty: tests check it after every scenario and after each crash,
and ``linecode check`` (``check.py``) reports every difference among its other checks. Both read the
log and the records in one read transaction (:func:`read_snapshot`), so a server writing meanwhile
cannot make them disagree.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol, TypeVar

from linecode.store import records
from linecode.store.model import (
    Batch,
    BatchState,
    Event,
    EventKind,
    IndexRange,
    Lock,
    RegulatoryStatus,
    State,
)
from linecode.store.records import Row
from linecode.store.retention import Pruned
from linecode.store.store import Store
from linecode.store.tx import Tx

T = TypeVar("T")

_STATE_OF = {
    EventKind.ENCODED: State.ENCODED,
    EventKind.COMMISSIONED: State.COMMISSIONED,
    EventKind.SCRAPPED: State.SCRAPPED,
    EventKind.SAMPLED: State.SAMPLED,
    EventKind.DESTROYED: State.DESTROYED,
    EventKind.DECOMMISSIONED: State.DECOMMISSIONED,
    EventKind.RELEASED: State.RELEASED,
}
_BATCH_STATE_OF = {
    EventKind.BATCH_CREATED: BatchState.OPEN,
    EventKind.BATCH_CLOSED: BatchState.CLOSED,
    EventKind.BATCH_EXPORTED: BatchState.EXPORTED,
}
_BATCH_EVENTS = frozenset({*_BATCH_STATE_OF, EventKind.BATCH_STATUS_SET, EventKind.BATCH_LOCK_SET})


@dataclass(slots=True)
class CodeState:
    """The part of a code record that events determine."""

    batch_id: str | None
    state: State = State.ALLOCATED
    status: RegulatoryStatus = RegulatoryStatus.NONE
    lock: Lock = Lock.NORMAL
    parent: str | None = None
    children: int = 0
    partial: bool = False
    last_event_us: int = 0


@dataclass(slots=True)
class BatchView:
    """The part of a batch record that events determine."""

    state: BatchState = BatchState.OPEN
    status: RegulatoryStatus = RegulatoryStatus.NONE
    lock: Lock = Lock.NORMAL
    last_event_us: int = 0
    closed_event_seq: int = 0
    exported_event_seq: int = 0


Locate = Callable[[str], list[tuple[str, int]]]
"""A code's pool index in each pool that could have made it (``Tx.locate``)."""


class Replayed(Mapping[str, CodeState]):
    """Every code's state as the log says: those its events named, kept; any other code allocated
    by an ALLOCATED event is what its allocation made it (so a million unused codes cost nothing)."""

    def __init__(self, locate: Locate) -> None:
        self.named: dict[str, CodeState] = {}
        """The codes some event after their allocation named."""
        self.allocated: dict[str, list[tuple[int, int, str, int, int, int]]] = {}
        """Per pool, the ALLOCATED events' ranges by start: (start, end, batch id, level, time, seq)."""
        self._locate = locate

    def allocation(self, code: str) -> tuple[int, int, str, int, int, int] | None:
        """The replayed allocation ``code`` is of (None: no ALLOCATED event made it)."""
        for pool, index in self._locate(code):
            ranges = self.allocated.get(pool, [])
            at = bisect.bisect_right(ranges, (index, _NO_END)) - 1
            if at >= 0 and ranges[at][0] <= index < ranges[at][1]:
                return ranges[at]
        return None

    def __getitem__(self, code: str) -> CodeState:
        state = self.named.get(code)
        if state is None:
            found = self.allocation(code)
            if found is None:
                raise KeyError(code)
            state = CodeState(found[2], last_event_us=found[4])
        return state

    def named_state(self, code: str) -> CodeState:
        """``code``'s state, kept from now on (an event is about to change it)."""
        state = self.named.get(code)
        if state is None:
            state = self.named[code] = self[code]
        return state

    def __iter__(self) -> Iterator[str]:
        return iter(self.named)

    def __len__(self) -> int:
        return len(self.named)


_NO_END = 1 << 70
"""Sorts after every (start, end, …) of one start."""


def replay(
    events: Iterable[Event],
    locate: Locate,
    pruned: Iterable[records.AllocatedRange] = (),
    names: Mapping[int, str] = {},
) -> tuple[Replayed, dict[str, BatchView]]:
    """Every code's and batch's state after ``events`` (which must start at the first event);
    ``pruned``: the allocations of batches whose ALLOCATED events retention took out of the log
    (their batch refs named by ``names``), so later events may still name their codes."""
    codes = Replayed(locate)
    batches: dict[str, BatchView] = {}
    for a in pruned:
        kept = codes.allocated.setdefault(a.pool, [])
        bisect.insort(kept, (a.start, a.end, names[a.batch_ref], a.level, a.time_us, a.event_seq))

    def allocated(event: Event, pool: str, ranges: Sequence[IndexRange], level: int) -> None:
        kept = codes.allocated.setdefault(pool, [])
        assert event.batch_id is not None
        for r in ranges:
            bisect.insort(kept, (r.start, r.end, event.batch_id, level, event.time_us, event.seq))

    def batch(name: str) -> BatchView:
        return batches.setdefault(name, BatchView())

    for event in events:
        apply(event, codes.named_state, batch, allocated)
    return codes, batches


class Marks(Protocol):
    """What an event may change of a code: a :class:`CodeState`, or the hub's record of the
    changes alone (``linecode.hub.ingest``)."""

    state: State
    status: RegulatoryStatus
    lock: Lock
    parent: str | None
    children: int
    partial: bool
    last_event_us: int


def apply(
    event: Event,
    state: Callable[[str], Marks],
    batch: Callable[[str], BatchView],
    allocated: Callable[[Event, str, Sequence[IndexRange], int], object],
) -> None:
    """What ``event`` does to the codes and batches it names: the one statement of how the log
    makes state (the replay here and the hub's ingest both run it). ``state(code)`` and
    ``batch(name)`` give the record to change; ``allocated`` is told an ALLOCATED event's ranges."""
    t = event.time_us
    if event.kind in _BATCH_EVENTS:
        assert event.batch_id is not None
        view = batch(event.batch_id)
        view.last_event_us = t
        if event.kind in _BATCH_STATE_OF:
            view.state = _BATCH_STATE_OF[event.kind]
            if event.kind is EventKind.BATCH_CLOSED:
                view.closed_event_seq = event.seq
            elif event.kind is EventKind.BATCH_EXPORTED:
                view.exported_event_seq = event.seq
        elif event.kind is EventKind.BATCH_STATUS_SET:
            view.status = RegulatoryStatus[json.loads(event.detail)["status"].upper()]
        else:
            view.lock = Lock[json.loads(event.detail)["lock"].upper()]
    elif event.kind is EventKind.ALLOCATED:
        assert event.batch_id is not None and not event.codes, "an allocation names ranges, not codes"
        pool, ranges, level = records.parse_allocation_detail(event.detail)
        allocated(event, pool, ranges, level)
    elif event.kind in _STATE_OF:
        new = _STATE_OF[event.kind]
        for code in event.codes:
            named = state(code)
            named.state = new
            named.last_event_us = t
    elif event.kind in (EventKind.AGGREGATED, EventKind.DISAGGREGATED):
        adding = event.kind is EventKind.AGGREGATED
        assert event.parent is not None
        for code in event.codes:
            child = state(code)
            child.state = State.AGGREGATED if adding else State.COMMISSIONED
            child.parent = event.parent if adding else None
            child.last_event_us = t
        parent = state(event.parent)
        parent.children += len(event.codes) if adding else -len(event.codes)
        parent.partial = event.detail == "partial"
        parent.last_event_us = t
    elif event.kind in (EventKind.STATUS_SET, EventKind.LOCK_SET):
        mark = json.loads(event.detail)
        for code in event.codes:
            named = state(code)
            if "status" in mark:
                named.status = RegulatoryStatus[mark["status"].upper()]
            else:
                named.lock = Lock[mark["lock"].upper()]
            named.last_event_us = t


def read_snapshot(store: Store, fn: Callable[[Tx], T]) -> T:
    """``fn`` on one read transaction of ``store``: everything it reads is the store at one moment,
    also while a server writes. (The :class:`Store` methods read in short transactions of their own,
    so a slow reader never holds the store; a comparison across several of them could see a write
    land in between and report a difference that never was.) The transaction is held until ``fn``
    returns: in a server's own process, the map cannot grow meanwhile."""
    return store._db.read(fn)


def events_in(tx: Tx) -> Iterator[Event]:
    """Every event of the log, oldest first, as ``tx`` sees it."""
    names = tx.batch_refs()
    for key, raw in tx.txn.cursor(db=tx.db.dbs["events"]):
        yield records.unpack_event(records.seq_of(key), raw, names)


def code_state(row: Row, batch_id: str | None) -> CodeState:
    """The part of a code record that events determine (``batch_id``: the name of ``row.batch_ref``)."""
    return CodeState(
        batch_id, row.state, row.status, row.lock, row.parent, row.children, row.partial, row.last_event_us
    )


class Stored(Mapping[str, CodeState]):
    """Every code's state as its record says: those with a record of their own, kept; any other
    code allocated here is what its allocation makes it (``Tx.row``)."""

    def __init__(self, tx: Tx, rows: Mapping[str, Row] | None = None) -> None:
        self.tx = tx
        self.names = tx.batch_refs()
        self.rows = rows if rows is not None else dict(tx.own_rows())

    def __getitem__(self, code: str) -> CodeState:
        row = self.rows.get(code)
        if row is None:
            row = self.tx.row(code)
            if row is None:
                raise KeyError(code)
        return code_state(row, self.names.get(row.batch_ref))

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def stored_in(tx: Tx) -> Stored:
    """Every code's state as the records say."""
    return Stored(tx)


def stored(store: Store) -> dict[str, CodeState]:
    """The codes with a record of their own and their states (in one read transaction)."""
    return read_snapshot(store, lambda tx: dict(stored_in(tx)))


def _batch_view(batch: Batch, replayed: BatchView | None) -> BatchView:
    # A batch record written before 2026-12 keeps no time or event numbers (0): nothing to compare.
    old = replayed or BatchView()
    return BatchView(
        batch.state,
        batch.status,
        batch.lock,
        batch.last_event_us or old.last_event_us,
        batch.closed_event_seq or old.closed_event_seq,
        batch.exported_event_seq or old.exported_event_seq,
    )


def mismatches(
    code_events: Mapping[str, CodeState],
    batch_events: Mapping[str, BatchView],
    code_records: Mapping[str, CodeState],
    batches: Iterable[Batch],
    without: Collection[str] = (),
) -> Iterator[str]:
    """Each batch, then each code, whose record (``code_records``, ``batches``) disagrees with the
    replayed log (``code_events``, ``batch_events``: what :func:`replay` returned), in key order;
    but the batches ``without`` and their codes (retention pruned their history: ``retention.py``)."""
    batch_records = {b.batch_id: _batch_view(b, batch_events.get(b.batch_id)) for b in batches}
    sides: tuple[tuple[Mapping[str, object], Mapping[str, object], str], ...] = (
        (batch_events, batch_records, "batch "),
        (code_events, code_records, ""),
    )
    for from_events, from_records, what in sides:
        for key in sorted(from_events.keys() | from_records.keys()):
            a, b = from_events.get(key), from_records.get(key)
            if without and (key in without or _of(a, without) or _of(b, without)):
                continue
            if a != b:
                yield f"{what}{key}: events say {a}, records say {b}"


def pruned_allocations(tx: Tx, batches: Collection[str]) -> list[records.AllocatedRange]:
    """The allocations of ``batches`` (whose events retention pruned), as the store keeps them."""
    if not batches:
        return []
    refs = {ref for ref, name in tx.batch_refs().items() if name in batches}
    return [a for a in tx.allocations() if a.batch_ref in refs]


def _of(state: object, batches: Collection[str]) -> bool:
    """Whether ``state`` is a code's of one of ``batches``."""
    return isinstance(state, CodeState) and state.batch_id in batches


def differences(store: Store, limit: int = 20) -> list[str]:
    """Where the records disagree with the replayed event log (empty when they agree), at most
    ``limit`` of them; the log and the records are read in one transaction."""

    def run(tx: Tx) -> list[str]:
        gone = Pruned.of(tx).batches
        names = tx.batch_refs()
        code_events, batch_events = replay(events_in(tx), tx.locate, pruned_allocations(tx, gone), names)
        found = mismatches(code_events, batch_events, stored_in(tx), tx.batches(), gone)
        return list(islice(found, limit))

    return read_snapshot(store, run)
