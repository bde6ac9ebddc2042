"""``check(store)``: does everything a store keeps agree with everything else it keeps?

The event log is the truth; the code records, the per-state counters, the hierarchy's links and
the serial pools are kept beside it on every write, in the same transaction. An operator (``linecode
check``, ``AdminService.CheckStore``) runs this to know they still agree, area by area:

* ``events``: the log is numbered 1, 2, 3 … without a gap, and replays from start to end;
* ``records``: every code's and batch's record is what the replayed log says (``replay.py``);
* ``index``: each code key is filed under its own slot, each slot holds a record and each record
  is reached from a code key; each record is of the batch and level of the allocation that made its
  code; each batch's per-level index of allocations (``batch_ranges``) lists exactly its allocations;
* ``counters``: the per-state counters of each batch and level equal the records counted (a code
  with no record of its own counted as allocated);
* ``hierarchy``: a record naming a parent is listed in that parent's children index, every listed
  child names that parent, and a parent's child count is the length of its list;
* ``pools``: free and used index ranges lie within the pool and overlap nothing; the used indices
  are exactly those the ALLOCATED and LEASE_EXPORTED events took, no index taken twice; the
  allocations kept are exactly the ranges the ALLOCATED events took (batch, level, time and event
  too); an imported lease lies in what the pool owns.

Everything is read in one read transaction: a server writing meanwhile changes nothing the check
sees, so writes in flight never make it report a difference. It holds every code's record and
replayed state in memory while it runs, for the codes with a record of their own (an allocated code
without an event costs nothing): about 1 KB and 20 µs per code (240,000 codes, 48,000 of them
parents: 4.4 s and 215 MB on the development VM, when every code had a record). Codes are placed in
their pools through the master key, so a check needs it (as the server does). Its snapshot's pages
are not reused while it runs, so a store under load grows its file a little meanwhile; in a server's
own process (CheckStore) a write that finds the map full waits for the check to end before it grows
the map.
"""

from __future__ import annotations

import struct
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from linecode.errors import LinecodeError
from linecode.store import records, replay
from linecode.store.leases import _merge as merge_ranges
from linecode.store.model import Batch, Event, EventKind, IndexRange, Lease, Level, Product, State
from linecode.store.records import Row
from linecode.store.retention import Pruned
from linecode.store.store import Store
from linecode.store.tx import Tx

AREAS = ("events", "records", "index", "counters", "hierarchy", "pools")
"""What a check compares, in the order it reports."""
LISTED = 100
"""Disagreements a report lists by default (all are counted)."""
L = TypeVar("L")
_TAKING = {EventKind.ALLOCATED: "allocated", EventKind.LEASE_EXPORTED: "lease exported"}


@dataclass(frozen=True)
class Finding:
    """One disagreement: the area it is in and what disagrees with what."""

    area: str
    message: str


@dataclass
class CheckReport:
    """What a check compared and where it found the store disagreeing with itself."""

    last_event_seq: int
    """The event log position of the snapshot checked."""
    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AREAS, 0))
    """Per area, how many things were compared: events replayed; codes and batches compared with
    the log; code keys, records and index entries; counters; children links and parents; pools."""
    disagreements: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AREAS, 0))
    """Per area, how many disagreements were found (all of them, listed or not)."""
    findings: list[Finding] = field(default_factory=list)
    """The first ``limit`` disagreements."""
    limit: int = LISTED

    @property
    def total(self) -> int:
        """Disagreements found in all areas."""
        return sum(self.disagreements.values())

    @property
    def ok(self) -> bool:
        """True when everything agrees."""
        return self.total == 0

    def add(self, area: str, message: str) -> None:
        """Count a disagreement, and list it while fewer than ``limit`` are listed."""
        self.disagreements[area] += 1
        if len(self.findings) < self.limit:
            self.findings.append(Finding(area, message))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``ok``, ``last_event_seq``, ``checked``, ``disagreements``, ``total`` and
        ``findings`` (each ``{"area", "message"}``)."""
        return {
            "ok": self.ok,
            "last_event_seq": self.last_event_seq,
            "checked": dict(self.checked),
            "disagreements": dict(self.disagreements),
            "total": self.total,
            "findings": [{"area": f.area, "message": f.message} for f in self.findings],
        }


def check(store: Store, limit: int = LISTED) -> CheckReport:
    """Compare everything ``store`` keeps, in one read transaction (see the module's docstring);
    the report lists at most ``limit`` disagreements and counts them all. Writes nothing: works on
    a store opened read-only beside a running server, and inside the server."""
    return replay.read_snapshot(store, partial(check_in, limit=limit))


def check_in(tx: Tx, limit: int = LISTED) -> CheckReport:
    """:func:`check` on the snapshot ``tx``."""
    report = CheckReport(tx.last_seq(), limit=limit)
    names = tx.batch_refs()
    batches = {b.ref: b for b in tx.batches()}
    products = {p.product_id: p for p in tx.products()}
    log = _Log(report, {name: ref for ref, name in names.items()})
    pruned = Pruned.of(tx)
    vouched = replay.pruned_allocations(tx, pruned.batches)
    try:
        code_events, batch_events = replay.replay(log.read(tx), tx.locate, vouched, names)
    except Exception as exc:  # any event the replay cannot take is a finding, not a failed check
        where = (
            f"the event after event {log.seq} is unreadable"
            if log.unreadable
            else f"event {log.seq} ({log.kind}) does not replay"
        )
        report.add(
            "events",
            f"{where}: {type(exc).__name__} {exc}; expected every event to name batches and codes "
            "created before it (the records are not compared with the log)",
        )
        replayed = None
    else:
        replayed = code_events, batch_events
    report.checked["events"] = log.count
    if replayed is not None and log.gaps != pruned.events:
        before, after = log.first_gap or (log.seq, log.seq + 1)
        report.add(
            "events",
            f"event {after} follows event {before}: {log.gaps} event numbers are missing from the log, but "
            f"retention pruned {pruned.events}; expected the log numbered without gaps but for those",
        )
    rows, slots = _read_records(tx, names, report)
    allocations = list(tx.allocations())
    if replayed is not None:
        log.vouch_for(vouched)
        states = replay.Stored(tx, rows)
        for message in replay.mismatches(*replayed, states, batches.values(), without=pruned.batches):
            report.add("records", message)
        report.checked["records"] = len(replayed[0].keys() | states.keys()) + len(batches)
    _check_allocation_index(tx, rows, allocations, names, report)
    _check_counters(tx, rows, allocations, batches, products, report)
    _check_hierarchy(tx, rows, slots, report)
    _check_pools(tx, allocations, log if replayed is not None else None, report)
    return report


class _Log:
    """The events as the replay reads them, noting on the way their numbering and the pool ranges
    the lease-carrying events name."""

    def __init__(self, report: CheckReport, refs: dict[str, int]) -> None:
        self.report = report
        self.refs = refs
        """Each batch's internal ref by its id."""
        self.seq = 0
        """The last event read."""
        self.kind = ""
        self.unreadable = False
        """Whether reading the event after ``seq`` failed."""
        self.count = 0
        self.gaps = 0
        """Event numbers missing between those read."""
        self.first_gap: tuple[int, int] | None = None
        self.taken: dict[str, list[tuple[IndexRange, int, str]]] = defaultdict(list)
        """Per pool: each range an ALLOCATED or LEASE_EXPORTED event took, its event and kind."""
        self.imported: dict[str, list[tuple[IndexRange, int]]] = defaultdict(list)
        self.allocations: set[records.AllocatedRange] = set()
        """The allocations the ALLOCATED events made."""

    def read(self, tx: Tx) -> Iterator[Event]:
        events = replay.events_in(tx)
        while True:
            try:
                event = next(events, None)
            except Exception:
                self.unreadable = True
                raise
            if event is None:
                return
            if event.seq <= self.seq:
                self.report.add(
                    "events",
                    f"event {event.seq} follows event {self.seq}: expected event {self.seq + 1} (the log is "
                    "numbered in order)",
                )
            elif event.seq > self.seq + 1:  # what retention pruned, if the log is whole
                self.gaps += event.seq - self.seq - 1
                self.first_gap = self.first_gap or (self.seq, event.seq)
            self.seq, self.kind = event.seq, event.kind.label
            self.count += 1
            if event.kind in _TAKING or event.kind is EventKind.LEASE_IMPORTED:
                self._note_lease(event)
            yield event

    def vouch_for(self, allocations: list[records.AllocatedRange]) -> None:
        """Take ``allocations`` (of batches whose events retention pruned) as made by their
        ALLOCATED events, which the log no longer holds."""
        for a in allocations:
            if a not in self.allocations:
                self.allocations.add(a)
                self.taken[a.pool].append((IndexRange(a.start, a.start + a.count), a.event_seq, "allocated"))

    def _note_lease(self, event: Event) -> None:
        try:
            if event.kind is EventKind.ALLOCATED:
                pool, ranges, level = records.parse_allocation_detail(event.detail)
                lease = Lease(pool, tuple(ranges))
            else:
                lease = Lease.parse(event.detail)
        except (LinecodeError, ValueError, KeyError, TypeError) as exc:
            self.report.add("pools", f"event {event.seq} ({event.kind.label}): unreadable detail: {exc}")
            return
        if event.kind is EventKind.LEASE_IMPORTED:
            self.imported[lease.pool] += [(r, event.seq) for r in lease.ranges]
            return
        self.taken[lease.pool] += [(r, event.seq, _TAKING[event.kind]) for r in lease.ranges]
        if event.kind is EventKind.ALLOCATED:
            ref = self.refs.get(event.batch_id or "", 0)
            self.allocations.update(
                records.AllocatedRange(lease.pool, r.start, r.count, ref, level, event.time_us, event.seq)
                for r in lease.ranges
            )
            if event.codes:
                self.report.add(
                    "pools",
                    f"event {event.seq} (allocated) names {len(event.codes)} codes; expected its ranges only",
                )


def _read_records(
    tx: Tx, names: dict[int, str], report: CheckReport
) -> tuple[dict[str, Row], dict[bytes, str]]:
    """Every code record reached from its code key, and the code of each slot."""
    get = tx.txn.get
    code_records = tx.db.dbs["code_records"]
    rows: dict[str, Row] = {}
    slots: dict[bytes, str] = {}
    for key, value in tx.txn.cursor(db=tx.db.dbs["code_slots"]):
        code = bytes(key).decode()
        slot = bytes(value)
        other = slots.setdefault(slot, code)
        if other != code:
            report.add(
                "index",
                f"codes {other} and {code} are both filed under slot {records.slot_of(slot)}; expected one "
                "code per slot",
            )
        raw = get(slot, None, code_records)
        if raw is None:
            report.add(
                "index", f"code {code} is filed under slot {records.slot_of(slot)}, which holds no record"
            )
            continue
        try:
            row = rows[code] = Row.unpack(raw)
        except (KeyError, ValueError, struct.error) as exc:  # a state, status or lock no enum has
            report.add("index", f"the record of {code} (slot {records.slot_of(slot)}) is unreadable: {exc}")
            continue
        if row.batch_ref not in names:
            report.add("index", f"the record of {code} names batch ref {row.batch_ref}, which no batch has")
    kept = 0
    for key in tx.txn.cursor(db=code_records).iternext(keys=True, values=False):
        kept += 1
        if bytes(key) not in slots:
            report.add("index", f"slot {records.slot_of(key)} holds a record that no code key is filed under")
    report.checked["index"] += len(slots) + kept
    return rows, slots


def _check_allocation_index(
    tx: Tx,
    rows: dict[str, Row],
    allocations: list[records.AllocatedRange],
    names: dict[int, str],
    report: CheckReport,
) -> None:
    """Each batch level's index of allocations lists exactly the allocations of that batch and
    level, and each code's record is of the batch and level of the allocation that made it."""
    listed: set[tuple[bytes, int, int]] = set()
    for key, value in tx.txn.cursor(db=tx.db.dbs["batch_ranges"]):
        listed.add((bytes(value), int.from_bytes(key[:4], "big"), key[4]))
    kept = {(a.key(), a.batch_ref, a.level) for a in allocations}
    for key, ref, level in sorted(listed - kept):
        report.add(
            "index",
            f"batch {names.get(ref, f'ref {ref}')} level {level} lists allocation "
            f"{records.allocation_key_parts(key)}, which is not kept as that batch's and level's",
        )
    for key, ref, level in sorted(kept - listed):
        report.add(
            "index",
            f"allocation {records.allocation_key_parts(key)} of batch {names.get(ref, f'ref {ref}')} level "
            f"{level} is missing from that batch's index of allocations",
        )
    for code, row in rows.items():
        found = tx.allocation_of(code)
        if found is None or (found.batch_ref, found.level) != (row.batch_ref, row.level):
            made = "no allocation" if found is None else f"batch ref {found.batch_ref} level {found.level}"
            report.add(
                "index",
                f"the record of {code} is of batch ref {row.batch_ref} level {row.level}, but {made} made "
                "that code; expected a record of the allocation that made its code",
            )
    report.checked["index"] += len(listed) + len(rows)


def _check_counters(
    tx: Tx,
    rows: dict[str, Row],
    allocations: list[records.AllocatedRange],
    batches: dict[int, Batch],
    products: dict[str, Product],
    report: CheckReport,
) -> None:
    """Every non-zero counter equals the records of its batch, level and state (a code without a
    record of its own is allocated), and every such group of records has its counter."""
    counters: dict[tuple[int, int, State], int] = {}
    for key, value in tx.txn.cursor(db=tx.db.dbs["counts"]):
        if n := records.unpack_count(value):
            counters[records.unpack_count_key(bytes(key))] = n
    counted = Counter((row.batch_ref, row.level, row.state) for row in rows.values())
    for a in allocations:
        counted[a.batch_ref, a.level, State.ALLOCATED] += a.count
    for row in rows.values():
        counted[row.batch_ref, row.level, State.ALLOCATED] -= 1
    counted = +counted  # drop the groups that are all records of their own
    for ref, level, state in sorted(counters.keys() | counted.keys()):
        kept, found = counters.get((ref, level, state), 0), counted[ref, level, state]
        if kept != found:
            report.add(
                "counters",
                f"batch {_batch_name(batches, ref)} level {_level_name(batches, products, ref, level)} "
                f"{state.label}: the counter says {kept}, the records count {found}",
            )
    report.checked["counters"] = len(counters.keys() | counted.keys())


def _check_hierarchy(tx: Tx, rows: dict[str, Row], slots: dict[bytes, str], report: CheckReport) -> None:
    """The children index and the records' parents and child counts, both ways."""
    listed: dict[str, set[str]] = defaultdict(set)
    links = 0
    for slot, value in tx.txn.cursor(db=tx.db.dbs["children"]):
        links += 1
        child = bytes(value).decode()
        parent = slots.get(bytes(slot))
        if parent is None:
            report.add(
                "hierarchy",
                f"slot {records.slot_of(slot)} lists child {child}, but no code key is filed under that slot",
            )
            continue
        listed[parent].add(child)
        row = rows.get(child)
        if row is None:
            report.add("hierarchy", f"{parent} lists child {child}, which has no record")
        elif row.parent != parent:
            report.add(
                "hierarchy",
                f"{parent} lists child {child}, whose record names "
                f"{f'parent {row.parent}' if row.parent else 'no parent'}",
            )
    parents = 0
    for code, row in rows.items():
        if row.parent is not None and code not in listed.get(row.parent, ()):
            known = "" if row.parent in rows else ", which has no record"
            report.add("hierarchy", f"{code} names parent {row.parent}{known}, whose children index lacks it")
        if row.children or code in listed:
            parents += 1
            n = len(listed.get(code, ()))
            if row.children != n:
                report.add(
                    "hierarchy",
                    f"{code}: its record counts {row.children} children, its children index lists {n}",
                )
    report.checked["hierarchy"] = links + parents


def _check_pools(
    tx: Tx, allocations: list[records.AllocatedRange], log: _Log | None, report: CheckReport
) -> None:
    """Each pool's ranges, and (``log``: the replay read it all) the indices its events took and
    the allocations kept."""
    pools = tx.pools()
    kept = {a.pool for a in allocations}
    for name in sorted(pools.keys() | (log.taken.keys() if log else set()) | kept):
        pool = pools.get(name)
        if pool is None:
            report.add(
                "pools", f"pool {name}: allocations or events draw from it, but the store has no such pool"
            )
            continue
        _check_ranges(name, pool, report)
        if log is None:
            continue
        free = records.ranges_from_json(pool["free"])
        used = records.ranges_from_json(pool["used"])
        _check_taken(name, log.taken.get(name, []), used, report)
        owned = merge_ranges(free + used)
        for r, seq in log.imported.get(name, []):
            if _subtract([r], owned):
                report.add(
                    "pools",
                    f"pool {name}: event {seq} imported indices {r.start}-{r.end}, which the pool neither "
                    "holds free nor has used",
                )
    if log is not None:
        stored = set(allocations)
        for a in sorted(stored - log.allocations):
            report.add("pools", f"allocation {a} is kept, but no ALLOCATED event made it")
        for a in sorted(log.allocations - stored):
            report.add("pools", f"ALLOCATED event {a.event_seq} made allocation {a}, which is not kept")
    report.checked["pools"] = len(pools) + len(allocations)


def _check_ranges(name: str, pool: dict[str, Any], report: CheckReport) -> None:
    """Free and used ranges within ``0 .. size`` and overlapping nothing."""
    size = pool["size"]
    spans = [(r, what) for what in ("free", "used") for r in records.ranges_from_json(pool[what])]
    for r, what in spans:
        if not 0 <= r.start < r.end <= size:
            report.add(
                "pools",
                f"pool {name}: {what} range {r.start}-{r.end}; expected 0 <= start < end <= {size}",
            )
    for (a, what_a), (b, what_b) in _overlaps(spans):
        report.add(
            "pools",
            f"pool {name}: {what_a} range {a.start}-{a.end} overlaps {what_b} range {b.start}-{b.end}; "
            "expected free and used ranges to be disjoint",
        )


def _check_taken(
    name: str, taken: list[tuple[IndexRange, int, str]], used: list[IndexRange], report: CheckReport
) -> None:
    """The indices the events took: none twice, all used, and nothing used that no event took."""
    for (a, (seq_a, kind_a)), (b, (seq_b, kind_b)) in _overlaps([(r, (seq, kind)) for r, seq, kind in taken]):
        report.add(
            "pools",
            f"pool {name}: indices {max(a.start, b.start)}-{min(a.end, b.end)} were taken twice, by event "
            f"{seq_a} ({kind_a}) and event {seq_b} ({kind_b})",
        )
    for r, seq, kind in taken:
        for gap in _subtract([r], used):
            report.add(
                "pools",
                f"pool {name}: event {seq} ({kind}) took indices {gap.start}-{gap.end}, which the pool does "
                "not mark used; they could be issued again",
            )
    for gap in _subtract(used, merge_ranges([r for r, _, _ in taken])):
        report.add(
            "pools",
            f"pool {name}: used indices {gap.start}-{gap.end} were taken by no ALLOCATED or LEASE_EXPORTED "
            "event",
        )


def _overlaps(
    spans: list[tuple[IndexRange, L]],
) -> Iterator[tuple[tuple[IndexRange, L], tuple[IndexRange, L]]]:
    """Each labelled range that overlaps one starting before it, paired with the one of those that
    reaches furthest."""
    reach: tuple[IndexRange, L] | None = None
    for span in sorted(spans, key=lambda s: (s[0].start, s[0].end)):
        if reach is not None and span[0].start < reach[0].end:
            yield reach, span
        if reach is None or span[0].end > reach[0].end:
            reach = span


def _subtract(ranges: list[IndexRange], minus: list[IndexRange]) -> list[IndexRange]:
    """The parts of ``ranges`` outside ``minus``."""
    holes = merge_ranges(minus)
    out: list[IndexRange] = []
    for r in merge_ranges(ranges):
        start = r.start
        for h in holes:
            if h.end <= start or h.start >= r.end:
                continue
            if h.start > start:
                out.append(IndexRange(start, h.start))
            start = max(start, h.end)
        if start < r.end:
            out.append(IndexRange(start, r.end))
    return out


def _spec(batches: dict[int, Batch], products: dict[str, Product], ref: int, level: int) -> Level | None:
    batch = batches.get(ref)
    product = products.get(batch.product_id) if batch is not None else None
    return product.levels[level - 1] if product is not None and 1 <= level <= product.top else None


def _batch_name(batches: dict[int, Batch], ref: int) -> str:
    batch = batches.get(ref)
    return batch.batch_id if batch is not None else f"ref {ref} (no such batch)"


def _level_name(batches: dict[int, Batch], products: dict[str, Product], ref: int, level: int) -> str:
    spec = _spec(batches, products, ref, level)
    return f"{level} ({spec.name})" if spec is not None else str(level)
