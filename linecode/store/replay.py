"""Rebuilding every code's and batch's state from the event log alone, and comparing it with the
stored records.

The event log is the truth the exports are made from; the code records are a fast index of it.
``differences(store)`` must be empty: tests check it after every scenario and after each crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from linecode.store.model import BatchState, Event, EventKind, Lock, RegulatoryStatus, State
from linecode.store.store import Store

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


@dataclass
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


def replay(events: Iterable[Event]) -> dict[str, CodeState]:
    """Every code's state after ``events`` (which must start at the first event)."""
    codes: dict[str, CodeState] = {}
    for event in events:
        t = event.time_us
        if event.kind is EventKind.ALLOCATED:
            for code in event.codes:
                codes[code] = CodeState(event.batch_id, last_event_us=t)
        elif event.kind in _STATE_OF:
            for code in event.codes:
                codes[code].state = _STATE_OF[event.kind]
                codes[code].last_event_us = t
        elif event.kind in (EventKind.AGGREGATED, EventKind.DISAGGREGATED):
            adding = event.kind is EventKind.AGGREGATED
            assert event.parent is not None
            for code in event.codes:
                child = codes[code]
                child.state = State.AGGREGATED if adding else State.COMMISSIONED
                child.parent = event.parent if adding else None
                child.last_event_us = t
            parent = codes[event.parent]
            parent.children += len(event.codes) if adding else -len(event.codes)
            parent.partial = event.detail == "partial"
            parent.last_event_us = t
        elif event.kind in (EventKind.STATUS_SET, EventKind.LOCK_SET):
            mark = json.loads(event.detail)
            for code in event.codes:
                if "status" in mark:
                    codes[code].status = RegulatoryStatus[mark["status"].upper()]
                else:
                    codes[code].lock = Lock[mark["lock"].upper()]
                codes[code].last_event_us = t
    return codes


def replay_batches(events: Iterable[Event]) -> dict[str, BatchState]:
    """Every batch's state after ``events`` (which must start at the first event)."""
    return {e.batch_id: _BATCH_STATE_OF[e.kind] for e in events if e.kind in _BATCH_STATE_OF and e.batch_id}


def stored(store: Store) -> dict[str, CodeState]:
    """The same view, read from the code records."""
    out: dict[str, CodeState] = {}
    for batch in store.batches():
        for r in store.records(batch.batch_id):
            out[r.code] = CodeState(
                r.batch_id, r.state, r.status, r.lock, r.parent, r.children, r.partial, r.last_event_us
            )
    return out


def differences(store: Store, limit: int = 20) -> list[str]:
    """Where the records disagree with the replayed event log (empty when they agree)."""
    from_events = replay(store.events())
    from_records = stored(store)
    found = [
        f"batch {b}: events say {state.label}, records say {store.batch(b).state.label}"
        for b, state in sorted(replay_batches(store.events()).items())
        if store.batch(b).state is not state
    ]
    for code in sorted(from_events.keys() | from_records.keys()):
        a, b = from_events.get(code), from_records.get(code)
        if a != b:
            found.append(f"{code}: events say {a}, records say {b}")
            if len(found) >= limit:
                break
    return found
