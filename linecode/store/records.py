"""Byte layouts of everything the store keeps in LMDB.

Hot records (codes, events, counters) are packed with ``struct``: a code record is 21 bytes plus
its parent's key, filed under its slot (see :func:`slot_key`). Rare, small records (products,
batches, pools) are JSON so an engineer can read them with ``mdb_dump``; so are idempotency answers,
except a change's, which is one short line of text (:func:`pack_answer`). Nothing is pickled.
Integer keys are big-endian so LMDB's byte order is numeric order.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from linecode.store.model import (
    Batch,
    BatchState,
    Event,
    EventKind,
    IndexRange,
    Level,
    Lock,
    Product,
    RegulatoryStatus,
    State,
)

_CODE = struct.Struct("<BBBBBIqI")  # level, state, status, lock, flags, batch ref, last event µs, children
_FLAG_PARTIAL = 1
_EVENT = struct.Struct("<qBIIIIII")  # time µs, kind, batch ref, then lengths of the five text fields
_SEQ = struct.Struct(">Q")
_REF = struct.Struct(">I")
_COUNT_KEY = struct.Struct(">IBB")  # batch ref, level, state
_BATCH_LEVEL = struct.Struct(">IB")
_COUNT = struct.Struct("<q")
_ALLOCATION = struct.Struct("<IBIqQ")  # batch ref, level, count, time µs, event seq
_POOL_END = b"\x00"
"""Between a pool's name and the start index in an allocation's key (no pool name holds it)."""
PRUNED = b"linecode-pruned"
"""Under it in the main database: what retention took out of the event log (JSON: the batches whose
events were pruned, and how many events), so checks know which history is gone (``retention.py``)."""
SHIPPED = b"linecode-shipped"
"""Under it in the main database: the last event number the hub has acknowledged (a site of a hub;
``service/ship.py``), kept in the store so a restart ships on from there."""
Buffer = bytes | memoryview
"""What LMDB hands back: bytes, or a memoryview with ``buffers=True``."""
PackedChildren = tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]
"""An aggregation's children as stored: (child slot, record) pairs and (parent slot, child key) links."""
CODE_SEPARATOR = "\n"
"""Between codes inside an event record; no code key can contain it."""


_STATES = {s.value: s for s in State}
_STATUSES = {s.value: s for s in RegulatoryStatus}
_LOCKS = {s.value: s for s in Lock}


@dataclass(slots=True)
class Row:
    """A code record as the write path edits it (mutable; ``CodeRecord`` is the public view)."""

    level: int
    state: State
    status: RegulatoryStatus
    lock: Lock
    partial: bool
    batch_ref: int
    last_event_us: int
    children: int
    parent: str | None

    def pack(self) -> bytes:
        head = _CODE.pack(
            self.level,
            self.state,
            self.status,
            self.lock,
            _FLAG_PARTIAL if self.partial else 0,
            self.batch_ref,
            self.last_event_us,
            self.children,
        )
        return head + self.parent.encode() if self.parent else head

    @classmethod
    def unpack(
        cls,
        raw: Buffer,
        _head: Any = _CODE.unpack_from,
        _size: int = _CODE.size,
        _states: dict[int, State] = _STATES,
        _statuses: dict[int, RegulatoryStatus] = _STATUSES,
        _locks: dict[int, Lock] = _LOCKS,
    ) -> Row:
        # This runs for every code of every request: the defaults bind the struct and the tables
        # once (no global look-ups), and the tables stand in for Enum(value).
        level, state, status, lock, flags, ref, time_us, children = _head(raw)
        return cls(
            level,
            _states[state],
            _statuses[status],
            _locks[lock],
            bool(flags & _FLAG_PARTIAL),
            ref,
            time_us,
            children,
            bytes(raw[_size:]).decode() or None,
        )


def plain_key(text: str) -> bool:
    """True for an nmpa20 key as stored (20 ASCII digits), which is how the line sends codes: the
    aggregation kernel takes those and leaves every other key to the rule-by-rule checks."""
    return len(text) == 20 and text.isascii() and text.isdigit()


def pack_children_reference(
    get: Callable[[bytes, None, Any], Buffer | None],
    slots: Any,
    codes: Any,
    children: list[str],
    parent: str,
    parent_slot: bytes,
    level: int,
    batch_ref: int,
    time_us: int,
    loose_state: int,
    packed_state: int,
    unlocked: int,
) -> PackedChildren | None:
    """The usual case of an aggregation's children, read (``get(key, None, slots)`` gives a code's
    slot, ``get(slot, None, codes)`` its record), checked and repacked: the ``(slot, record)`` pairs
    to store once they are in ``parent`` (state ``packed_state``, last event ``time_us``) and the
    ``(parent_slot, key)`` links; or None unless every child is a :func:`plain_key` with a stored record
    of ``level`` and batch ``batch_ref``, in state ``loose_state``, lock ``unlocked``, in no parent,
    and with its last event not after ``time_us`` (anything else is for the rule-by-rule checks to
    decide).

    ``linecode._records.pack_children`` is the fast copy (it makes no ``Row``); it reads ``bytes``
    only (what write transactions hand back): anything else also gives None."""
    if not all(isinstance(c, str) and plain_key(c) for c in children):
        return None
    keys = [c.encode() for c in children]
    places: list[bytes] = []
    rows = []
    for key in keys:
        slot = get(key, None, slots)
        if not (isinstance(slot, bytes) and len(slot) == _SEQ.size):
            return None
        raw = get(slot, None, codes)
        row = Row.unpack(raw) if isinstance(raw, bytes) and len(raw) >= _CODE.size else None
        if (
            row is None
            or row.level != level
            or row.state != loose_state
            or row.lock != unlocked
            or row.batch_ref != batch_ref
            or row.parent is not None
            or row.last_event_us > time_us
        ):
            return None
        places.append(slot)
        rows.append(row)
    for row in rows:
        row.state = State(packed_state)
        row.parent = parent
        row.last_event_us = time_us
    return [(s, r.pack()) for s, r in zip(places, rows, strict=True)], [(parent_slot, k) for k in keys]


def new_row(level: int, batch_ref: int, time_us: int) -> Row:
    """The record of a freshly allocated code (what a code with no record of its own is)."""
    return Row(level, State.ALLOCATED, RegulatoryStatus.NONE, Lock.NORMAL, False, batch_ref, time_us, 0, None)


@dataclass(frozen=True, slots=True, order=True)
class AllocatedRange:
    """One allocation as stored: indices ``start`` .. ``start + count - 1`` of ``pool`` handed to a
    batch's level at ``time_us`` by event ``event_seq``. Its codes have no records of their own until
    their first event (``Tx.row`` answers for them from this)."""

    pool: str
    start: int
    count: int
    batch_ref: int
    level: int
    time_us: int
    event_seq: int

    @property
    def end(self) -> int:
        return self.start + self.count

    def key(self) -> bytes:
        return allocation_key(self.pool, self.start)

    def pack(self) -> bytes:
        return _ALLOCATION.pack(self.batch_ref, self.level, self.count, self.time_us, self.event_seq)

    @classmethod
    def unpack(cls, key: Buffer, value: Buffer) -> AllocatedRange:
        pool, start = allocation_key_parts(key)
        batch_ref, level, count, time_us, event_seq = _ALLOCATION.unpack(bytes(value))
        return cls(pool, start, count, batch_ref, level, time_us, event_seq)


def allocation_key(pool: str, start: int) -> bytes:
    """Where an allocation is filed: pool name, a 0 byte, start index (big-endian: by index)."""
    return pool.encode() + _POOL_END + _SEQ.pack(start)


def allocation_key_parts(key: Buffer) -> tuple[str, int]:
    raw = bytes(key)
    return raw[:-9].decode(), int(_SEQ.unpack(raw[-8:])[0])


def allocation_detail(pool: str, ranges: list[IndexRange] | tuple[IndexRange, ...], level: int) -> str:
    """The detail of an ALLOCATED event: which indices of which pool went to which level of its
    batch (the codes are those indices' codes: ``coderules.generate``)."""
    return dump_json({"pool": pool, "ranges": ranges_to_json(ranges), "level": level}).decode()


def parse_allocation_detail(detail: str) -> tuple[str, list[IndexRange], int]:
    """(pool, ranges, level) of an ALLOCATED event's detail."""
    data = json.loads(detail)
    return data["pool"], ranges_from_json(data["ranges"]), int(data["level"])


def pack_event(
    time_us: int,
    kind: EventKind,
    batch_ref: int,
    actor: str,
    line: str,
    codes: tuple[str, ...] | list[str],
    parent: str | None,
    detail: str,
    _head: Any = _EVENT.pack,
) -> bytes:
    # One per write: spelled out (no generators) and with the struct bound once.
    a, b, c, d, e = fields = (
        actor.encode(),
        line.encode(),
        (parent or "").encode(),
        detail.encode(),
        CODE_SEPARATOR.join(codes).encode(),
    )
    return b"".join((_head(time_us, kind, batch_ref, len(a), len(b), len(c), len(d), len(e)), *fields))


def unpack_event(seq: int, raw: Buffer, batch_id_of: dict[int, str]) -> Event:
    time_us, kind, ref, *lengths = _EVENT.unpack_from(raw)
    pos = _EVENT.size
    texts = []
    for n in lengths:
        texts.append(bytes(raw[pos : pos + n]).decode())
        pos += n
    actor, line, parent, detail, codes = texts
    return Event(
        seq=seq,
        time_us=time_us,
        kind=EventKind(kind),
        batch_id=batch_id_of.get(ref) if ref else None,
        actor=actor,
        line=line,
        codes=tuple(codes.split(CODE_SEPARATOR)) if codes else (),
        parent=parent or None,
        detail=detail,
    )


def packed_event_size(raw: Buffer) -> int:
    """The bytes a packed event's lengths say it has (a whole record has exactly these)."""
    _time, _kind, _ref, *lengths = _EVENT.unpack_from(raw)
    return _EVENT.size + sum(lengths)


def event_kind(raw: Buffer) -> EventKind:
    """The kind of a packed event without unpacking the rest."""
    return EventKind(_EVENT.unpack_from(raw)[1])


def event_batch_ref(raw: Buffer) -> int:
    """The batch ref of a packed event without unpacking the rest."""
    return int(_EVENT.unpack_from(raw)[2])


def slot_key(slot: int) -> bytes:
    """The key of a code's record: its slot, counted up from 0 in allocation order (big-endian, so
    keys sort like slots and every allocation appends)."""
    return seq_key(slot)


def slot_of(key: Buffer) -> int:
    return seq_of(key)


def seq_key(seq: int) -> bytes:
    return _SEQ.pack(seq)


def seq_of(key: Buffer) -> int:
    return int(_SEQ.unpack(bytes(key))[0])


def ref_key(ref: int) -> bytes:
    return _REF.pack(ref)


def count_key(batch_ref: int, level: int, state: State) -> bytes:
    return _COUNT_KEY.pack(batch_ref, level, state)


def unpack_count_key(key: bytes) -> tuple[int, int, State]:
    ref, level, state = _COUNT_KEY.unpack(key)
    return ref, level, State(state)


def pack_count(n: int) -> bytes:
    return _COUNT.pack(n)


def unpack_count(raw: Buffer | None) -> int:
    return int(_COUNT.unpack(raw)[0]) if raw else 0


def batch_level_key(batch_ref: int, level: int) -> bytes:
    return _BATCH_LEVEL.pack(batch_ref, level)


def batch_prefix(batch_ref: int) -> bytes:
    return _REF.pack(batch_ref)


# --- JSON records -------------------------------------------------------------------------------


_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)
"""One encoder for every record (``json.dumps`` with options builds a new one per call, and an
idempotency answer is written with every request)."""


def dump_json(data: Any) -> bytes:
    return _JSON.encode(data).encode()


def load_json(raw: Buffer) -> Any:
    return json.loads(bytes(raw))


def pack_answer(digest: str, result: dict[str, Any], time_us: int = 0) -> bytes:
    """An idempotency record: when it was written, the request's
    :func:`~linecode.store.tx.request_digest` and its answer.

    ``@<time_us> `` first (records written before 2026-12 lack it: never pruned), then a change's
    answer (``event_seq`` and ``parent``: nearly every request of a line) as the text
    ``<digest> <event_seq> <parent>``, any other answer as JSON (which starts with ``{``). Digests
    are hex and parent keys hold no space."""
    stamp = f"@{time_us} " if time_us else ""
    if result.keys() == _CHANGE_ANSWER:
        return f"{stamp}{digest} {result['event_seq']} {result['parent'] or ''}".encode()
    return stamp.encode() + dump_json({"body": digest, "result": result})


def answer_time(raw: Buffer) -> int:
    """When a :func:`pack_answer` record was written (0: before records kept it)."""
    if raw[:1] != b"@":
        return 0
    return int(bytes(raw[1 : bytes(raw[:32]).index(b" ")]))


def unpack_answer(raw: Buffer) -> tuple[str, dict[str, Any]]:
    """The digest and the answer of a :func:`pack_answer` record."""
    if raw[:1] == b"@":
        raw = bytes(raw)[bytes(raw[:32]).index(b" ") + 1 :]
    if raw[:1] == b"{":
        stored = load_json(raw)
        return stored["body"], stored["result"]
    digest, seq, parent = bytes(raw).decode().split(" ", 2)
    return digest, {"event_seq": int(seq), "parent": parent or None}


_CHANGE_ANSWER = {"event_seq", "parent"}


def product_to_json(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.product_id,
        "name": product.name,
        "mah": product.mah,
        "levels": [level.as_dict() for level in product.levels],
        "mixed_pallets": product.mixed_pallets,
    }


def product_from_json(data: dict[str, Any]) -> Product:
    return Product(
        product_id=data["product_id"],
        name=data["name"],
        mah=data["mah"],
        levels=tuple(Level.from_dict(level) for level in data["levels"]),
        mixed_pallets=data["mixed_pallets"],
    )


def batch_to_json(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "product_id": batch.product_id,
        "batch_number": batch.batch_number,
        "production_date": batch.production_date.isoformat(),
        "expiry_date": batch.expiry_date.isoformat(),
        "line": batch.line,
        "planned_quantity": batch.planned_quantity,
        "state": int(batch.state),
        "status": int(batch.status),
        "lock": int(batch.lock),
        "ref": batch.ref,
        "last_event_us": batch.last_event_us,
        "closed_event_seq": batch.closed_event_seq,
        "exported_event_seq": batch.exported_event_seq,
    }


def batch_from_json(data: dict[str, Any]) -> Batch:
    return Batch(
        batch_id=data["batch_id"],
        product_id=data["product_id"],
        batch_number=data["batch_number"],
        production_date=dt.date.fromisoformat(data["production_date"]),
        expiry_date=dt.date.fromisoformat(data["expiry_date"]),
        line=data["line"],
        planned_quantity=data["planned_quantity"],
        state=BatchState(data["state"]),
        status=RegulatoryStatus(data["status"]),
        lock=Lock(data["lock"]),
        ref=data["ref"],
        last_event_us=data.get("last_event_us", 0),  # not kept before 2026-12
        closed_event_seq=data.get("closed_event_seq", 0),  # nor these
        exported_event_seq=data.get("exported_event_seq", 0),
    )


def ranges_to_json(ranges: list[IndexRange] | tuple[IndexRange, ...]) -> list[list[int]]:
    return [[r.start, r.end] for r in ranges]


def ranges_from_json(data: list[list[int]]) -> list[IndexRange]:
    return [IndexRange(start, end) for start, end in data]
