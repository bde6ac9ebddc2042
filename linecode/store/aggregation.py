"""Aggregation (SPEC §4): packing children into parents, unpacking, moving, rework; hierarchy queries.

Each write validates every rule against the transaction's current state before touching anything,
and raises on the first rule broken, naming all codes that break it. A refused request writes nothing,
even half way through a compound change (re-parent, replace): the group-commit writer then runs
its group again without it (see ``linecode.store.database``). The usual aggregation is checked and
repacked by the ``_records`` kernel; the rule-by-rule checks here decide whenever it declines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from linecode.errors import InvalidArgument, NotFound, Precondition
from linecode.reasons import Reason
from linecode.store.lifecycle import (
    Batches,
    listing,
    require,
    require_empty,
    require_time,
    require_unlocked,
)
from linecode.store.model import BatchState, Change, EventKind, Lock, Product, Stamp, State, TreeNode
from linecode.store.records import Row
from linecode.store.tx import Tx

_OUT_OF_SERVICE = {
    State.SCRAPPED: Reason.CHILD_SCRAPPED,
    State.SAMPLED: Reason.CHILD_SAMPLED,
    State.DESTROYED: Reason.CHILD_DESTROYED,
    State.DECOMMISSIONED: Reason.CHILD_DECOMMISSIONED,
}
PARENT_STATES = frozenset({State.COMMISSIONED, State.AGGREGATED})
"""A parent takes children once commissioned, also when it sits in a parent itself."""


def _one(tx: Tx, key: str, role: str) -> tuple[str, Row]:
    row = tx.row(key)
    if row is None:
        raise NotFound(
            f"{role} {key} is not in this store; expected a code allocated here",
            reason=Reason.UNKNOWN_CHILD if role == "child" else Reason.UNKNOWN_PARENT,
            codes=[key],
        )
    return key, row


def _fail(rule: Reason, message: str, codes: Sequence[str], hint: str | None = None) -> Precondition:
    return Precondition(message, reason=rule, codes=codes, hint=hint)


def check_children(
    tx: Tx,
    batches: Batches,
    pkey: str,
    prow: Row,
    keys: Sequence[str],
    rows: Sequence[Row],
    *,
    ignore_parent: bool = False,
) -> Product:
    """The per-child rules of SPEC §4 (state, lock, level, batch), one by one, in that order: raises
    on the first one broken, naming every code breaking it; returns the parent's product.

    The usual case (loose commissioned children of the parent's batch) is decided without these by
    ``Tx.pack_children``; this runs when that declines (to explain a refusal, or for a move or a
    pallet of mixed batches)."""
    parent_batch = batches(prow.batch_ref)
    in_parent = [
        (k, r.parent) for k, r in zip(keys, rows, strict=True) if r.parent is not None and not ignore_parent
    ]
    if in_parent:

        def where(child: str, parent: str) -> str:
            # A parent the caller may not change is named only as being there: a line-limited
            # caller never learns another line's codes from a refusal.
            lines = tx.lines
            row = tx.row(parent) if lines is not None else None
            if lines is not None and row is not None and batches(row.batch_ref).line not in lines:
                return f"{child} (in a parent of another line)"
            return f"{child} (in {parent})"

        raise _fail(
            Reason.CHILD_ALREADY_AGGREGATED,
            f"child code(s) already packed: {listing([where(k, p) for k, p in in_parent])}; "
            "expected children in no parent",
            [k for k, _ in in_parent],
            "to move a child use reparent; to unpack use disaggregate",
        )
    for state, rule in _OUT_OF_SERVICE.items():
        bad = [k for k, r in zip(keys, rows, strict=True) if r.state is state]
        if bad:
            raise _fail(
                rule,
                f"child code(s) {listing(bad)} are {state.label} and cannot be packed; "
                "expected commissioned codes",
                bad,
            )
    wanted = {State.COMMISSIONED, State.AGGREGATED} if ignore_parent else {State.COMMISSIONED}
    wrong = [(k, r.state) for k, r in zip(keys, rows, strict=True) if r.state not in wanted]
    if wrong:
        raise _fail(
            Reason.CHILD_NOT_COMMISSIONED,
            f"child code(s) not commissioned: {listing([f'{k} (is {s.label})' for k, s in wrong])}; "
            "expected codes read back by the camera (commissioned)",
            [k for k, _ in wrong],
            "report them verified first",
        )
    require_unlocked(keys, rows, batches, "packed")
    product = tx.product(parent_batch.product_id)
    want = prow.level - 1
    wrong_level = [
        (k, r.level)
        for k, r in zip(keys, rows, strict=True)
        if r.level != want or batches(r.batch_ref).product_id != product.product_id
    ]
    if wrong_level:
        parent_name = product.spec(prow.level).name
        expected = f"level {want} ({product.spec(want).name})" if want >= 1 else "nothing (it is a unit)"
        raise _fail(
            Reason.LEVEL_MISMATCH,
            f"child code(s) at the wrong packaging level for parent {pkey} "
            f"(level {prow.level} {parent_name}): "
            f"{listing([f'{k} (level {lv})' for k, lv in wrong_level])}; expected {expected} of product "
            f"{product.product_id!r}",
            [k for k, _ in wrong_level],
        )
    if not (prow.level == product.top and product.mixed_pallets):
        foreign = [k for k, r in zip(keys, rows, strict=True) if r.batch_ref != prow.batch_ref]
        if foreign:
            allowed = " (only the top level of a product with mixed_pallets may mix batches)"
            raise _fail(
                Reason.BATCH_MISMATCH,
                f"child code(s) {listing(foreign)} are not of the parent's batch {parent_batch.batch_id!r}; "
                f"expected one batch per parent{allowed}",
                foreign,
            )
    return product


def _parent_fits(batches: Batches, prow: Row) -> bool:
    """True when the parent breaks none of the rules :func:`_check_parent` explains."""
    batch = batches(prow.batch_ref)
    return (
        batch.state is BatchState.OPEN
        and prow.state in PARENT_STATES
        and prow.lock is Lock.NORMAL
        and batch.lock is Lock.NORMAL
        and prow.level != 1
    )


def _check_parent(tx: Tx, batches: Batches, pkey: str, prow: Row) -> None:
    if _parent_fits(batches, prow):
        return  # the usual case; otherwise find the rule it breaks
    batches.require_open([pkey], [prow])
    if prow.state not in PARENT_STATES:
        raise _fail(
            Reason.PARENT_NOT_COMMISSIONED,
            f"parent {pkey} is {prow.state.label}; expected a commissioned parent code",
            [pkey],
            "report the parent's label printed and verified first",
        )
    require_unlocked([pkey], [prow], batches, "packed into")
    if prow.level == 1:
        raise _fail(
            Reason.LEVEL_MISMATCH, f"parent {pkey} is a unit (level 1); units hold no children", [pkey]
        )


def aggregate(
    tx: Tx,
    parent: str,
    children: Sequence[str],
    *,
    partial: bool,
    at: Stamp,
    keep_partial: bool | None = None,
    move: bool = False,
) -> Change:
    """Pack ``children`` into ``parent`` (see SPEC §4 for the rules, checked in that order). Keys
    only, each child once and not the parent (``Store`` has refused anything else). ``keep_partial``
    (rework): the parent's partial flag to keep, whatever its count, instead of ``partial``."""
    if not children:
        raise InvalidArgument(
            "no children given; expected at least one child code", reason=Reason.NO_CHILDREN
        )
    pkey, prow = _one(tx, parent, "parent")
    batches = Batches(tx)
    # The usual case first: loose children of the parent's (open, unlocked) batch and product, read,
    # checked and repacked from their stored bytes.
    packed = None
    if not move and _parent_fits(batches, prow):
        packed = tx.pack_children(list(children), pkey, prow.level - 1, prow.batch_ref, at.time_us)
    if packed is None:
        keys, rows = require(tx, children, "child code")
        _check_parent(tx, batches, pkey, prow)
        batches.require_open(keys, rows)
        if move:
            here = [k for k, r in zip(keys, rows, strict=True) if r.parent == pkey]
            if here:
                raise _fail(
                    Reason.CHILD_ALREADY_AGGREGATED,
                    f"code(s) {listing(here)} are already in parent {pkey}; "
                    "expected children of other parents",
                    here,
                )
        product = check_children(tx, batches, pkey, prow, keys, rows, ignore_parent=move)
    else:
        # Same batch as the parent, so the same (open, unlocked) batch and product.
        keys, rows = list(children), []
        product = tx.product(batches(prow.batch_ref).product_id)
    ratio = product.spec(prow.level).pack_ratio
    total = prow.children + len(keys)
    if total > ratio:
        raise _fail(
            Reason.OVER_PACK_RATIO,
            f"parent {pkey} would hold {total} children ({prow.children} already + {len(keys)} new); "
            f"expected at most the pack ratio of {ratio}",
            [pkey],
        )
    if total < ratio and not partial and keep_partial is None:
        raise _fail(
            Reason.PARTIAL_NOT_DECLARED,
            f"parent {pkey} would hold {total} of {ratio} children; expected a full parent, "
            "or the partial flag for a deliberately partial one (end of batch)",
            [pkey],
            "pass partial=True if this parent is meant to stay partial",
        )
    if packed is None:
        require_time([pkey, *keys], [prow, *rows], at.time_us)
    else:
        require_time([pkey], [prow], at.time_us)  # pack_children has checked the children's times
    if move:
        _unpack_from_old_parents(tx, keys, rows, at=at)
    if packed is None:
        _store_children(tx, keys, rows, State.AGGREGATED, pkey, at.time_us)
        tx.link_all(pkey, keys)
    else:
        tx.put_packed_children(packed, prow.batch_ref, prow.level - 1)
    prow.children = total
    prow.partial = (partial if keep_partial is None else keep_partial) and total < ratio
    prow.last_event_us = at.time_us
    tx.put_row(pkey, prow)
    seq = tx.append_event(
        at,
        EventKind.AGGREGATED,
        prow.batch_ref,
        codes=keys,
        parent=pkey,
        detail=partial_detail(prow),
    )
    return Change(seq, tuple(keys), pkey)


def _store_children(
    tx: Tx, keys: Sequence[str], rows: Sequence[Row], state: State, parent: str | None, time_us: int
) -> None:
    """Store children packed into ``parent`` (or unpacked: None) at ``time_us``, counted in ``state``."""
    for key, row in zip(keys, rows, strict=True):
        tx.set_state(key, row, state)
        row.parent = parent
        row.last_event_us = time_us
    tx.put_rows(keys, rows)


def partial_detail(prow: Row) -> str:
    """Aggregation events carry the parent's partial flag after the change (for ``replay``)."""
    return "partial" if prow.partial else ""


def _unpack(
    tx: Tx,
    pkey: str,
    prow: Row,
    keys: Sequence[str],
    rows: Sequence[Row],
    *,
    at: Stamp,
) -> int:
    _store_children(tx, keys, rows, State.COMMISSIONED, None, at.time_us)
    for key in keys:
        tx.unlink(pkey, key)
    prow.children -= len(keys)
    prow.partial = prow.partial and prow.children > 0
    prow.last_event_us = at.time_us
    tx.put_row(pkey, prow)
    return tx.append_event(
        at,
        EventKind.DISAGGREGATED,
        prow.batch_ref,
        codes=list(keys),
        parent=pkey,
        detail=partial_detail(prow),
    )


def _unpack_from_old_parents(tx: Tx, keys: Sequence[str], rows: Sequence[Row], *, at: Stamp) -> None:
    by_parent: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row.parent is not None:
            by_parent[row.parent].append(i)
    for old, idx in by_parent.items():
        okey, orow = _one(tx, old, "parent")
        tx.may_change([orow.batch_ref])  # before any rule tells of a parent the caller did not name
        Batches(tx).require_open([okey], [orow])
        require_time([okey], [orow], at.time_us)
        _unpack(
            tx,
            okey,
            orow,
            [keys[i] for i in idx],
            [rows[i] for i in idx],
            at=at,
        )


def disaggregate(tx: Tx, parent: str, children: Sequence[str] | None, *, at: Stamp) -> Change:
    """Take ``children`` (all when None) out of ``parent``; they become loose commissioned codes."""
    pkey, prow = _one(tx, parent, "parent")
    batches = Batches(tx)
    batches.require_open([pkey], [prow])
    present = tx.children(pkey)
    if children is None:
        keys, rows = require(tx, present, "child code")
    else:
        if not children:
            raise InvalidArgument("no children given; pass None to remove all", reason=Reason.NO_CHILDREN)
        keys, rows = require(tx, children, "child code")
        strangers = [k for k, r in zip(keys, rows, strict=True) if r.parent != pkey]
        if strangers:
            raise _fail(
                Reason.NOT_A_CHILD,
                f"code(s) {listing(strangers)} are not in parent {pkey}; expected children of that parent",
                strangers,
            )
    if not keys:
        return Change(0, (), pkey)
    tx.may_change({r.batch_ref for r in rows})  # before any rule tells of children it did not name
    batches.require_open(keys, rows)  # a mixed pallet's children of a closed batch stay as they are
    require_time([pkey, *keys], [prow, *rows], at.time_us)
    seq = _unpack(tx, pkey, prow, keys, rows, at=at)
    return Change(seq, tuple(keys), pkey)


def replace(
    tx: Tx,
    parent: str,
    old_child: str,
    new_child: str,
    *,
    old_child_to: State,
    at: Stamp,
) -> Change:
    """Rework: swap ``old_child`` in ``parent`` for ``new_child`` (a loose commissioned code)."""
    outcomes = {
        State.COMMISSIONED: None,
        State.DECOMMISSIONED: EventKind.DECOMMISSIONED,
        State.DESTROYED: EventKind.DESTROYED,
    }
    if old_child_to not in outcomes:
        raise InvalidArgument(
            f"replaced child cannot become {old_child_to.label}; "
            "expected commissioned, decommissioned or destroyed",
            reason=Reason.BAD_STATE,
        )
    was_partial = _one(tx, parent, "parent")[1].partial  # emptied for a moment below: keep its flag
    disaggregate(tx, parent, [old_child], at=at)
    kind = outcomes[old_child_to]
    if kind is not None:
        okey, orow = _one(tx, old_child, "child")
        require_empty([okey], [orow], f"replace and make {old_child_to.label}")
        tx.set_state(okey, orow, old_child_to)
        tx.put_row(okey, orow)
        tx.append_event(at, kind, orow.batch_ref, codes=[okey])
    return aggregate(
        tx,
        parent,
        [new_child],
        partial=False,
        keep_partial=was_partial,
        at=at,
    )


# --- queries ------------------------------------------------------------------------------------


def path_to_top(tx: Tx, key: str, row: Row) -> list[str]:
    """Parent, grandparent, … of a code, up to the top."""
    path: list[str] = []
    while row.parent is not None:
        path.append(row.parent)
        parent_row = tx.row(row.parent)
        if parent_row is None or len(path) > 16:
            break  # unreachable in a consistent store; do not loop forever on a broken one
        row = parent_row
    return path


def tree(tx: Tx, key: str, row: Row) -> TreeNode:
    """The code and everything packed inside it, down to the units."""
    kids = []
    if row.children:
        for child in tx.children(key):
            child_row = tx.row(child)
            if child_row is not None:
                kids.append(tree(tx, child, child_row))
    return TreeNode(key, row.level, row.state, tuple(kids))


def units_under(tx: Tx, key: str, row: Row) -> int:
    """Unit-level codes inside a code (1 for a unit)."""
    if row.level == 1:
        return 1
    if row.level == 2:
        return row.children
    total = 0
    for child in tx.children(key):
        child_row = tx.row(child)
        if child_row is not None:
            total += units_under(tx, child, child_row)
    return total
