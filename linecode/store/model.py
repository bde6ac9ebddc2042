"""The line store's domain model: products, levels, batches, code records, events and results.

Plain frozen dataclasses and enums, no storage concerns: ``records.py`` packs them, the other
modules of the store compute with them, and the gRPC layer converts them to and from messages.
Enum values are stable integers because they are stored in LMDB records; never renumber them.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, TypedDict

import numpy as np

from linecode.reasons import Reason


def now_us() -> int:
    """The current UTC time in integer microseconds since the epoch (the store's only time unit)."""
    return time.time_ns() // 1000


def format_time(time_us: int) -> str:
    """ISO 8601 UTC text of a store time, e.g. ``2026-01-31T08:00:00.000000Z``."""
    moment = dt.datetime.fromtimestamp(time_us / 1e6, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class State(enum.IntEnum):
    """Life-cycle state of a code, named as in OPC UA Open-SCS (OPC 30260)."""

    ALLOCATED = 1
    """Handed to the line; not printed yet."""
    ENCODED = 2
    """Printed on a pack or label."""
    COMMISSIONED = 3
    """Read back by the camera: the pack exists and carries this code."""
    AGGREGATED = 4
    """Inside a parent (bundle, case, pallet)."""
    RELEASED = 5
    """Its batch was closed and released."""
    SCRAPPED = 6
    """Label bad or unreadable; the code is out of the game."""
    SAMPLED = 7
    """Pulled by QA."""
    DESTROYED = 8
    """The pack was destroyed."""
    DECOMMISSIONED = 9
    """Taken out of use after commissioning (e.g. removed in rework)."""

    @property
    def label(self) -> str:
        return self.name.lower()


class RegulatoryStatus(enum.IntEnum):
    """Vaccine status of NMPAB/T 1004-2019 (疫苗追溯基本数据集); ``NONE`` means not set yet."""

    NONE = 0
    SELF_CHECKED = 1
    """已自检"""
    LOT_RELEASED = 2
    """已批签"""
    EXPIRED = 3
    """已过期"""
    DAMAGED = 4
    """已损坏"""
    DESTROYED = 5
    """已销毁"""
    RECALLING = 6
    """召回中"""
    RECALLED = 7
    """已召回"""
    USED = 8
    """已使用"""
    DEACTIVATED = 9
    """已停用"""
    OTHER = 10
    """其他"""

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def chinese(self) -> str:
        return _STATUS_ZH[self]


_STATUS_ZH = dict(
    zip(
        RegulatoryStatus,
        (
            "",
            "已自检",
            "已批签",
            "已过期",
            "已损坏",
            "已销毁",
            "召回中",
            "已召回",
            "已使用",
            "已停用",
            "其他",
        ),
        strict=True,
    )
)


class Lock(enum.IntEnum):
    """Lock states proposed in seed 002: anything but ``NORMAL`` blocks aggregation and release."""

    NORMAL = 0
    """正常"""
    PENDING = 1
    """待定"""
    TO_BE_RECALLED = 2
    """待召回"""
    ABNORMAL = 3
    """异常"""

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def chinese(self) -> str:
        return ("正常", "待定", "待召回", "异常")[self]


class BatchState(enum.IntEnum):
    OPEN = 1
    CLOSED = 2
    EXPORTED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class CodeRule(enum.StrEnum):
    """How a packaging level's codes are made (SPEC §1)."""

    NMPA20 = "nmpa20"
    """7-digit product identifier + 9-digit serial + 4-digit keyed check."""
    GS1 = "gs1"
    """GTIN-14 + serial (21); expiry (17) and batch (10) come from the batch."""
    SSCC = "sscc"
    """Extension digit + GS1 company prefix + serial reference + check digit."""


class EventKind(enum.IntEnum):
    """What an event records. Code-level kinds carry the codes they touched."""

    PRODUCT_CREATED = 1
    BATCH_CREATED = 2
    ALLOCATED = 3
    ENCODED = 4
    COMMISSIONED = 5
    SCRAPPED = 6
    SAMPLED = 7
    DESTROYED = 8
    DECOMMISSIONED = 9
    AGGREGATED = 10
    """Children added to ``parent`` (EPCIS AggregationEvent ADD)."""
    DISAGGREGATED = 11
    """Children removed from ``parent`` (EPCIS AggregationEvent DELETE)."""
    RELEASED = 12
    STATUS_SET = 13
    LOCK_SET = 14
    BATCH_STATUS_SET = 15
    BATCH_LOCK_SET = 16
    BATCH_CLOSED = 17
    LEASE_EXPORTED = 18
    LEASE_IMPORTED = 19
    BATCH_EXPORTED = 20
    """A closed batch's data was delivered upstream (``detail``: where to); recorded on every delivery."""

    @property
    def label(self) -> str:
        return self.name.lower()


class LineEvent(enum.StrEnum):
    """The events a line reports in bulk (``Store.report_events``)."""

    PRINTED = "printed"
    """allocated → encoded"""
    VERIFIED = "verified"
    """encoded → commissioned (camera read it back)"""
    VERIFY_FAILED = "verify_failed"
    """encoded or commissioned → scrapped"""
    SAMPLED = "sampled"
    """commissioned → sampled (QA pulled it)"""
    DESTROYED = "destroyed"
    """encoded, commissioned, scrapped or sampled → destroyed"""
    DECOMMISSIONED = "decommissioned"
    """commissioned → decommissioned"""


@dataclass(frozen=True, slots=True)
class Level:
    """One packaging level of a product's hierarchy."""

    name: str
    """Line name of the level, e.g. ``unit``, ``bundle``, ``case``, ``pallet``."""
    rule: CodeRule
    """How this level's codes are made."""
    identifier: str
    """nmpa20: the 7-digit product identifier; gs1: the GTIN-14; sscc: extension digit + company prefix."""
    pack_ratio: int = 1
    """Children (codes of the level below) in one full code of this level; 1 for the unit level."""
    serial_alphabet: str = "0123456789"
    """gs1 only: characters of the serial (21), the first one standing for 0."""
    serial_length: int = 12
    """gs1 only: characters per serial."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rule": self.rule.value,
            "identifier": self.identifier,
            "pack_ratio": self.pack_ratio,
            "serial_alphabet": self.serial_alphabet,
            "serial_length": self.serial_length,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Level:
        return cls(**{**data, "rule": CodeRule(data["rule"])})


@dataclass(frozen=True, slots=True)
class Product:
    """A medicine or vaccine and its packaging hierarchy."""

    product_id: str
    """The store's key of the product (caller-chosen, e.g. an ERP material number)."""
    name: str
    mah: str
    """Marketing-authorisation holder (上市许可持有人)."""
    levels: tuple[Level, ...]
    """Level 1 (the unit, 最小销售包装) first, the top level (e.g. pallet) last."""
    mixed_pallets: bool = False
    """Whether the top level may hold children of different batches."""

    def level(self, level: int | str) -> int:
        """The level number (1 = unit) of a level given by number or name; raises if unknown."""
        from linecode.errors import InvalidArgument, shown

        if isinstance(level, int) and 1 <= level <= len(self.levels):
            return level
        for number, spec in enumerate(self.levels, start=1):
            if spec.name == level:
                return number
        names = ", ".join(f"{i} {lv.name}" for i, lv in enumerate(self.levels, start=1))
        raise InvalidArgument(
            f"product {self.product_id!r} has no packaging level {shown(str(level))}; "
            f"expected one of: {names}",
            reason=Reason.UNKNOWN_LEVEL,
        )

    def spec(self, level: int) -> Level:
        """The :class:`Level` of level number ``level`` (1 = unit)."""
        return self.levels[level - 1]

    @property
    def top(self) -> int:
        """The number of the top level."""
        return len(self.levels)


@dataclass(frozen=True, slots=True)
class Batch:
    """A production batch (批次) of one product."""

    batch_id: str
    """The store's key of the batch; the batch number unless the caller chose another."""
    product_id: str
    batch_number: str
    """批号, as printed in GS1 (10)."""
    production_date: dt.date
    expiry_date: dt.date
    line: str
    """The packaging line that runs the batch."""
    planned_quantity: int
    """Planned units (level 1)."""
    state: BatchState = BatchState.OPEN
    status: RegulatoryStatus = RegulatoryStatus.NONE
    """Batch-wide regulatory status; a code without its own status shows this one."""
    lock: Lock = Lock.NORMAL
    """Batch-wide lock; a non-normal lock here locks every code of the batch."""
    ref: int = 0
    """Compact number of the batch inside code records (assigned by the store)."""
    last_event_us: int = 0
    """Time of the batch's latest batch-wide event (created, status, lock, closed, exported)."""
    closed_event_seq: int = 0
    """The BATCH_CLOSED event (0: open, or closed before batches kept it)."""
    exported_event_seq: int = 0
    """The latest BATCH_EXPORTED event (0: never marked exported, or before batches kept it)."""


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """What the store knows about one code (one LMDB record)."""

    code: str
    """The code's key (see ``linecode.store.coderules``)."""
    level: int
    """Packaging level number, 1 = unit."""
    batch_id: str
    state: State
    status: RegulatoryStatus
    """The code's own regulatory status (``NONE``: the batch's applies)."""
    lock: Lock
    """The code's own lock (the batch's lock applies on top)."""
    parent: str | None
    """The code it is packed in, if any."""
    children: int
    """How many children it holds."""
    partial: bool
    """Declared partial parent (fewer children than the pack ratio, flagged at aggregation)."""
    last_event_us: int
    """Time of the latest event on this code; later events may not be earlier."""


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the append-only event log."""

    seq: int
    """Sequence number, 1, 2, 3 … with no gaps."""
    time_us: int
    """When it happened (given by the line, or when the store recorded it)."""
    kind: EventKind
    batch_id: str | None
    actor: str
    line: str
    codes: tuple[str, ...] = ()
    """Codes the event touched (for aggregation events: the children)."""
    parent: str | None = None
    """Aggregation events: the parent."""
    detail: str = ""
    """Kind-specific text: a status or lock name, a reason, a lease, a product or batch as JSON."""


@dataclass(frozen=True, slots=True)
class IndexRange:
    """Indices ``start`` ≤ i < ``end`` of a serial pool."""

    start: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Lease:
    """Index ranges of one pool handed from one server to another (SPEC §7)."""

    pool: str
    """Pool name, e.g. ``nmpa20/8612345``, ``gs1/09501101530003``, ``sscc/06901234``."""
    ranges: tuple[IndexRange, ...]

    @property
    def count(self) -> int:
        return sum(r.count for r in self.ranges)

    def as_text(self) -> str:
        """One line to move between servers: ``pool start-end[,start-end…]``."""
        return f"{self.pool} " + ",".join(f"{r.start}-{r.end}" for r in self.ranges)

    @classmethod
    def parse(cls, text: str) -> Lease:
        """Read :meth:`as_text` back."""
        from linecode.errors import InvalidArgument, shown

        try:
            pool, spans = text.strip().split(" ")
            ranges = tuple(IndexRange(int(a), int(b)) for a, b in (s.split("-") for s in spans.split(",")))
        except ValueError:
            raise InvalidArgument(
                f"lease {shown(text)} is not 'POOL START-END[,START-END…]'", reason=Reason.BAD_LEASE
            ) from None
        return cls(pool, ranges)


Packed = tuple["np.ndarray", "np.ndarray | None"]
"""Codes as fixed-width byte arrays (``S<n>``): keys, and symbol data (None: the keys themselves)."""


@dataclass(frozen=True)
class Allocation:
    """Codes handed to a line for one batch and level; durable before it is returned.

    The store keeps the ranges; the codes are made from them when first asked for (``packed``,
    ``codes``, ``symbols``, or a part with :meth:`packed_at`), so an allocation costs the making of
    its codes and nothing per code besides."""

    batch_id: str
    level: int
    level_name: str
    pool: str
    ranges: tuple[IndexRange, ...]
    """The pool's index ranges the codes come from (usually one)."""
    event_seq: int
    replayed: bool = False
    """True when this is the stored answer to a repeated idempotency key."""
    make: Callable[[int, int], Packed] = field(
        default=lambda start, count: _nothing(), repr=False, compare=False
    )
    """The codes of pool indices ``start`` .. ``start + count - 1`` (the store's code rule)."""

    @property
    def count(self) -> int:
        """How many codes."""
        return sum(r.count for r in self.ranges)

    def packed_at(self, start: int, count: int) -> Packed:
        """The codes of pool indices ``start`` .. ``start + count - 1``, each of this allocation."""
        if not any(r.start <= start and start + count <= r.end for r in self.ranges):
            raise ValueError(f"indices {start}-{start + count} are not all of this allocation {self.ranges}")
        return self.make(start, count)

    @cached_property
    def packed(self) -> Packed:
        """Every code, in index order, as fixed-width byte arrays."""
        parts = [self.make(r.start, r.count) for r in self.ranges]
        if len(parts) == 1:
            return parts[0]
        keys = np.concatenate([k for k, _ in parts])
        symbols = None if parts[0][1] is None else np.concatenate([s for _, s in parts])  # type: ignore[misc]
        return keys, symbols

    @cached_property
    def codes(self) -> tuple[str, ...]:
        """The codes' keys, in index order (what the line reports back)."""
        return tuple(self.packed[0].astype(str).tolist())

    @cached_property
    def symbols(self) -> tuple[str, ...]:
        """What goes into each DataMatrix (same as ``codes`` for nmpa20; element strings for GS1)."""
        symbols = self.packed[1]
        return self.codes if symbols is None else tuple(symbols.astype(str).tolist())


def _nothing() -> Packed:
    raise ValueError("this allocation was made without its code rule")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a write comes from; every write of the ``Store`` takes one (default: nobody in
    particular, now, no retry key, any line)."""

    actor: str = ""
    """Who writes (a PLC, an operator); recorded in its events."""
    line: str = ""
    """The packaging line it happens on; recorded in its events."""
    time_us: int | None = None
    """When it happened, in microseconds UTC; None: the moment the store writes it."""
    idempotency_key: str | None = None
    """A retry with the same key gets the first answer and writes nothing again."""
    lines: frozenset[str] | None = None
    """The lines the caller may change codes and batches of (its role's); None: any. Any collection
    of line ids is taken (one id alone too) and kept as a frozenset."""

    def __post_init__(self) -> None:
        lines: Any = self.lines
        if lines is not None and not isinstance(lines, frozenset):
            object.__setattr__(self, "lines", frozenset([lines] if isinstance(lines, str) else lines))


class Stamp(NamedTuple):
    """What an event records of its write: when, who, on which line. The store's rules take one (an
    immutable tuple: one is made for every write, on the writer's thread)."""

    time_us: int
    actor: str
    line: str


ANYONE = Origin()
"""The default origin: no actor, no line, the store's time, no retry key, any line."""


class Marking(TypedDict, total=False):
    """What a status or lock is set on, and why: exactly one of ``codes`` (any spellings) and
    ``batch_id``; ``reason``, recorded in the event; and the write's ``origin``."""

    codes: Sequence[str] | None
    batch_id: str | None
    reason: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class Change:
    """Result of a write that appended one event: bulk line events, aggregation and the rest."""

    event_seq: int
    """The event recorded (0 when nothing needed recording)."""
    codes: tuple[str, ...]
    """The codes changed."""
    parent: str | None = None
    replayed: bool = False
    """True when this is the stored answer to a repeated idempotency key; nothing was written."""


@dataclass(frozen=True, slots=True)
class CountRow:
    batch_id: str
    level: int
    level_name: str
    state: State
    count: int


@dataclass(frozen=True, slots=True)
class TreeNode:
    """A code and everything packed inside it."""

    code: str
    level: int
    state: State
    children: tuple[TreeNode, ...] = ()

    def units(self) -> int:
        """Unit-level (level 1) codes in this subtree."""
        if self.level == 1:
            return 1
        return sum(child.units() for child in self.children)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "level": self.level,
            "state": self.state.label,
            "children": [c.as_dict() for c in self.children],
        }


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """Everything about one code that a QA engineer or ``verify`` asks for."""

    code: str
    level: int
    level_name: str
    product_id: str
    batch_id: str
    batch_number: str
    expiry_date: dt.date
    state: State
    status: RegulatoryStatus
    """Effective status: the code's own, else its batch's."""
    lock: Lock
    """Effective lock: the code's own unless normal, else its batch's."""
    parent: str | None
    path: tuple[str, ...]
    """Parent, grandparent, … up to the top."""
    children: int
    units: int
    """Unit-level codes inside (1 for a unit)."""
    last_event_us: int

    @property
    def expired(self) -> bool:
        """Whether its expiry date has passed (the day of expiry itself is still good), by this
        machine's date: the one expiry rule (``Store.verify``, the Query service, ``linecode verify``)."""
        return self.expiry_date < dt.date.today()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "level": self.level,
            "level_name": self.level_name,
            "product": self.product_id,
            "batch": self.batch_id,
            "batch_number": self.batch_number,
            "expiry": self.expiry_date.isoformat(),
            "state": self.state.label,
            "status": self.status.label,
            "status_zh": self.status.chinese,
            "lock": self.lock.label,
            "lock_zh": self.lock.chinese,
            "parent": self.parent,
            "path": list(self.path),
            "children": self.children,
            "units": self.units,
            "last_event": format_time(self.last_event_us) if self.last_event_us else None,
        }


@dataclass(frozen=True, slots=True)
class LevelReconciliation:
    """SPEC §4 numbers of one packaging level of a batch."""

    level: int
    level_name: str
    allocated: int
    """Every code of the level ever allocated to the batch."""
    encoded: int
    """Printed (allocated minus unused)."""
    unused: int
    """Allocated but never printed."""
    commissioned: int
    """Read back by the camera (encoded minus scrapped minus not yet verified)."""
    scrapped: int
    not_verified: int
    """Printed but never read back: neither commissioned nor scrapped (a discrepancy)."""
    aggregated: int
    """Inside a parent (including released ones)."""
    sampled: int
    destroyed: int
    decommissioned: int
    loose: int
    """Commissioned, below the top level, in no parent (a discrepancy)."""
    top: int
    """Commissioned codes of the top level (shipped as they are; not loose)."""
    empty_parents: int
    """Commissioned codes above the unit level with no children (a discrepancy)."""
    partial_declared: int
    partial_undeclared: int
    """Parents with fewer children than the pack ratio that were not flagged partial (a discrepancy)."""
    locked: int
    """Codes under a lock (not released on close)."""
    released: int
    by_state: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """The three SPEC §4 equations hold."""
        return (
            self.allocated == self.encoded + self.unused
            and self.encoded == self.commissioned + self.scrapped + self.not_verified
            and self.commissioned
            == self.aggregated + self.sampled + self.destroyed + self.decommissioned + self.loose + self.top
        )


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """The batch-close reconciliation of SPEC §4."""

    batch_id: str
    product_id: str
    state: BatchState
    levels: tuple[LevelReconciliation, ...]
    discrepancies: tuple[str, ...]
    """Why the batch may not close, one sentence each; empty when it may."""
    loose_units: tuple[str, ...]
    """Up to 100 loose codes (any level below the top), for the line to find them."""
    undeclared_partial: tuple[str, ...]
    """Up to 100 parents that are partial without the flag."""
    override_reason: str | None = None
    closed_event_seq: int = 0
    closed_us: int = 0
    """When the batch was closed (0: open)."""
    exported_to: str | None = None
    """Where the batch's data went, as the latest BATCH_EXPORTED event says (None: not marked)."""
    exported_us: int = 0

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["state"] = self.state.label
        data["ok"] = self.ok
        for level, spec in zip(data["levels"], self.levels, strict=True):
            level["balanced"] = spec.balanced
        return data


@dataclass(frozen=True, slots=True)
class Verification:
    """What a scanned code is, as ``Store.verify`` sees it."""

    genuine: bool
    """Known to this store (and, for nmpa20, its keyed check is right)."""
    reason: Reason
    """``OK`` or the machine-readable reason it is not genuine or not usable."""
    message: str
    info: CodeInfo | None = None
    usable: bool = False
    """Genuine, released or commissioned, not locked, not expired."""
