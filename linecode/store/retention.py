"""Retention on a site of a hub: events the hub holds, and idempotency answers, pruned once old.

A site's event log grows by every pack; once the hub has acknowledged an event (``Tx.shipped``) the
hub's copy is the record, and the site keeps it only as long as it may need it itself. :func:`prune`
takes out, a chunk per write transaction (a line's writes go on between chunks):

* an event older than the retention, acknowledged by the hub, of a batch that is no longer open,
  naming codes (a batch's own events — created, closed, exported, its status and lock — are kept)
  and no code of another batch (a mixed pallet's aggregation names other batches' cases: their
  history, kept while they are kept);
* an idempotency answer older than the retention (a retry comes within seconds; one after 30 days
  is a new request).

Kept forever, because the store answers from them or they cost nothing: every record (products,
batches, pools, allocations, each code's record, counters, the parent/child index) — what a scan
is verified against and what the line's rules check; the events of no batch (products created,
leases taken and given: the serial space's history, a few per week); each batch's own events (its
report reads when and how it was closed and where its data went); the events of open batches and
every event the hub has not acknowledged; answers written before answers kept their time.

The look stops at the first event newer than the retention (a line's times run with the log), so an
hourly prune walks what it prunes and the few old events kept, not the whole log.

What was pruned is noted in the store (``records.PRUNED``: the batches whose history is gone and
how many events), so ``linecode check`` compares with the log only what the log still holds, and a
site export of such a batch is refused (the hub exports it whole: ``linecode hub export``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from linecode.store import records
from linecode.store.model import BatchState, EventKind

if TYPE_CHECKING:
    from linecode.store.store import Store
    from linecode.store.tx import Tx

DAY_US = 86_400 * 1_000_000
CHUNK = 5_000
"""Events or answers looked at per write transaction."""
_CHILD_NAMING = frozenset({EventKind.AGGREGATED, EventKind.DISAGGREGATED})
KEPT = frozenset(
    {
        EventKind.BATCH_CREATED,
        EventKind.BATCH_CLOSED,
        EventKind.BATCH_EXPORTED,
        EventKind.BATCH_STATUS_SET,
        EventKind.BATCH_LOCK_SET,
    }
)
"""A batch's own events, kept forever: a handful a batch, and its report reads them (when and with
what override it was closed, where its data went)."""


@dataclass
class Pruned:
    """What retention has taken out of a store so far (``records.PRUNED``)."""

    batches: set[str] = field(default_factory=set)
    """Batches some of whose events are gone."""
    events: int = 0
    answers: int = 0

    @classmethod
    def of(cls, tx: Tx) -> Pruned:
        raw = tx.txn.get(records.PRUNED)
        if raw is None:
            return cls()
        data = json.loads(bytes(raw))
        return cls(set(data["batches"]), int(data["events"]), int(data.get("answers", 0)))

    def keep(self, tx: Tx) -> None:
        data: dict[str, Any] = {
            "batches": sorted(self.batches),
            "events": self.events,
            "answers": self.answers,
        }
        tx.txn.put(records.PRUNED, json.dumps(data, sort_keys=True).encode())


def prune(store: Store, before_us: int, chunk: int = CHUNK) -> Pruned:
    """Prune what is older than ``before_us`` (see the module's docstring); returns what this call
    pruned. Several write transactions: safe beside a running line, and resumable after a crash."""
    done = Pruned()
    seq = 0
    while True:
        seq, n, batches = store._db.write(partial(_prune_events, after=seq, before_us=before_us, chunk=chunk))
        done.events += n
        done.batches |= batches
        if seq == 0:
            break
    key = b""
    while True:
        key, n = store._db.write(partial(_prune_answers, after=key, before_us=before_us, chunk=chunk))
        done.answers += n
        if not key:
            break
    return done


def _prune_events(tx: Tx, after: int, before_us: int, chunk: int) -> tuple[int, int, set[str]]:
    """One chunk of events after ``after``: (the last looked at, 0 at the end; pruned; their batches)."""
    shipped = tx.shipped()
    names = tx.batch_refs()
    open_refs = {b.ref for b in tx.batches() if b.state is BatchState.OPEN}
    events = tx.db.dbs["events"]
    cursor = tx.txn.cursor(db=events)
    if not cursor.set_range(records.seq_key(after + 1)):
        return 0, 0, set()
    pruned, last = 0, after
    batches: set[str] = set()
    newest = tx.last_seq()  # never pruned: the next event's number follows it
    for _ in range(chunk):
        key, raw = cursor.item()
        seq = records.seq_of(key)
        if seq > shipped or seq >= newest:
            return 0, pruned, _noted(tx, batches, pruned)
        last = seq
        event = records.unpack_event(seq, raw, names)
        if event.time_us >= before_us:  # the log is in time order, near enough: the rest is newer
            return 0, pruned, _noted(tx, batches, pruned)
        ref = records.event_batch_ref(raw)
        if ref and ref not in open_refs and event.kind not in KEPT and _own_codes(tx, event, ref):
            batches.add(names[ref])
            pruned += 1
            more = cursor.delete()  # and on to the next
        else:
            more = cursor.next()
        if not more:
            return 0, pruned, _noted(tx, batches, pruned)
    return last, pruned, _noted(tx, batches, pruned)


def _own_codes(tx: Tx, event: Any, ref: int) -> bool:
    """Whether every code ``event`` names is of its own batch (only aggregations can name others')."""
    if event.kind not in _CHILD_NAMING:
        return True
    return all(row is not None and row.batch_ref == ref for row in tx.rows(list(event.codes)))


def _noted(tx: Tx, batches: set[str], events: int) -> set[str]:
    if events:
        kept = Pruned.of(tx)
        kept.batches |= batches
        kept.events += events
        kept.keep(tx)
    return batches


def _prune_answers(tx: Tx, after: bytes, before_us: int, chunk: int) -> tuple[bytes, int]:
    """One chunk of idempotency answers after key ``after``: (the last key, b"" at the end; pruned)."""
    cursor = tx.txn.cursor(db=tx.db.dbs["idempotency"])
    if not (cursor.set_range(after + b"\x00") if after else cursor.first()):
        return b"", 0
    pruned = 0
    last = after
    for _ in range(chunk):
        key, raw = cursor.item()
        last = bytes(key)
        stamp = records.answer_time(raw)
        if stamp and stamp < before_us:
            pruned += 1
            more = cursor.delete()
        else:
            more = cursor.next()
        if not more:
            last = b""
            break
    if pruned:
        kept = Pruned.of(tx)
        kept.answers += pruned
        kept.keep(tx)
    return last, pruned
