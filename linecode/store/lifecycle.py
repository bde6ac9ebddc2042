"""Code life cycle (SPEC §3): legal transitions, bulk line events, regulatory status and locks.

Every function here runs inside one write transaction and validates everything before it writes
anything, so a refused request leaves no trace. Errors name the offending codes and their current
state, and say what state was expected.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

from linecode.errors import InvalidArgument, NotFound, Precondition, TimeWentBackwards
from linecode.reasons import Reason
from linecode.store.model import (
    Batch,
    BatchState,
    Change,
    EventKind,
    LineEvent,
    Lock,
    RegulatoryStatus,
    Stamp,
    State,
    format_time,
    now_us,
)
from linecode.store.records import Row
from linecode.store.tx import Tx

SHOWN = 10
"""How many offending codes an error message spells out (all of them are in ``error.codes``)."""

TRANSITIONS: dict[LineEvent, tuple[frozenset[State], State, EventKind]] = {
    LineEvent.PRINTED: (frozenset({State.ALLOCATED}), State.ENCODED, EventKind.ENCODED),
    LineEvent.VERIFIED: (frozenset({State.ENCODED}), State.COMMISSIONED, EventKind.COMMISSIONED),
    LineEvent.VERIFY_FAILED: (
        frozenset({State.ENCODED, State.COMMISSIONED}),
        State.SCRAPPED,
        EventKind.SCRAPPED,
    ),
    LineEvent.SAMPLED: (frozenset({State.COMMISSIONED}), State.SAMPLED, EventKind.SAMPLED),
    LineEvent.DESTROYED: (
        frozenset({State.ENCODED, State.COMMISSIONED, State.SCRAPPED, State.SAMPLED, State.DECOMMISSIONED}),
        State.DESTROYED,
        EventKind.DESTROYED,
    ),
    LineEvent.DECOMMISSIONED: (
        frozenset({State.COMMISSIONED}),
        State.DECOMMISSIONED,
        EventKind.DECOMMISSIONED,
    ),
}
"""Line event → (states it may start from, state it leads to, event recorded)."""

_HINTS = {
    State.AGGREGATED: "disaggregate it from its parent first",
    State.RELEASED: "its batch is closed; released codes do not change on the line",
}


def listing(codes: Sequence[str]) -> str:
    """``a, b, c (and 7 more)`` for error messages."""
    shown = ", ".join(codes[:SHOWN])
    return shown + (f" (and {len(codes) - SHOWN} more)" if len(codes) > SHOWN else "")


def require(tx: Tx, keys: Sequence[str], role: str = "code") -> tuple[list[str], list[Row]]:
    """The keys and records of ``keys`` (canonical keys: ``Store.key``); raises :class:`NotFound`
    naming every one this store does not have."""
    keys = list(keys)
    found = tx.rows(keys)
    missing = [k for k, row in zip(keys, found, strict=True) if row is None]
    if missing:
        raise NotFound(
            f"{len(missing)} {role}(s) not in this store: {listing(missing)}; expected codes allocated here",
            reason=Reason.UNKNOWN_CODE,
            codes=missing,
            hint="check for misreads; codes from another server or a forged code are unknown here",
        )
    return keys, found  # type: ignore[return-value]


def no_duplicates(keys: Sequence[str], role: str = "code") -> None:
    """Raise :class:`InvalidArgument` ``DUPLICATE_CODE`` (``DUPLICATE_<ROLE>``) if a code appears
    twice in one request. Give it keys, not texts: two spellings of one code are one key."""
    if len(set(keys)) == len(keys):
        return
    seen: set[str] = set()
    dups = sorted({k for k in keys if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
    raise InvalidArgument(
        f"{role} {listing(dups)} appear(s) more than once in the request (in one spelling or "
        "several); expected each once",
        reason=Reason.DUPLICATE_CHILD if role == "child" else Reason.DUPLICATE_CODE,
        codes=dups,
    )


class Batches:
    """Batches of the rows a request touches (each read once: ``Tx.batch_by_ref`` remembers them)."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def __call__(self, ref: int) -> Batch:
        return self._tx.batch_by_ref(ref)

    def require_open(self, keys: Sequence[str], rows: Sequence[Row]) -> None:
        # Usually all rows share one batch: look each batch up once, in the order first met.
        if all(self(ref).state is BatchState.OPEN for ref in dict.fromkeys(r.batch_ref for r in rows)):
            return
        closed = [
            k for k, r in zip(keys, rows, strict=True) if self(r.batch_ref).state is not BatchState.OPEN
        ]
        if closed:
            batch = self(rows[keys.index(closed[0])].batch_ref)
            raise Precondition(
                f"code(s) {listing(closed)} belong to batch {batch.batch_id!r}, "
                f"which is {batch.state.label}; "
                "expected an open batch",
                reason=Reason.BATCH_NOT_OPEN,
                codes=closed,
            )


def effective_lock(row: Row, batch: Batch) -> Lock:
    """The code's own lock, or its batch's when the code's is normal."""
    return row.lock if row.lock is not Lock.NORMAL else batch.lock


def effective_status(row: Row, batch: Batch) -> RegulatoryStatus:
    """The code's own status, or its batch's when the code has none."""
    return row.status if row.status is not RegulatoryStatus.NONE else batch.status


def require_unlocked(keys: Sequence[str], rows: Sequence[Row], batches: Batches, what: str) -> None:
    locked = [(k, effective_lock(r, batches(r.batch_ref))) for k, r in zip(keys, rows, strict=True)]
    locked = [(k, lock) for k, lock in locked if lock is not Lock.NORMAL]
    if locked:
        text = listing([f"{k} ({lock.label} {lock.chinese})" for k, lock in locked])
        raise Precondition(
            f"locked code(s) cannot be {what}: {text}; expected lock 'normal' (正常)",
            reason=Reason.CODE_LOCKED,
            codes=[k for k, _ in locked],
            hint="clear the lock of the code or its batch (set_lock) once the cause is resolved",
        )


MAX_AHEAD_US = 10 * 60 * 1_000_000
"""How far ahead of the server's clock a caller's event time may be (clocks of a line drift a little;
a time hours ahead is a wrong clock, and once stored it would refuse every later event at the
right time)."""


MIN_TIME_US = 946_684_800_000_000
"""2000-01-01T00:00:00Z: an earlier event time is a time in the wrong unit (seconds, milliseconds)."""


def check_time(time_us: int | None) -> None:
    """A caller's event time (None: the store takes its own) is in microseconds and not far ahead."""
    if time_us is None:
        return
    now = now_us()
    if time_us < MIN_TIME_US or time_us > now + MAX_AHEAD_US:
        what = (
            "before 2000 (seconds or milliseconds instead of microseconds?)"
            if time_us < MIN_TIME_US
            else f"{(time_us - now) / 60e6:,.1f} min ahead of the server clock ({format_time(now)})"
        )
        raise InvalidArgument(
            f"event time {time_us} is {what}; expected microseconds since the epoch, "
            f"at most {MAX_AHEAD_US // 60_000_000} min ahead",
            reason=Reason.BAD_TIME,
            hint="check the line controller's clock, or send no time to use the server's",
        )


def require_time(keys: Sequence[str], rows: Sequence[Row], time_us: int) -> None:
    """Event times never go backwards for a code."""
    late = [(k, r.last_event_us) for k, r in zip(keys, rows, strict=True) if r.last_event_us > time_us]
    if late:
        raise _backwards(
            time_us, max(t for _, t in late), listing([k for k, _ in late]), [k for k, _ in late]
        )


def _backwards(time_us: int, latest: int, what: str, codes: list[str]) -> TimeWentBackwards:
    return TimeWentBackwards(
        f"event time {format_time(time_us)} is {(latest - time_us) / 1e6:,.3f} s earlier than the last "
        f"event of {what} ({format_time(latest)}); expected times that never go backwards",
        latest_us=latest,
        codes=codes,
        hint="check the clock of the line controller that sent the time (with no time sent: the server's)",
    )


def require_states(
    keys: Sequence[str], rows: Sequence[Row], allowed: frozenset[State], doing: str, reason: Reason
) -> None:
    """Raise :class:`Precondition` naming each code not in ``allowed`` with its current state."""
    wrong = [(k, r.state) for k, r in zip(keys, rows, strict=True) if r.state not in allowed]
    if not wrong:
        return
    expected = " or ".join(sorted(s.label for s in allowed))
    states = {s for _, s in wrong}
    hints = [_HINTS[s] for s in states if s in _HINTS]
    raise Precondition(
        f"cannot {doing} {len(wrong)} code(s) in the wrong state: "
        f"{listing([f'{k} (is {s.label})' for k, s in wrong])}; expected {expected}",
        reason=reason,
        codes=[k for k, _ in wrong],
        hint="; ".join(hints) or None,
    )


OUT_OF_SERVICE = frozenset({State.SCRAPPED, State.SAMPLED, State.DESTROYED, State.DECOMMISSIONED})
"""States a code leaves the line for: it must hold no children then (they would stay packed in it)."""


def require_empty(keys: Sequence[str], rows: Sequence[Row], doing: str) -> None:
    """Raise :class:`Precondition` ``PARENT_NOT_EMPTY`` naming each code that holds children."""
    holding = [k for k, r in zip(keys, rows, strict=True) if r.children]
    if holding:
        raise Precondition(
            f"cannot {doing} {len(holding)} code(s) holding packed children: {listing(holding)}; "
            "expected codes with nothing packed in them",
            reason=Reason.PARENT_NOT_EMPTY,
            codes=holding,
            hint="disaggregate them first",
        )


def report(tx: Tx, event: LineEvent, keys: Sequence[str], *, at: Stamp) -> Change:
    """Apply one line event to many codes (distinct keys), all or nothing; one event per batch touched."""
    if not keys:
        raise InvalidArgument("no codes in the event report; expected at least one", reason=Reason.NO_CODES)
    keys, rows = require(tx, keys)
    allowed, target, kind = TRANSITIONS[event]
    batches = Batches(tx)
    batches.require_open(keys, rows)
    require_states(keys, rows, allowed, f"report {event.value} for", Reason.ILLEGAL_TRANSITION)
    if target in OUT_OF_SERVICE:
        require_empty(keys, rows, f"report {event.value} for")
    require_time(keys, rows, at.time_us)

    def move(key: str, row: Row) -> None:
        tx.set_state(key, row, target)

    return apply(tx, keys, rows, move, kind, at=at)


def apply(
    tx: Tx,
    keys: Sequence[str],
    rows: Sequence[Row],
    change: Callable[[str, Row], None],
    kind: EventKind,
    *,
    at: Stamp,
    detail: str = "",
) -> Change:
    """Apply ``change`` to validated rows, store them, and record one ``kind`` event per batch."""
    by_batch: dict[int, list[str]] = defaultdict(list)
    for key, row in zip(keys, rows, strict=True):
        change(key, row)
        row.last_event_us = at.time_us
        by_batch[row.batch_ref].append(key)
    tx.put_rows(keys, rows)
    seq = 0
    for ref, codes in by_batch.items():
        seq = tx.append_event(at, kind, ref, codes=codes, detail=detail)
    return Change(seq, tuple(keys))


def set_code_marks(
    tx: Tx,
    keys: Sequence[str],
    *,
    status: RegulatoryStatus | None,
    lock: Lock | None,
    reason: str,
    at: Stamp,
) -> Change:
    """Set the regulatory status or the lock of codes (distinct keys; one of the two)."""
    if not keys:
        raise InvalidArgument("no codes given; expected at least one", reason=Reason.NO_CODES)
    keys, rows = require(tx, keys)
    require_time(keys, rows, at.time_us)
    kind = EventKind.STATUS_SET if status is not None else EventKind.LOCK_SET

    def mark(key: str, row: Row) -> None:
        row.status = status if status is not None else row.status
        row.lock = lock if lock is not None else row.lock

    detail = mark_detail(status, lock, reason)
    return apply(tx, keys, rows, mark, kind, at=at, detail=detail)


def set_batch_marks(
    tx: Tx,
    batch_id: str,
    *,
    status: RegulatoryStatus | None,
    lock: Lock | None,
    reason: str,
    at: Stamp,
) -> Change:
    """Set the batch-wide status or lock: it applies to every code of the batch that has none of its own."""
    batch = tx.batch(batch_id)
    tx.may_change([batch.ref])
    if status is not None:
        batch = replace(batch, status=status)
    if lock is not None:
        batch = replace(batch, lock=lock)
    kind = EventKind.BATCH_STATUS_SET if status is not None else EventKind.BATCH_LOCK_SET
    detail = mark_detail(status, lock, reason)
    return Change(batch_event(tx, batch, kind, at, detail=detail), ())


def batch_event(tx: Tx, batch: Batch, kind: EventKind, at: Stamp, *, detail: str) -> int:
    """Store ``batch`` (as changed by the caller) and append its batch-wide event; its sequence
    number, which the batch keeps if it closes or exports it. Batch-wide event times never go
    backwards either."""
    if at.time_us < batch.last_event_us:
        raise _backwards(at.time_us, batch.last_event_us, f"batch {batch.batch_id!r}", [])
    seq = tx.append_event(at, kind, batch.ref, detail=detail)
    if kind is EventKind.BATCH_CLOSED:
        batch = replace(batch, closed_event_seq=seq)
    elif kind is EventKind.BATCH_EXPORTED:
        batch = replace(batch, exported_event_seq=seq)
    tx.put_batch(replace(batch, last_event_us=at.time_us))
    return seq


def mark_detail(status: RegulatoryStatus | None, lock: Lock | None, reason: str) -> str:
    """Event detail of a status or lock change (read back by ``replay``)."""
    mark = {"status": status.label} if status is not None else {"lock": lock.label if lock else "normal"}
    return json.dumps({**mark, "reason": reason}, ensure_ascii=False, sort_keys=True)
