"""The line store: products, batches, serial leases, code life cycle, aggregation and events in LMDB.

Use :class:`Store` (``store.py``); the other modules are its parts: ``model`` (the domain types),
``records`` (byte layouts), ``db`` (environment and group-commit writer), ``coderules`` (code keys),
``leases``, ``lifecycle``, ``aggregation``, ``reconcile`` and ``replay`` (rebuilding state from events).
"""

from linecode.store.db import WriterLock
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
