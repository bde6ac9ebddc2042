"""Batch reconciliation and close (SPEC §4), and the batch's last step: exported (SPEC §2).

Per packaging level: allocated = encoded + unused; encoded = commissioned + scrapped (+ printed but
never verified); commissioned = aggregated + sampled + destroyed + decommissioned + loose (+ the
top level's own codes, which are shipped as they are). Loose codes, printed-but-unverified codes,
empty parents and partial parents nobody declared are discrepancies: the batch does not close
with any of them unless the caller overrides with a reason, which goes into the BATCH_CLOSED event.
The per-state counters kept on every write are checked against a full scan of the batch as well.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from linecode.errors import Precondition
from linecode.reasons import Reason
from linecode.store.lifecycle import batch_event, effective_lock, listing, require_time
from linecode.store.model import (
    Batch,
    BatchState,
    EventKind,
    LevelReconciliation,
    Lock,
    ReconciliationReport,
    Stamp,
    State,
)
from linecode.store.records import Row
from linecode.store.tx import Tx

LISTED = 100
"""Codes listed per kind of discrepancy in a report."""
_IN_USE = frozenset({State.COMMISSIONED, State.AGGREGATED, State.RELEASED})


def counted(tx: Tx, batch: Batch) -> Counter[tuple[int, State]]:
    """The per-state counters of a batch: {(level, state): n}."""
    return Counter(tx.batch_counts(batch.ref))


def level_reconciliation(
    number: int, name: str, states: Mapping[State, int], n: Mapping[str, int]
) -> LevelReconciliation:
    """One level's reconciliation (SPEC §4) from its codes per state and the counts ``_classify``
    keeps (``aggregated``, ``loose``, ``top``, ``empty``, ``partial_declared``,
    ``partial_undeclared``, ``locked``): the store's and the hub's report alike."""
    allocated = sum(states.values())
    unused, scrapped, not_verified = states[State.ALLOCATED], states[State.SCRAPPED], states[State.ENCODED]
    return LevelReconciliation(
        level=number,
        level_name=name,
        allocated=allocated,
        encoded=allocated - unused,
        unused=unused,
        commissioned=allocated - unused - scrapped - not_verified,
        scrapped=scrapped,
        not_verified=not_verified,
        aggregated=n.get("aggregated", 0),
        sampled=states[State.SAMPLED],
        destroyed=states[State.DESTROYED],
        decommissioned=states[State.DECOMMISSIONED],
        loose=n.get("loose", 0),
        top=n.get("top", 0),
        empty_parents=n.get("empty", 0),
        partial_declared=n.get("partial_declared", 0),
        partial_undeclared=n.get("partial_undeclared", 0),
        locked=n.get("locked", 0),
        released=states[State.RELEASED],
        by_state={s.label: k for s, k in states.items() if k},
    )


def reconcile(tx: Tx, batch: Batch) -> ReconciliationReport:
    """The reconciliation of ``batch`` as it stands (writes nothing)."""
    product = tx.product(batch.product_id)
    levels = []
    loose: list[str] = []
    undeclared: list[str] = []
    discrepancies: list[str] = []
    scanned: Counter[tuple[int, State]] = Counter()
    for number, spec in enumerate(product.levels, start=1):
        n: Counter[str] = Counter()
        for key, row in tx.batch_rows(batch.ref, number):
            scanned[number, row.state] += 1
            _classify(key, row, number == product.top, spec.pack_ratio, batch, n, loose, undeclared)
        level = level_reconciliation(number, spec.name, {s: scanned[number, s] for s in State}, n)
        levels.append(level)
        discrepancies += _discrepancies(level)
    if counted(tx, batch) != scanned:
        discrepancies.append(
            "the per-state counters disagree with the code records (store damage?); run a replay check"
        )
    return ReconciliationReport(
        batch_id=batch.batch_id,
        product_id=batch.product_id,
        state=batch.state,
        levels=tuple(levels),
        discrepancies=tuple(discrepancies),
        loose_units=tuple(loose[:LISTED]),
        undeclared_partial=tuple(undeclared[:LISTED]),
        **_closed_and_exported(tx, batch),
    )


def _closed_and_exported(tx: Tx, batch: Batch) -> dict[str, Any]:
    """How and when ``batch`` was closed and where its data went, from the events it keeps."""
    out: dict[str, Any] = {}
    closed = tx.event(batch.closed_event_seq) if batch.closed_event_seq else None
    if closed is not None:
        out.update(
            closed_event_seq=closed.seq,
            closed_us=closed.time_us,
            override_reason=json.loads(closed.detail).get("override_reason"),
        )
    exported = tx.event(batch.exported_event_seq) if batch.exported_event_seq else None
    if exported is not None:
        out.update(exported_to=json.loads(exported.detail)["destination"], exported_us=exported.time_us)
    return out


def _classify(
    key: str,
    row: Row,
    top: bool,
    ratio: int,
    batch: Batch,
    n: Counter[str],
    loose: list[str],
    undeclared: list[str],
) -> None:
    if row.parent is not None:
        n["aggregated"] += 1
    elif row.state in (State.COMMISSIONED, State.RELEASED):
        if top:
            n["top"] += 1
        else:
            n["loose"] += 1
            loose.append(key)
    if row.level > 1 and row.state in _IN_USE:
        if row.children == 0:
            n["empty"] += 1
        elif row.children < ratio:
            if row.partial:
                n["partial_declared"] += 1
            else:
                n["partial_undeclared"] += 1
                undeclared.append(key)
    if row.state in _IN_USE and effective_lock(row, batch) is not Lock.NORMAL:
        n["locked"] += 1


def _discrepancies(level: LevelReconciliation) -> list[str]:
    name = f"level {level.level} ({level.level_name})"
    found = []
    if level.not_verified:
        found.append(f"{name}: {level.not_verified} code(s) printed but neither verified nor scrapped")
    if level.loose:
        found.append(f"{name}: {level.loose} loose code(s), commissioned but in no parent")
    if level.empty_parents:
        found.append(f"{name}: {level.empty_parents} empty parent(s), commissioned with no children")
    if level.partial_undeclared:
        found.append(f"{name}: {level.partial_undeclared} partial parent(s) not declared partial")
    return found


def close(tx: Tx, batch_id: str, override_reason: str | None, *, at: Stamp) -> ReconciliationReport:
    """Reconcile, refuse on a discrepancy unless overridden, release what is packed, close the batch."""
    batch = tx.batch(batch_id)
    if batch.state is not BatchState.OPEN:
        raise Precondition(
            f"batch {batch_id!r} is {batch.state.label}; expected an open batch to close",
            reason=Reason.BATCH_NOT_OPEN,
        )
    before = reconcile(tx, batch)
    if before.discrepancies and not (override_reason and override_reason.strip()):
        offending = list(before.loose_units) + list(before.undeclared_partial)
        raise Precondition(
            f"batch {batch_id!r} does not reconcile: {'; '.join(before.discrepancies)}"
            + (f"; codes: {listing(offending)}" if offending else ""),
            reason=Reason.BATCH_DISCREPANCY,
            codes=offending,
            hint="resolve them on the line, or close with an override reason (it is recorded)",
        )
    product = tx.product(batch.product_id)
    released: list[str] = []
    rows: list[Row] = []
    for number in range(1, product.top + 1):
        for key, row in tx.batch_rows(batch.ref, number):
            packed = row.state is State.AGGREGATED or (
                row.state is State.COMMISSIONED and number == product.top and row.children > 0
            )
            if packed and effective_lock(row, batch) is Lock.NORMAL:
                released.append(key)
                rows.append(row)
    require_time(released, rows, at.time_us)
    for key, row in zip(released, rows, strict=True):
        tx.set_state(key, row, State.RELEASED)
        row.last_event_us = at.time_us
        tx.put_row(key, row)
    if released:
        tx.append_event(at, EventKind.RELEASED, batch.ref, codes=released)
    closed = replace(batch, state=BatchState.CLOSED)
    detail = json.dumps(
        {
            "override_reason": override_reason,
            "discrepancies": list(before.discrepancies),
            "released": len(released),
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    seq = batch_event(tx, closed, EventKind.BATCH_CLOSED, at, detail=detail)
    tx.flush_counts()
    answer = {
        "closed_event_seq": seq,
        "override_reason": override_reason,
        "discrepancies": before.discrepancies,
        "loose_units": before.loose_units,
        "undeclared_partial": before.undeclared_partial,
    }
    return as_closed(tx, batch_id, answer)


def close_answer(report: ReconciliationReport) -> dict[str, Any]:
    """What an idempotency record keeps of a close: what the numbers alone do not say."""
    return {
        "closed_event_seq": report.closed_event_seq,
        "override_reason": report.override_reason,
        "discrepancies": list(report.discrepancies),
        "loose_units": list(report.loose_units),
        "undeclared_partial": list(report.undeclared_partial),
    }


def as_closed(tx: Tx, batch_id: str, answer: dict[str, Any]) -> ReconciliationReport:
    """The report of a close: the numbers as they stand now, and what was found before it and how it
    was closed (``answer``: :func:`close_answer`, kept for a retry)."""
    report = reconcile(tx, tx.batch(batch_id))
    seq = answer["closed_event_seq"]
    closed_us = report.closed_us
    if report.closed_event_seq != seq:  # a batch closed before its record kept the number
        closed = tx.event(seq)
        closed_us = closed.time_us if closed is not None else 0
    return replace(
        report,
        closed_us=closed_us,
        discrepancies=tuple(answer["discrepancies"]),
        loose_units=tuple(answer["loose_units"]),
        undeclared_partial=tuple(answer["undeclared_partial"]),
        override_reason=answer["override_reason"],
        closed_event_seq=answer["closed_event_seq"],
    )


def mark_exported(tx: Tx, batch_id: str, destination: str, *, at: Stamp) -> int:
    """Record that a closed batch's data went to ``destination``: the batch becomes EXPORTED (it was
    closed already, so nothing else changes) and a BATCH_EXPORTED event names where it went. A batch
    delivered again stays EXPORTED and gets one more event. The event's sequence number."""
    batch = tx.batch(batch_id)
    tx.may_change([batch.ref])
    if batch.state is BatchState.OPEN:
        raise Precondition(
            f"batch {batch_id!r} is open; expected a closed batch to mark exported",
            reason=Reason.BATCH_NOT_CLOSED,
            hint="close the batch first (an export of an open batch is a preview, not the batch's data)",
        )
    exported = replace(batch, state=BatchState.EXPORTED)
    detail = json.dumps({"destination": destination}, ensure_ascii=False)
    return batch_event(tx, exported, EventKind.BATCH_EXPORTED, at, detail=detail)
