"""Serial leases: which index ranges of each pool this server may still issue, and allocation from them.

A pool record holds ``free`` (ranges this server owns and has not issued) and ``used`` (ranges
issued here or exported to another server: never to be issued here again). Allocation takes the
lowest free indices, writes one record per code and the ALLOCATED event, all in the same durable
transaction that shrinks ``free``: when ``allocate`` returns, the reservation is on disk, and if
the process dies before the commit the pool never moved. So no index is ever handed out twice,
after any crash; codes handed out but never printed stay ``allocated`` and show up as *unused* in
the batch's reconciliation.

Export carves ranges off the top of ``free`` for another server; import adds ranges that overlap
nothing this server owns or has used (SPEC §7: the lease is the unit of allocation).
"""

from __future__ import annotations

import itertools
from typing import Any

from linecode.errors import AlreadyExists, Exhausted, InvalidArgument, NotFound, Precondition, shown
from linecode.reasons import Reason
from linecode.serials import MasterKey
from linecode.store import coderules, records
from linecode.store.model import Batch, BatchState, EventKind, IndexRange, Lease, Level, Stamp, State
from linecode.store.tx import Tx

MAX_ALLOCATION = 1_000_000
"""Most codes one ``allocate`` call hands out (a bigger one would hold the writer too long)."""


def create_pool(tx: Tx, level: Level, *, claim: bool) -> None:
    """Make the level's pool record if it does not exist; ``claim`` gives this server the whole domain."""
    name = coderules.pool_name(level)
    if tx.pool(name) is not None:
        return
    size = coderules.pool_size(level)
    tx.put_pool(name, {"size": size, "free": [[0, size]] if claim else [], "used": []})


def _pool(tx: Tx, name: str) -> dict[str, Any]:
    pool = tx.pool(name)
    if pool is None:
        raise NotFound(
            f"no serial pool {shown(name)} in this store",
            reason=Reason.UNKNOWN_POOL,
            hint="create the product that uses it first (create_product)",
        )
    return pool


def _merge(ranges: list[IndexRange]) -> list[IndexRange]:
    merged: list[IndexRange] = []
    for r in sorted(ranges, key=lambda r: r.start):
        if merged and merged[-1].end >= r.start:
            merged[-1] = IndexRange(merged[-1].start, max(merged[-1].end, r.end))
        else:
            merged.append(r)
    return merged


def _take(free: list[IndexRange], count: int, *, from_top: bool) -> tuple[list[IndexRange], list[IndexRange]]:
    """Split ``count`` indices off ``free`` (lowest first, or highest first): (taken, left)."""
    taken: list[IndexRange] = []
    left = list(reversed(free)) if from_top else list(free)
    need = count
    while need:
        r = left.pop(0)
        n = min(need, r.count)
        if from_top:
            taken.append(IndexRange(r.end - n, r.end))
            rest = IndexRange(r.start, r.end - n)
        else:
            taken.append(IndexRange(r.start, r.start + n))
            rest = IndexRange(r.start + n, r.end)
        if rest.count:
            left.insert(0, rest)
        need -= n
    return _merge(taken), _merge(left)


def reserve(tx: Tx, name: str, count: int, *, from_top: bool = False) -> list[IndexRange]:
    """Move ``count`` indices of pool ``name`` from free to used; raises :class:`Exhausted`."""
    pool = _pool(tx, name)
    free = records.ranges_from_json(pool["free"])
    available = sum(r.count for r in free)
    if count > available:
        raise Exhausted(
            f"serial pool {name!r} has {available:,} indices left on this server, {count:,} were asked for",
            reason=Reason.POOL_EXHAUSTED,
            hint="import a lease for this pool from the server that owns it (import_lease)"
            if available == 0
            else "ask for fewer codes",
        )
    taken, left = _take(free, count, from_top=from_top)
    used = _merge(records.ranges_from_json(pool["used"]) + taken)
    tx.put_pool(name, {**pool, "free": records.ranges_to_json(left), "used": records.ranges_to_json(used)})
    return taken


def allocate(
    tx: Tx,
    master: MasterKey,
    batch: Batch,
    level: int,
    count: int,
    *,
    at: Stamp,
) -> tuple[list[IndexRange], list[str], list[str], int]:
    """Reserve and record ``count`` codes of ``level`` for ``batch``: (ranges, keys, symbols, event seq)."""
    if batch.state is not BatchState.OPEN:
        raise Precondition(
            f"batch {batch.batch_id!r} is {batch.state.label}; codes can only be allocated to an open batch",
            reason=Reason.BATCH_NOT_OPEN,
        )
    if not 1 <= count <= MAX_ALLOCATION:
        raise InvalidArgument(
            f"allocation of {count:,} codes: expected 1 to {MAX_ALLOCATION:,} per call",
            reason=Reason.BAD_COUNT,
            hint="split a large allocation into several calls",
        )
    spec = tx.product(batch.product_id).spec(level)
    ranges = reserve(tx, coderules.pool_name(spec), count)
    keys: list[str] = []
    symbols: list[str] = []
    for r in ranges:
        k, s = coderules.generate(master, spec, batch, r.start, r.count)
        keys += k
        symbols += s
    clash = tx.insert_rows(keys, records.new_row(level, batch.ref, at.time_us).pack())
    if clash:
        # Only possible if two pools produced the same key (e.g. a GTIN reused across products).
        raise AlreadyExists(
            f"allocated codes already exist in the store: {', '.join(clash[:10])}",
            reason=Reason.CODE_EXISTS,
            codes=clash[:10],
            hint="two levels share an identifier: give each product level its own identifier",
        )
    tx.add_to_batch(batch.ref, level, keys)
    tx.count_new(batch.ref, level, State.ALLOCATED, len(keys))
    detail = Lease(coderules.pool_name(spec), tuple(ranges)).as_text()
    seq = tx.append_event(at, EventKind.ALLOCATED, batch.ref, codes=keys, detail=detail)
    return ranges, keys, symbols, seq


def export_lease(tx: Tx, name: str, count: int, *, at: Stamp) -> Lease:
    """Give ``count`` indices of pool ``name`` (the top of what this server owns) to another server."""
    if count < 1:
        raise InvalidArgument(f"lease of {count} indices: expected at least 1", reason=Reason.BAD_COUNT)
    lease = Lease(name, tuple(reserve(tx, name, count, from_top=True)))
    tx.append_event(at, EventKind.LEASE_EXPORTED, 0, detail=lease.as_text())
    return lease


def import_lease(tx: Tx, lease: Lease, *, at: Stamp) -> int:
    """Take over a lease exported by another server; refuses ranges overlapping anything known here."""
    pool = _pool(tx, lease.pool)
    free = records.ranges_from_json(pool["free"])
    used = records.ranges_from_json(pool["used"])
    for r in lease.ranges:
        if not 0 <= r.start < r.end <= pool["size"]:
            raise InvalidArgument(
                f"lease range {r.start}-{r.end} of pool {lease.pool!r}: "
                f"expected 0 <= start < end <= {pool['size']}",
                reason=Reason.BAD_LEASE,
            )
        for mine in free + used:
            if r.start < mine.end and mine.start < r.end:
                raise AlreadyExists(
                    f"lease range {r.start}-{r.end} of pool {lease.pool!r} overlaps {mine.start}-{mine.end}, "
                    "which this server already owns or has used",
                    reason=Reason.LEASE_OVERLAP,
                    hint="import each lease once, and only leases exported by the pool's owner",
                )
    if _overlapping(lease.ranges):
        raise InvalidArgument(
            f"lease {shown(lease.as_text())} has overlapping ranges", reason=Reason.BAD_LEASE
        )
    tx.put_pool(lease.pool, {**pool, "free": records.ranges_to_json(_merge(free + list(lease.ranges)))})
    return tx.append_event(at, EventKind.LEASE_IMPORTED, 0, detail=lease.as_text())


def _overlapping(ranges: tuple[IndexRange, ...]) -> bool:
    ordered = sorted(ranges, key=lambda r: r.start)
    return any(a.end > b.start for a, b in itertools.pairwise(ordered))


def free_count(tx: Tx, name: str) -> int:
    """Indices of pool ``name`` this server may still issue."""
    return sum(r.count for r in records.ranges_from_json(_pool(tx, name)["free"]))
