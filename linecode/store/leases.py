"""Serial leases: which index ranges of each pool this server may still issue, and allocation from them.

A pool record holds its code rule, ``free`` (ranges this server owns and has not issued) and
``used`` (ranges issued here or exported to another server: never to be issued here again).
Allocation takes the lowest free indices and records them as ranges (``allocations``: pool, start,
count, batch, level, time, event) with the ALLOCATED event, in the same durable transaction that
shrinks ``free``: when ``allocate`` returns, the reservation is on disk, and if the process dies
before the commit the pool never moved. So no index is ever handed out twice, after any crash. No
code gets a record of its own until its first event: until then the store answers for it from its
allocation (``Tx.row``), so an allocation costs the same for ten codes as for a million; codes
handed out but never printed stay ``allocated`` and show up as *unused* in the batch's
reconciliation.

Export carves ranges off the top of ``free`` for another server; import adds ranges that overlap
nothing this server owns or has used (SPEC §7: the lease is the unit of allocation).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from linecode.errors import AlreadyExists, Exhausted, InvalidArgument, NotFound, Precondition, shown
from linecode.reasons import Reason
from linecode.store import coderules, records
from linecode.store.model import Batch, BatchState, EventKind, IndexRange, Lease, Level, Stamp, State
from linecode.store.records import AllocatedRange
from linecode.store.tx import Tx

MAX_ALLOCATION = 1_000_000
"""Most codes one ``allocate`` call hands out (a bigger one would hold the writer too long)."""


def create_pool(tx: Tx, level: Level, *, claim: bool, hub: bool = False) -> None:
    """Make the level's pool record if it does not exist; ``claim`` gives this server the whole
    domain, ``hub`` marks a pool whose ranges come from the hub (``linecode hub``). A level of a
    pool that exists must make its codes by the pool's rule."""
    name = coderules.pool_name(level)
    rule = coderules.pool_rule(level)
    pool = tx.pool(name)
    if pool is not None:
        kept = {k: pool[k] for k in rule if k in pool}
        if kept != rule:
            raise InvalidArgument(
                f"level {shown(level.name)} draws from pool {name!r}, whose codes are made by "
                f"{shown(str(kept))}; expected the same rule (e.g. the same GS1 serial alphabet and "
                "length), or each index would be two codes",
                reason=Reason.POOL_RULE_MISMATCH,
                hint="use the pool's serial alphabet and length, or another identifier",
            )
        return
    clash = coderules.overlapping_pool(name, tx.pools())
    if clash is not None:
        raise InvalidArgument(
            f"level {shown(level.name)}: pool {name!r} would make some of the SSCCs of pool {clash!r} "
            "(one company prefix extends the other); expected SSCC identifiers that do not nest",
            reason=Reason.POOL_OVERLAP,
            hint="give the level the identifier of the pool it overlaps, or another extension digit",
        )
    size = coderules.pool_size(level)
    record = {**rule, "size": size, "free": [[0, size]] if claim else [], "used": []}
    tx.put_pool(name, {**record, "hub": True} if hub else record)


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
    if count > available and pool.get("hub"):
        raise Exhausted(
            f"this site holds {available:,} indices of pool {name!r} from the hub, {count:,} were asked "
            "for; it asks the hub for more in the background, and the hub has not answered yet",
            reason=Reason.LEASE_EXHAUSTED,
            hint="retry shortly; if it lasts, check the hub is reachable (linecode leases --data DIR shows "
            "what this site holds)",
        )
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


def allocate(tx: Tx, batch: Batch, level: int, count: int, *, at: Stamp) -> tuple[list[IndexRange], int]:
    """Reserve ``count`` codes of ``level`` for ``batch`` and record them as ranges: (ranges, event seq)."""
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
    name = coderules.pool_name(tx.product(batch.product_id).spec(level))
    ranges = reserve(tx, name, count)
    seq = tx.append_event(
        at, EventKind.ALLOCATED, batch.ref, detail=records.allocation_detail(name, ranges, level)
    )
    for r in ranges:
        tx.put_allocation(AllocatedRange(name, r.start, r.count, batch.ref, level, at.time_us, seq))
    tx.count_new(batch.ref, level, State.ALLOCATED, count)
    return ranges, seq


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


@dataclass
class PoolHolding:
    """What a site of a hub holds of one of its pools: unused ranges, and the indices they are."""

    pool: str
    ranges: list[IndexRange]
    remaining: int
    owned: int
    """Indices ever granted to this site (issued, exported or still held)."""


def holdings(pools: dict[str, dict[str, Any]]) -> list[PoolHolding]:
    """The hub pools among ``pools`` (``Store.pools()``), as a site holds them, by name."""
    out = []
    for name, pool in sorted(pools.items()):
        if pool.get("hub"):
            free = records.ranges_from_json(pool["free"])
            used = records.ranges_from_json(pool["used"])
            out.append(PoolHolding(name, free, sum(r.count for r in free), sum(r.count for r in free + used)))
    return out
