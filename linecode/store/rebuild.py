"""A store made again from its complete event log (disaster recovery: ``restore --from-hub``).

:func:`rebuild` creates a new store and runs each event of the log, in order, through the store's
own write rules (``leases``, ``lifecycle``, ``aggregation``, ``reconcile``; products and batches
through :meth:`Store.create_product` and :meth:`Store.create_batch`) at the event's own time, actor
and line. So every record derived from the log (code records, counters, children, allocations,
pools, batches, products) is written by the code that wrote it the first time, and a rule broken
along the way is refused as it was then. After each event it re-ran, the event that run appended
must be the original, field by field (sequence number, time, kind, batch, actor, line, codes,
parent, detail): a restore that finishes is self-checked to equal the original, and a log that is
not a store's complete log (a gap, an event altered, another master key) stops it at the first
event that does not re-run to itself.

How a log's events map to the rules (one request of the original wrote one or several events):

* ALLOCATED takes the lowest free indices of its pool, as every allocation does; the pool's free
  ranges come from the same pool creations, allocations and leases, so it takes the ranges the
  event names (the comparison holds it to them);
* a line report, a status or lock set on codes: one event per batch it touched, each re-run alone;
* a reparent (a DISAGGREGATED per old parent, then the AGGREGATED) and a rework (``replace``: a
  DISAGGREGATED, a DECOMMISSIONED or DESTROYED of the old child, the AGGREGATED of the new one) are
  re-run event by event: the same rules, the same records. An AGGREGATED event keeps the partial
  flag it recorded (``keep_partial``), since a rework keeps the parent's flag whatever its count:
  that a partial parent was declared partial is the one rule not checked again;
* RELEASED is the first half of a close: it and the BATCH_CLOSED after it are one ``close``.

An event's time, actor and line are taken as it recorded them: the rules hold a time to the earlier
events of its codes and batch, as they did the first time, and an actor or line within their bounds
is anybody's.

What the log does not hold, the rebuilt store does not have:

* the idempotency answers: a retry, after the restore, of a request made before it is not
  recognised as one (it is refused, or done again);
* whether a product's new pools were claimed whole (``claim_pools``) or left empty for leases: a
  pool that some lease was imported into was empty, one that handed out indices before any import
  was claimed, and one that neither happened to is made claimed, as a store of no hub makes it
  (``pools_from_hub``: empty and flagged ``hub``, as a site of a hub makes it; a store that became
  a site of a hub midway had pools of both kinds, and gets all of one);
* the store's id (a rebuilt store is a new store, as a backup brought back is) and its
  ``master.key``: give the key, and put its file beside the store (``linecode backup`` copies it);
* which events were shipped to a hub: the store keeps no such mark yet.

Writes are committed a few thousand events at a time, unsynced, and the store is synced once at the end; it is
built in a hidden directory beside ``data`` and renamed into place only once complete, so a
refused or failed rebuild leaves nothing behind (one killed midway leaves its
``.<name>.rebuild-*`` directory, which holds nothing worth keeping).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from linecode.errors import AlreadyExists, InvalidArgument, LinecodeError
from linecode.serials import MasterKey
from linecode.store import aggregation, leases, lifecycle, reconcile, records
from linecode.store.database import DEFAULT_MAP_SIZE, DEFAULT_MAX_MAP_SIZE
from linecode.store.model import (
    Event,
    EventKind,
    Lease,
    LineEvent,
    Lock,
    Origin,
    RegulatoryStatus,
    Stamp,
)
from linecode.store.replay import read_snapshot
from linecode.store.store import Store
from linecode.store.tx import Tx

EVENTS_PER_COMMIT = 5_000
"""Events re-run in one write transaction (fewer when they carry many codes: ``CODES_PER_COMMIT``)."""
CODES_PER_COMMIT = 200_000
"""Codes the events of one write transaction name at most (a commit then holds a few hundred MB of
dirty pages at worst); an event naming more runs alone."""

_LINE_EVENTS: dict[EventKind, LineEvent] = {
    kind: event for event, (_, _, kind) in lifecycle.TRANSITIONS.items()
}
"""The line event each code-state event records (``lifecycle.TRANSITIONS`` read backwards)."""
_CREATIONS = frozenset({EventKind.PRODUCT_CREATED, EventKind.BATCH_CREATED})
"""Events re-run through the ``Store`` API, each in a write of its own (rare: products, batches)."""
_FIELDS = ("seq", "time_us", "kind", "batch_id", "actor", "line", "codes", "parent", "detail")


class LogRefused(InvalidArgument):
    """The events given are not the complete log of a store: event :attr:`seq` is missing, out of
    place, breaks a rule when re-run, or re-runs to another event than itself. Nothing was kept."""

    def __init__(self, seq: int, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.seq = seq
        """The number of the first event (or of the missing event) the rebuild could not take."""


def rebuild(
    events: Iterable[Event],
    data: Path | str,
    master: MasterKey,
    *,
    pools_from_hub: bool = False,
    last_seq: int | None = None,
    events_per_commit: int = EVENTS_PER_COMMIT,
    map_size: int = DEFAULT_MAP_SIZE,
    max_map_size: int = DEFAULT_MAX_MAP_SIZE,
) -> int:
    """Make a new store in ``data`` from ``events``, the complete log of a store (events 1 … N in
    order, as ``Store.events()`` gives them, or the hub keeps them), written with ``master``; the
    number of events it holds (N). See the module's docstring for how, and for what the log does not
    hold.

    * ``pools_from_hub``: the store was a site of a hub (``[hub]`` in its server's config): its
      pools are made empty and flagged ``hub``, as that server made them.
    * ``last_seq``: the number of the last event of the log (the hub knows it); a log ending before
      it is refused. A log cut short is otherwise a valid log of an earlier moment.
    * ``events_per_commit``: events re-run per write transaction.
    * ``map_size``, ``max_map_size``: the new store's first and largest LMDB map (``Store.open``).

    Raises :class:`~linecode.errors.AlreadyExists` if ``data`` exists and is not an empty directory
    (a rebuild overwrites nothing), :class:`LogRefused` (an ``InvalidArgument``) naming the first
    event that is missing or does not re-run to itself, and what opening and writing a store raise
    (:class:`~linecode.errors.Exhausted` ``STORE_FULL`` past ``max_map_size``, ``DISK_FULL``). On any
    error nothing is left at ``data`` nor beside it. The new directory is its owner's only (0700).
    """
    if events_per_commit < 1:
        raise InvalidArgument(f"events_per_commit {events_per_commit}: expected at least 1")
    target = Path(data)
    _refuse_a_store(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.rebuild-", dir=target.parent))
    try:
        store = Store.open(
            work,
            master_key=master,
            group_commit=False,
            sync=False,
            map_size=map_size,
            max_map_size=max_map_size,
        )
        try:
            store.pools_from_hub = pools_from_hub
            count = _Rebuild(store, events_per_commit).run(events)
            if last_seq is not None and count != last_seq:
                raise LogRefused(
                    count + 1,
                    f"the log ends at event {count}; expected it to end at event {last_seq}",
                    hint="fetch the whole log again",
                )
            store._db.env.sync(True)  # the one sync: the writes were committed unsynced
        finally:
            store.close()
        _publish(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return count


def _refuse_a_store(target: Path) -> None:
    """Raise :class:`AlreadyExists` unless ``target`` is missing or an empty directory."""
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise AlreadyExists(
            f"{target} exists and is not an empty directory; a rebuild makes a new store and overwrites "
            "nothing",
            hint="name a new directory, or move the old one away first",
        )


def _publish(work: Path, target: Path) -> None:
    """Rename the finished store ``work`` to ``target`` (missing or an empty directory), durably."""
    try:
        os.rename(work, target)
    except OSError as exc:  # something was put there meanwhile
        raise AlreadyExists(
            f"cannot move the rebuilt store to {target}: {exc}; expected it missing or an empty directory",
            hint="name a new directory, or move the old one away first",
        ) from exc
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Rebuild:
    """One rebuild: reads the log, cuts it into write transactions, re-runs and compares each event."""

    def __init__(self, store: Store, events_per_commit: int) -> None:
        self.store = store
        self.events_per_commit = events_per_commit

    def run(self, events: Iterable[Event]) -> int:
        """Re-run every event of ``events``; how many there were."""
        chunk: list[Event] = []
        codes = 0
        expected = 1
        for event in events:
            if event.seq != expected:
                missing = "event 1 (the log must be complete)" if expected == 1 else f"event {expected}"
                raise LogRefused(
                    expected,
                    f"the log has event {event.seq} where {missing} belongs; expected events 1, 2, 3 … "
                    "without a gap",
                    hint="fetch the whole log again",
                )
            expected += 1
            if event.kind in _CREATIONS:
                self._commit(chunk)
                chunk, codes = [], 0
                self._create(event)
                continue
            chunk.append(event)
            codes += len(event.codes)
            # a RELEASED event is re-run with the BATCH_CLOSED after it: never the last of a commit
            full = len(chunk) >= self.events_per_commit or codes >= CODES_PER_COMMIT
            if full and event.kind is not EventKind.RELEASED:
                self._commit(chunk)
                chunk, codes = [], 0
        self._commit(chunk)
        return expected - 1

    def _commit(self, chunk: Sequence[Event]) -> None:
        """Re-run ``chunk`` in one write transaction (run again from its start if the map grows)."""
        if chunk:
            self.store._db.write(lambda tx: _rerun(tx, chunk))

    def _create(self, event: Event) -> None:
        """Re-run a PRODUCT_CREATED or BATCH_CREATED event through the ``Store`` API."""
        origin = Origin(actor=event.actor, time_us=event.time_us)
        s = self.store
        try:
            data = json.loads(event.detail)
            if event.kind is EventKind.PRODUCT_CREATED:
                p = records.product_from_json(data)
                s.create_product(
                    p.product_id, p.name, p.mah, p.levels, mixed_pallets=p.mixed_pallets, origin=origin
                )
            else:
                b = records.batch_from_json(data)
                s.create_batch(
                    b.product_id,
                    b.batch_number,
                    production_date=b.production_date,
                    expiry_date=b.expiry_date,
                    line=b.line,
                    planned_quantity=b.planned_quantity,
                    batch_id=b.batch_id,
                    origin=origin,
                )
        except (LinecodeError, ValueError, KeyError, TypeError) as exc:
            raise _not_rerun(event, exc) from exc
        read_snapshot(s, lambda tx: _compare(tx, [event]))


def _rerun(tx: Tx, chunk: Sequence[Event]) -> None:
    """Re-run ``chunk`` on ``tx``, comparing what each event appends with the event."""
    waiting: list[Event] = []
    for event in chunk:
        if waiting and not (event.kind is EventKind.BATCH_CLOSED and event.batch_id == waiting[0].batch_id):
            raise _unclosed(waiting[0], event)
        waiting.append(event)
        if event.kind is EventKind.RELEASED:
            continue  # the close it is part of comes with the BATCH_CLOSED
        try:
            _run(tx, event)
        except (LinecodeError, ValueError, KeyError, TypeError) as exc:
            raise _not_rerun(waiting[0], exc) from exc
        _compare(tx, waiting)
        waiting = []
    if waiting:
        raise _unclosed(waiting[0], None)


def _run(tx: Tx, event: Event) -> None:
    """Run the rule that wrote ``event`` (any kind but RELEASED, PRODUCT_CREATED, BATCH_CREATED)."""
    at = Stamp(event.time_us, event.actor, event.line)
    kind, batch_id, codes = event.kind, event.batch_id or "", list(event.codes)
    if kind is EventKind.ALLOCATED:
        pool, ranges, level = records.parse_allocation_detail(event.detail)
        _settle_claim(tx, pool, taking=True)
        leases.allocate(tx, tx.batch(batch_id), level, sum(r.count for r in ranges), at=at)
    elif kind in _LINE_EVENTS:
        lifecycle.report(tx, _LINE_EVENTS[kind], codes, at=at)
    elif kind is EventKind.AGGREGATED:
        parent = _parent(event)
        keep = event.detail == "partial"
        aggregation.aggregate(tx, parent, codes, partial=keep, keep_partial=keep, at=at)
    elif kind is EventKind.DISAGGREGATED:
        aggregation.disaggregate(tx, _parent(event), codes, at=at)
    elif kind in (EventKind.STATUS_SET, EventKind.LOCK_SET):
        status, lock, reason = _marks(event.detail)
        lifecycle.set_code_marks(tx, codes, status=status, lock=lock, reason=reason, at=at)
    elif kind in (EventKind.BATCH_STATUS_SET, EventKind.BATCH_LOCK_SET):
        status, lock, reason = _marks(event.detail)
        lifecycle.set_batch_marks(tx, batch_id, status=status, lock=lock, reason=reason, at=at)
    elif kind is EventKind.BATCH_CLOSED:
        reconcile.close(tx, batch_id, json.loads(event.detail)["override_reason"], at=at)
    elif kind is EventKind.BATCH_EXPORTED:
        reconcile.mark_exported(tx, batch_id, json.loads(event.detail)["destination"], at=at)
    elif kind is EventKind.LEASE_EXPORTED:
        lease = Lease.parse(event.detail)
        _settle_claim(tx, lease.pool, taking=True)
        leases.export_lease(tx, lease.pool, lease.count, at=at)
    elif kind is EventKind.LEASE_IMPORTED:
        lease = Lease.parse(event.detail)
        _settle_claim(tx, lease.pool, taking=False)
        leases.import_lease(tx, lease, at=at)
    else:
        raise ValueError(f"no rule re-runs a {kind.label} event here")


def _parent(event: Event) -> str:
    if event.parent is None:
        raise ValueError("an aggregation event without its parent")
    return event.parent


def _marks(detail: str) -> tuple[RegulatoryStatus | None, Lock | None, str]:
    """The status or lock and the reason of a mark event's detail (``lifecycle.mark_detail``)."""
    mark: dict[str, Any] = json.loads(detail)
    status = RegulatoryStatus[mark["status"].upper()] if "status" in mark else None
    lock = Lock[mark["lock"].upper()] if status is None else None
    return status, lock, mark["reason"]


def _settle_claim(tx: Tx, name: str, *, taking: bool) -> None:
    """Make an untouched pool what its next event shows it was made: one indices are taken from
    (``taking``) before any lease came in was claimed whole; one a lease is imported into was made
    empty (a claimed pool owns its whole domain, so no lease could be imported into it). A pool
    something was taken from or imported into already is left alone."""
    pool = tx.pool(name)
    if pool is None or pool["used"]:
        return
    whole = [[0, pool["size"]]]
    if taking and not pool["free"]:
        tx.put_pool(name, {**pool, "free": whole})
    elif not taking and pool["free"] == whole:
        tx.put_pool(name, {**pool, "free": []})


def _compare(tx: Tx, originals: Sequence[Event]) -> None:
    """Raise :class:`LogRefused` unless the events ``tx`` holds from ``originals[0].seq`` on are
    exactly ``originals``."""
    first = originals[0].seq
    made = [tx.event(seq) for seq in range(first, tx.last_seq() + 1)]
    for i, original in enumerate(originals):
        again = made[i] if i < len(made) else None
        if again is None or _fields(again) != _fields(original):
            raise _differs(original, again)
    if len(made) > len(originals):
        extra = made[len(originals)]
        assert extra is not None
        raise LogRefused(
            extra.seq,
            f"re-running event {originals[-1].seq} ({originals[-1].kind.label}) also wrote event {extra.seq} "
            f"({extra.kind.label}), which the log does not have there",
            hint=_HINT,
        )


def _fields(event: Event) -> tuple[Any, ...]:
    return tuple(tuple(event.codes) if f == "codes" else getattr(event, f) for f in _FIELDS)


def _differs(original: Event, again: Event | None) -> LogRefused:
    what = f"event {original.seq} ({original.kind.label})"
    if again is None:
        return LogRefused(original.seq, f"re-running {what} wrote no such event", hint=_HINT)
    fields = [
        f"{name} {_short(b)} instead of {_short(a)}"
        for name, a, b in zip(_FIELDS, _fields(original), _fields(again), strict=True)
        if a != b
    ]
    return LogRefused(original.seq, f"{what} re-ran to another event: {'; '.join(fields)}", hint=_HINT)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "…"


def _not_rerun(event: Event, exc: Exception) -> LogRefused:
    return LogRefused(
        event.seq,
        f"event {event.seq} ({event.kind.label}) does not re-run: {type(exc).__name__}: {exc}",
        hint=_HINT,
    )


def _unclosed(released: Event, after: Event | None) -> LogRefused:
    follows = "the log ends" if after is None else f"event {after.seq} is {after.kind.label}"
    return LogRefused(
        released.seq,
        f"event {released.seq} (released) is not followed by its batch's batch_closed ({follows}); "
        "expected the two events of a close together",
        hint=_HINT,
    )


_HINT = (
    "the log is not this store's complete log as it was written (altered, out of order, or from "
    "another store), or the master key is not the store's"
)
