"""The hub hears every event of every site (SPEC §7, "no event only on one disk").

A site ships its event log in order (``service/ship.py``); :meth:`Ingest.ship` stores one
shipment in one transaction: the site's row is locked (``sites.shipped_seq``: how far the hub has
its log), the events are checked against it — the next number, no gap; a number the hub holds
already must be the same event (a retry after a lost answer, passed over), else the site's log went
back and the shipment is refused — then the events are copied in (``COPY``) under their primary key
``(site_id, seq)``, and what they make of each code, batch and product is written in the same
transaction: one ``UPDATE … FROM unnest(…)`` and one ``INSERT … SELECT FROM unnest(…)`` for all the
codes of the shipment, never a statement per code (the arrays go in binary, ``%b``: the text form
cost more than the statements). How an event changes a code is the replay's rule
(:func:`linecode.store.replay.apply`), run here on the changes alone (:class:`Delta`), so the hub
need not read a code to change it.

A site may ship only what it could have made: every code, and every allocated range, must be of a
pool the hub granted that site a range of (``POOL_NOT_LEASED``); an allocation's ranges must lie
inside the site's grants. The hub holds no key material (``docs/hub.md``), so it cannot tell which
index of its pool a code is: a site holding the master key could ship a code of its own pool that
it never allocated; the key is what the hub's trust in a site rests on.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import psycopg
from psycopg_pool import ConnectionPool

from linecode import bounds
from linecode.codes.keys import parts
from linecode.errors import InvalidArgument, LinecodeError, PermissionDenied, Precondition, shown
from linecode.reasons import Reason
from linecode.store import coderules, records
from linecode.store.lifecycle import MIN_TIME_US
from linecode.store.model import (
    BatchState,
    Event,
    EventKind,
    IndexRange,
    Lease,
    Level,
    Lock,
    RegulatoryStatus,
    State,
    now_us,
)
from linecode.store.replay import BatchView, Marks, apply

MAX_EVENTS = 200_000
"""Most events one shipment may carry."""
MAX_CODES = 5_000_000
"""Most codes the events of one shipment may name (a batch's RELEASED names all its codes)."""
_CODE_KINDS = frozenset(
    {
        EventKind.ENCODED,
        EventKind.COMMISSIONED,
        EventKind.SCRAPPED,
        EventKind.SAMPLED,
        EventKind.DESTROYED,
        EventKind.DECOMMISSIONED,
        EventKind.RELEASED,
        EventKind.STATUS_SET,
        EventKind.LOCK_SET,
        EventKind.AGGREGATED,
        EventKind.DISAGGREGATED,
    }
)
_BATCH_KINDS = frozenset(
    {
        EventKind.BATCH_CREATED,
        EventKind.ALLOCATED,
        EventKind.BATCH_STATUS_SET,
        EventKind.BATCH_LOCK_SET,
        EventKind.BATCH_CLOSED,
        EventKind.BATCH_EXPORTED,
    }
)
_AHEAD_US = 86_400 * 1_000_000
"""How far ahead of the hub's clock a shipped event's time may be (a site's clock may be off)."""
_EVENT_COLUMNS = "site_id, seq, time_us, kind, batch_id, actor, line, parent, detail, codes, n_codes"


@dataclass(frozen=True, slots=True)
class Block:
    """Events as a site's store keeps them (``records.pack_event``), numbered from ``first_seq``;
    ``batches`` names the batch numbers inside them."""

    first_seq: int
    events: Sequence[bytes]
    batches: Mapping[int, str]
    levels: Mapping[str, int] = field(default_factory=dict)
    """The level of each code whose pool several levels draw from (an SSCC prefix for both cases
    and pallets): the hub cannot tell it from the code."""


@dataclass(frozen=True, slots=True)
class Ack:
    """How far the hub has a site's log after a shipment, and what the shipment added."""

    site_id: str
    acked: int
    stored: int = 0
    code_events: int = 0


def code_events(events: Iterable[Event]) -> int:
    """The code-events in ``events``: an event naming n codes counts n, one naming none counts 1."""
    return sum(len(e.codes) or 1 for e in events)


def unpack(block: Block) -> list[Event]:
    """The events of ``block``, each checked as far as it can be alone (every field within its
    bounds, codes well-formed keys, the detail of its kind readable); raises
    :class:`InvalidArgument` ``BAD_SHIPMENT`` naming the first that is not."""
    if len(block.events) > MAX_EVENTS:
        raise _bad(f"{len(block.events)} events in one shipment; expected at most {MAX_EVENTS}")
    if block.first_seq < 1:
        raise _bad(f"first event number {block.first_seq}; expected 1 or more")
    names = dict(block.batches)
    for ref, name in names.items():
        if not ref or not bounds.ID.fits(name):
            raise _bad(
                f"batch number {ref} is named {shown(name)}; expected a batch id ({bounds.ID.describe()})"
            )
    out = []
    codes = 0
    for i, raw in enumerate(block.events):
        seq = block.first_seq + i
        event = _event(seq, raw, names)
        codes += len(event.codes)
        if codes > MAX_CODES:
            raise _bad(f"the events name more than {MAX_CODES} codes; expected fewer per shipment")
        out.append(event)
    return out


def _bad(message: str) -> InvalidArgument:
    return InvalidArgument(
        message + "; nothing of the shipment was stored",
        reason=Reason.BAD_SHIPMENT,
        hint="ship the site's events as its store keeps them",
    )


def _event(seq: int, raw: bytes, names: dict[int, str]) -> Event:
    try:
        if records.packed_event_size(raw) != len(raw):
            raise ValueError(f"{len(raw)} bytes where its lengths say {records.packed_event_size(raw)}")
        ref = records.event_batch_ref(raw)
        if ref and ref not in names:
            raise ValueError(f"batch number {ref}, which the shipment does not name")
        event = records.unpack_event(seq, raw, names)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"event {seq} is not an event record ({exc})") from None
    if not (bounds.ACTOR.fits(event.actor) and bounds.LINE.fits(event.line)):
        raise _bad(f"event {seq}: actor {shown(event.actor)} or line {shown(event.line)} out of bounds")
    if not bounds.TEXT.fits(event.detail) and event.kind not in (
        EventKind.PRODUCT_CREATED,
        EventKind.BATCH_CREATED,
        EventKind.ALLOCATED,
        EventKind.LEASE_IMPORTED,
        EventKind.LEASE_EXPORTED,
    ):
        raise _bad(f"event {seq}: detail {shown(event.detail)} out of bounds")
    named = (*event.codes, event.parent) if event.parent is not None else event.codes
    for code in named:
        if not _well_formed(code):
            raise _bad(f"event {seq}: {shown(code)} is not a code key")
    if event.kind in _CODE_KINDS and not event.codes:
        raise _bad(f"event {seq} ({event.kind.label}) names no code")
    if event.kind in (EventKind.AGGREGATED, EventKind.DISAGGREGATED) and (
        event.parent is None or event.parent in event.codes
    ):
        raise _bad(f"event {seq} ({event.kind.label}) names no parent, or the parent among its children")
    if not MIN_TIME_US <= event.time_us <= now_us() + _AHEAD_US:
        raise _bad(f"event {seq}: time {event.time_us} µs is before 2000 or ahead of the hub's clock")
    if event.kind in _BATCH_KINDS and event.batch_id is None:
        raise _bad(f"event {seq} ({event.kind.label}) names no batch")
    return event


def _well_formed(code: str) -> bool:
    if records.plain_key(code):
        return True
    if not bounds.CODE.fits(code) or not code.isascii() or not code.isprintable():
        return False
    try:
        parts(code)
    except LinecodeError:
        return False
    return True


class Delta:
    """What a shipment's events change of one code: the fields they set (None: left as they are),
    the children they add or take out, and — for a code the hub has not heard of — the batch the
    first event naming it is of (a code is named first by an event of its own batch)."""

    __slots__ = (
        "_parent",
        "batch_id",
        "children",
        "last_event_us",
        "lock",
        "parent_set",
        "partial",
        "state",
        "status",
    )

    def __init__(self, batch_id: str | None) -> None:
        self.batch_id = batch_id
        self.state: State | None = None
        self.status: RegulatoryStatus | None = None
        self.lock: Lock | None = None
        self._parent: str | None = None
        self.parent_set = False
        self.children = 0
        self.partial: bool | None = None
        self.last_event_us = 0

    @property
    def parent(self) -> str | None:
        return self._parent

    @parent.setter
    def parent(self, value: str | None) -> None:
        self._parent = value
        self.parent_set = True


_UPDATE_CODES = """
UPDATE codes AS c SET
    state = coalesce(d.state, c.state),
    status = coalesce(d.status, c.status),
    lock = coalesce(d.lock, c.lock),
    parent = CASE WHEN d.parent_set THEN d.parent ELSE c.parent END,
    children = c.children + d.children,
    partial = coalesce(d.partial, c.partial),
    last_event_us = d.last_event_us
FROM unnest(%b::text[], %b::smallint[], %b::smallint[], %b::smallint[], %b::boolean[], %b::text[],
            %b::integer[], %b::boolean[], %b::bigint[])
    AS d(code, state, status, lock, parent_set, parent, children, partial, last_event_us)
WHERE c.code = d.code AND c.site_id = %s
RETURNING c.code
"""
_INSERT_CODES = """
INSERT INTO codes (code, site_id, batch_id, level, state, status, lock, parent, children, partial,
                   last_event_us)
SELECT d.code, %s, d.batch_id, d.level, d.state, d.status, d.lock, d.parent, d.children, d.partial,
       d.last_event_us
FROM unnest(%b::text[], %b::text[], %b::smallint[], %b::smallint[], %b::smallint[], %b::smallint[],
            %b::text[], %b::integer[], %b::boolean[], %b::bigint[])
    AS d(code, batch_id, level, state, status, lock, parent, children, partial, last_event_us)
"""


class Ingest:
    """Stores shipments of site events, one transaction each (see the module's docstring)."""

    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    def position(self, site_id: str) -> int:
        """How far the hub has ``site_id``'s log (0: nothing yet)."""
        with self.db.connection() as conn:
            row = conn.execute("SELECT shipped_seq FROM sites WHERE site_id = %s", (site_id,)).fetchone()
        if row is None:
            raise _unknown_site(site_id)
        return int(row[0])

    def blocks(self, site_id: str, after: int = 0, size: int = 5_000) -> Iterator[Block]:
        """Every event the hub holds of ``site_id`` after ``after``, oldest first, packed as the
        site keeps them, ``size`` at a time (a restore reads a site's whole log so)."""
        while True:
            with self.db.connection() as conn:
                rows = conn.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM events WHERE site_id = %s AND seq > %s "
                    "ORDER BY seq LIMIT %s",
                    (site_id, after, size),
                ).fetchall()
            if not rows:
                return
            yield pack_block([event_of(row) for row in rows])
            after = int(rows[-1][1])

    def ship(self, site_id: str, block: Block, head_seq: int = 0) -> Ack:
        """Store ``block`` of ``site_id``'s events (see the module's docstring); refused as a whole,
        with nothing stored, if any of it is wrong."""
        events = unpack(block)
        head = max(head_seq, block.first_seq + len(events) - 1)
        with self.db.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT shipped_seq FROM sites WHERE site_id = %s FOR UPDATE", (site_id,)
            ).fetchone()
            if row is None:
                raise _unknown_site(site_id)
            acked = int(row[0])
            if block.first_seq > acked + 1:
                raise Precondition(
                    f"site {site_id!r} shipped events from {block.first_seq}, but the hub has its log to "
                    f"{acked} only; expected events from {acked + 1} (nothing was stored)",
                    reason=Reason.SHIP_GAP,
                    hint="ship from the hub's position (HubService.GetPosition)",
                )
            known = min(len(events), acked + 1 - block.first_seq)
            if known:
                self._same_as_stored(conn, site_id, events[:known])
            new = events[known:]
            if new:
                self._store(conn, site_id, new, block.levels)
                acked = new[-1].seq
            conn.execute(
                "UPDATE sites SET shipped_seq = %s, head_seq = greatest(head_seq, %s), "
                "shipped_at = CASE WHEN %s THEN now() ELSE shipped_at END, last_contact = now() "
                "WHERE site_id = %s",
                (acked, head, bool(new), site_id),
            )
        return Ack(site_id, acked, len(new), code_events(new))

    def _same_as_stored(self, conn: psycopg.Connection, site_id: str, events: list[Event]) -> None:
        stored = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE site_id = %s AND seq BETWEEN %s AND %s ORDER BY seq",
            (site_id, events[0].seq, events[-1].seq),
        ).fetchall()
        for event, row in zip(events, stored, strict=True):
            if _row(site_id, event) != tuple(row):
                raise Precondition(
                    f"site {site_id!r} shipped an event {event.seq} unlike the hub's event {event.seq}: "
                    "the site's log is not the one it shipped before (a store put back from an old "
                    "backup?); nothing was stored",
                    reason=Reason.SHIP_CONFLICT,
                    hint="rebuild the site from the hub: linecode restore --from-hub",
                )

    def _store(
        self, conn: psycopg.Connection, site_id: str, events: list[Event], given: Mapping[str, int]
    ) -> None:
        leased = {
            p for (p,) in conn.execute("SELECT DISTINCT pool FROM grants WHERE site_id = %s", (site_id,))
        }
        levels = self._site_levels(conn, site_id)
        products: list[tuple[str, str]] = []
        new_batches: dict[str, tuple[str, str]] = {}
        allocations: list[tuple[str, int, int, str, int, int]] = []
        deltas: dict[str, Delta] = {}
        event_batch: list[str | None] = [None]

        def state(code: str) -> Delta:
            delta = deltas.get(code)
            if delta is None:
                delta = deltas[code] = Delta(event_batch[0])
            return delta

        batch_views = self._batch_views(conn, site_id, {e.batch_id for e in events})

        def batch(name: str) -> BatchView:
            view = batch_views.get(name)
            if view is None:
                raise ValueError(f"batch {shown(name)} was never created")
            return view

        def allocated(event: Event, pool: str, ranges: Sequence[IndexRange], level: int) -> None:
            assert event.batch_id is not None
            self._check_ranges(conn, site_id, leased, pool, ranges, event.seq)
            allocations.extend((pool, r.start, r.end, event.batch_id, level, event.seq) for r in ranges)

        with conn.cursor().copy(f"COPY events ({_EVENT_COLUMNS}) FROM STDIN") as copy:
            for event in events:
                copy.write_row(_row(site_id, event))
        for event in events:
            kind = event.kind
            try:
                if kind is EventKind.PRODUCT_CREATED:
                    product = records.product_from_json(json.loads(event.detail))
                    products.append((product.product_id, event.detail))
                    _add_levels(levels, product.levels)
                elif kind is EventKind.BATCH_CREATED:
                    made = records.batch_from_json(json.loads(event.detail))
                    if made.batch_id != event.batch_id or made.batch_id in batch_views:
                        raise ValueError(f"batch {shown(made.batch_id)} created twice, or under another name")
                    new_batches[made.batch_id] = (made.product_id, event.detail)
                    batch_views[made.batch_id] = BatchView(last_event_us=event.time_us)
                elif kind in (EventKind.LEASE_IMPORTED, EventKind.LEASE_EXPORTED):
                    lease = Lease.parse(event.detail)
                    self._check_ranges(conn, site_id, leased, lease.pool, lease.ranges, event.seq)
                if kind in _CODE_KINDS:
                    self._check_codes(event, leased, levels)
                    if event.batch_id is not None and event.batch_id not in batch_views:
                        raise ValueError(f"batch {shown(event.batch_id)} was never created")
                event_batch[0] = event.batch_id
                apply(event, cast(Callable[[str], Marks], state), batch, allocated)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise _bad(f"event {event.seq} ({kind.label}): {exc}") from None
            except LinecodeError as exc:
                if exc.reason in (Reason.POOL_NOT_LEASED,):
                    raise
                raise _bad(f"event {event.seq} ({kind.label}): {exc}") from None
        if products:
            conn.cursor().executemany(
                "INSERT INTO products (site_id, product_id, detail) VALUES (%s, %s, %s)",
                [(site_id, p, d) for p, d in products],
            )
        self._write_batches(conn, site_id, events, batch_views, new_batches)
        if allocations:
            conn.cursor().executemany(
                "INSERT INTO allocations (site_id, pool, start_index, end_index, batch_id, level, seq) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(site_id, *a) for a in allocations],
            )
        self._write_codes(conn, site_id, deltas, partial(_level_of, pools=levels, leased=leased, given=given))

    def _check_codes(self, event: Event, leased: set[str], levels: dict[str, set[int]]) -> None:
        named = (*event.codes, event.parent) if event.parent is not None else event.codes
        last = ""
        for code in named:
            if code[:7] == last and records.plain_key(code):  # a line's codes: mostly one product's
                continue
            pool = coderules.pool_of(code, leased)
            if pool is None:
                raise PermissionDenied(
                    f"event {event.seq} ({event.kind.label}) names {shown(code)}, a code of no pool the "
                    "hub granted this site a range of; nothing of the shipment was stored",
                    reason=Reason.POOL_NOT_LEASED,
                    codes=[code],
                )
            if pool not in levels:
                raise ValueError(f"{shown(code)} is of pool {pool}, which no product of the site draws from")
            last = code[:7] if pool.startswith("nmpa20/") else ""

    def _check_ranges(
        self,
        conn: psycopg.Connection,
        site_id: str,
        leased: set[str],
        pool: str,
        ranges: Sequence[IndexRange],
        seq: int,
    ) -> None:
        """Raise ``POOL_NOT_LEASED`` unless the site was granted every index of ``ranges``."""
        for r in ranges:
            covered = 0
            if pool in leased:
                row = conn.execute(
                    "SELECT coalesce(sum(least(end_index, %s) - greatest(start_index, %s)), 0) FROM grants "
                    "WHERE site_id = %s AND pool = %s AND start_index < %s AND end_index > %s",
                    (r.end, r.start, site_id, pool, r.end, r.start),
                ).fetchone()
                covered = int(row[0]) if row else 0
            if covered != r.count:
                raise PermissionDenied(
                    f"event {seq} names indices {r.start}-{r.end - 1} of pool {shown(pool)}, which the hub "
                    "did not grant this site; nothing of the shipment was stored",
                    reason=Reason.POOL_NOT_LEASED,
                )

    def _site_levels(self, conn: psycopg.Connection, site_id: str) -> dict[str, set[int]]:
        levels: dict[str, set[int]] = {}
        for (detail,) in conn.execute("SELECT detail FROM products WHERE site_id = %s", (site_id,)):
            _add_levels(levels, records.product_from_json(json.loads(detail)).levels)
        return levels

    def _batch_views(
        self, conn: psycopg.Connection, site_id: str, names: set[str | None]
    ) -> dict[str, BatchView]:
        wanted = [n for n in names if n is not None]
        if not wanted:
            return {}
        return {
            name: BatchView(BatchState(state), RegulatoryStatus(status), Lock(lock), last, closed, exported)
            for name, state, status, lock, last, closed, exported in conn.execute(
                "SELECT batch_id, state, status, lock, last_event_us, closed_seq, exported_seq FROM batches "
                "WHERE site_id = %s AND batch_id = ANY(%s)",
                (site_id, wanted),
            )
        }

    def _write_batches(
        self,
        conn: psycopg.Connection,
        site_id: str,
        events: list[Event],
        views: dict[str, BatchView],
        new: dict[str, tuple[str, str]],
    ) -> None:
        last_seq: dict[str, int] = {}
        for event in events:
            if event.batch_id is not None:
                last_seq[event.batch_id] = event.seq
        rows = [
            (
                site_id,
                name,
                *new.get(name, ("", "")),
                int(view.state),
                int(view.status),
                int(view.lock),
                view.last_event_us,
                view.closed_event_seq,
                view.exported_event_seq,
                last_seq.get(name, 0),
            )
            for name, view in views.items()
        ]
        if not rows:
            return
        conn.cursor().executemany(
            "INSERT INTO batches AS b (site_id, batch_id, product_id, detail, state, status, lock, "
            "last_event_us, closed_seq, exported_seq, last_seq) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (site_id, batch_id) DO UPDATE SET state = EXCLUDED.state, status = EXCLUDED.status, "
            "lock = EXCLUDED.lock, last_event_us = EXCLUDED.last_event_us, closed_seq = EXCLUDED.closed_seq, "
            "exported_seq = EXCLUDED.exported_seq, last_seq = greatest(b.last_seq, EXCLUDED.last_seq)",
            rows,
        )

    def _write_codes(
        self, conn: psycopg.Connection, site_id: str, deltas: dict[str, Delta], level_of: Callable[[str], int]
    ) -> None:
        """Change the codes the hub holds by ``deltas``; a code it does not hold yet is inserted,
        of level ``level_of(code)``."""
        if not deltas:
            return
        codes = list(deltas)
        ds = list(deltas.values())
        updated = {
            code
            for (code,) in conn.execute(
                _UPDATE_CODES,
                (
                    codes,
                    [None if d.state is None else int(d.state) for d in ds],
                    [None if d.status is None else int(d.status) for d in ds],
                    [None if d.lock is None else int(d.lock) for d in ds],
                    [d.parent_set for d in ds],
                    [d.parent for d in ds],
                    [d.children for d in ds],
                    [d.partial for d in ds],
                    [d.last_event_us for d in ds],
                    site_id,
                ),
            )
        }
        new = [(c, d) for c, d in zip(codes, ds, strict=True) if c not in updated]
        if not new:
            return
        for code, d in new:
            if d.batch_id is None:
                raise _bad(f"{shown(code)} is named first by an event of no batch")
        conn.execute(
            _INSERT_CODES,
            (
                site_id,
                [c for c, _ in new],
                [d.batch_id for _, d in new],
                [level_of(c) for c, _ in new],
                [int(State.ALLOCATED if d.state is None else d.state) for _, d in new],
                [int(RegulatoryStatus.NONE if d.status is None else d.status) for _, d in new],
                [int(Lock.NORMAL if d.lock is None else d.lock) for _, d in new],
                [d.parent for _, d in new],
                [d.children for _, d in new],
                [bool(d.partial) for _, d in new],
                [d.last_event_us for _, d in new],
            ),
        )


def _level_of(code: str, *, pools: dict[str, set[int]], leased: set[str], given: Mapping[str, int]) -> int:
    """The level of a code new to the hub: its pool's, or — a pool several levels draw from — the
    one the site gave, which must be one of them (else ``BAD_SHIPMENT``)."""
    options = pools[cast(str, coderules.pool_of(code, leased))]
    if len(options) == 1:
        return next(iter(options))
    if given.get(code) in options:
        return given[code]
    raise _bad(
        f"{shown(code)} is of a pool levels {sorted(options)} draw from, and the shipment gives level "
        f"{given.get(code)} for it; expected one of them"
    )


def _add_levels(pools: dict[str, set[int]], levels: Sequence[Level]) -> None:
    """Add to ``pools`` the level number (1 = unit) of each pool a product's levels draw from."""
    for n, level in enumerate(levels, start=1):
        pools.setdefault(coderules.pool_name(level), set()).add(n)


def pack_block(events: Sequence[Event]) -> Block:
    """``events`` (consecutive) packed as a site keeps them, their batches numbered 1, 2, …"""
    refs: dict[str, int] = {}
    packed = []
    for e in events:
        ref = refs.setdefault(e.batch_id, len(refs) + 1) if e.batch_id is not None else 0
        packed.append(
            records.pack_event(e.time_us, e.kind, ref, e.actor, e.line, e.codes, e.parent, e.detail)
        )
    return Block(events[0].seq if events else 1, packed, {ref: name for name, ref in refs.items()})


def _row(site_id: str, e: Event) -> tuple[Any, ...]:
    """An event as a row of the hub's ``events`` table."""
    return (
        site_id,
        e.seq,
        e.time_us,
        int(e.kind),
        e.batch_id,
        e.actor,
        e.line,
        e.parent,
        e.detail,
        records.CODE_SEPARATOR.join(e.codes),
        len(e.codes),
    )


def event_of(row: Sequence[Any]) -> Event:
    """An event back from a row of the hub's ``events`` table (as :func:`_row` made it)."""
    _site, seq, time_us, kind, batch_id, actor, line, parent, detail, codes, _n = row
    return Event(
        seq=int(seq),
        time_us=int(time_us),
        kind=EventKind(kind),
        batch_id=batch_id,
        actor=actor,
        line=line,
        codes=tuple(codes.split(records.CODE_SEPARATOR)) if codes else (),
        parent=parent,
        detail=detail,
    )


EVENT_COLUMNS = _EVENT_COLUMNS
"""The columns of the hub's ``events`` table in the order :func:`event_of` reads them."""


def _unknown_site(site_id: str) -> InvalidArgument:
    return InvalidArgument(
        f"site {shown(site_id)} is not known to the hub",
        reason=Reason.UNKNOWN_SITE,
        hint=f"allow it a pool on the hub: linecode hub pool add … --sites {site_id}",
    )
