"""The line store: products, batches, serial leases, code life cycle, aggregation and events in LMDB.

Use :class:`Store` (``store.py``); every write takes an :class:`Origin` (who, on which line, when,
under which idempotency key, limited to which lines). The other modules are its parts: ``model``
(the domain types), ``records`` (byte layouts), ``database`` (environment and group-commit writer),
``writer_lock``, ``tx`` (typed access in a transaction), ``verification`` (scans and print look-ups),
``coderules`` (a level's
pool and how its codes are generated; code keys themselves are ``linecode.codes.keys``), ``leases``,
``lifecycle``, ``aggregation``, ``reconcile``, ``replay`` (rebuilding state from events) and
``check`` (the log against records, counters, indexes, hierarchy and pools: ``linecode check``).
"""

from linecode.store.model import (
    Allocation,
    Batch,
    BatchState,
    Change,
    CodeInfo,
    CodeRecord,
    CodeRule,
    CountRow,
    Event,
    EventKind,
    IndexRange,
    Lease,
    Level,
    LevelReconciliation,
    LineEvent,
    Lock,
    Marking,
    Origin,
    Product,
    ReconciliationReport,
    RegulatoryStatus,
    State,
    TreeNode,
    Verification,
    format_time,
    now_us,
)
from linecode.store.store import Store
from linecode.store.writer_lock import WriterLock

__all__ = [
    "Allocation",
    "Batch",
    "BatchState",
    "Change",
    "CodeInfo",
    "CodeRecord",
    "CodeRule",
    "CountRow",
    "Event",
    "EventKind",
    "IndexRange",
    "Lease",
    "Level",
    "LevelReconciliation",
    "LineEvent",
    "Lock",
    "Marking",
    "Origin",
    "Product",
    "ReconciliationReport",
    "RegulatoryStatus",
    "State",
    "Store",
    "TreeNode",
    "Verification",
    "WriterLock",
    "format_time",
    "now_us",
]
