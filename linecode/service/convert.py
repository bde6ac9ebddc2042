"""Domain values <-> protobuf messages. Pure functions; the enums share their numbers with proto."""

from __future__ import annotations

import datetime as dt
from typing import Any

from linecode.errors import InvalidArgument
from linecode.reasons import Reason
from linecode.service.guard import caller_lines
from linecode.store import (
    Batch,
    Change,
    CodeInfo,
    Level,
    LineEvent,
    Origin,
    Product,
    ReconciliationReport,
    TreeNode,
)
from linecode.v1 import admin_pb2, common_pb2, line_pb2

LINE_EVENTS: dict[int, LineEvent] = {
    line_pb2.LINE_EVENT_PRINTED: LineEvent.PRINTED,
    line_pb2.LINE_EVENT_VERIFIED: LineEvent.VERIFIED,
    line_pb2.LINE_EVENT_VERIFY_FAILED: LineEvent.VERIFY_FAILED,
    line_pb2.LINE_EVENT_SAMPLED: LineEvent.SAMPLED,
    line_pb2.LINE_EVENT_DESTROYED: LineEvent.DESTROYED,
    line_pb2.LINE_EVENT_DECOMMISSIONED: LineEvent.DECOMMISSIONED,
}


def line_event(kind: int) -> LineEvent:
    try:
        return LINE_EVENTS[kind]
    except KeyError:
        names = ", ".join(line_pb2.LineEventKind.Name(k) for k in LINE_EVENTS)
        raise InvalidArgument(
            f"line event kind {kind}: expected one of {names}", reason=Reason.UNKNOWN_EVENT
        ) from None


def level_arg(text: str) -> int | str:
    """A level given as its name (``unit``) or number (``1``)."""
    text = text.strip()
    if not text:
        raise InvalidArgument(
            "level is empty: expected a level name such as 'unit' or a number", reason=Reason.NO_LEVEL
        )
    return int(text) if text.isascii() and text.isdigit() else text


def origin(request: Any) -> Origin:
    """The origin of a write request: its ``origin`` (actor, line), event time (0 = now) and
    idempotency key, those of them its message has; and the lines the caller may change (its
    role's, checked by the store inside the write)."""
    sent = getattr(request, "origin", None)
    return Origin(
        actor=sent.actor if sent is not None else "",
        line=sent.line if sent is not None else "",
        time_us=getattr(request, "time_us", 0) or None,
        idempotency_key=getattr(request, "idempotency_key", "") or None,
        lines=caller_lines(),
    )


def date_arg(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{what} {text!r}: expected an ISO date YYYY-MM-DD", reason=Reason.BAD_DATE
        ) from None


def change(value: Change) -> common_pb2.Change:
    return common_pb2.Change(
        event_seq=value.event_seq, codes=value.codes, parent=value.parent or "", replayed=value.replayed
    )


def code_info(info: CodeInfo) -> common_pb2.CodeInfo:
    return common_pb2.CodeInfo(
        code=info.code,
        level=info.level,
        level_name=info.level_name,
        product_id=info.product_id,
        batch_id=info.batch_id,
        batch_number=info.batch_number,
        expiry_date=info.expiry_date.isoformat(),
        state=int(info.state),  # type: ignore[arg-type]
        status=int(info.status),  # type: ignore[arg-type]
        lock=int(info.lock),  # type: ignore[arg-type]
        parent=info.parent or "",
        path=info.path,
        children=info.children,
        units=info.units,
        last_event_time_us=info.last_event_us,
    )


def tree(node: TreeNode) -> common_pb2.TreeNode:
    return common_pb2.TreeNode(
        code=node.code,
        level=node.level,
        state=int(node.state),  # type: ignore[arg-type]
        children=[tree(c) for c in node.children],
    )


def level_in(msg: admin_pb2.Level) -> Level:
    from linecode.store import CodeRule

    try:
        rule = CodeRule(msg.rule)
    except ValueError:
        rules = ", ".join(r.value for r in CodeRule)
        raise InvalidArgument(
            f"level {msg.name!r}: code rule {msg.rule!r}; expected one of {rules}",
            reason=Reason.BAD_RULE,
        ) from None
    extra: dict[str, str | int] = {}
    if msg.serial_alphabet:
        extra["serial_alphabet"] = msg.serial_alphabet
    if msg.serial_length:
        extra["serial_length"] = msg.serial_length
    return Level(msg.name, rule, msg.identifier, msg.pack_ratio or 1, **extra)  # type: ignore[arg-type]


def product(value: Product) -> admin_pb2.Product:
    return admin_pb2.Product(
        product_id=value.product_id,
        name=value.name,
        mah=value.mah,
        mixed_pallets=value.mixed_pallets,
        levels=[
            admin_pb2.Level(
                name=lv.name,
                rule=lv.rule.value,
                identifier=lv.identifier,
                pack_ratio=lv.pack_ratio,
                serial_alphabet=lv.serial_alphabet,
                serial_length=lv.serial_length,
            )
            for lv in value.levels
        ],
    )


def batch(value: Batch) -> admin_pb2.Batch:
    return admin_pb2.Batch(
        batch_id=value.batch_id,
        product_id=value.product_id,
        batch_number=value.batch_number,
        production_date=value.production_date.isoformat(),
        expiry_date=value.expiry_date.isoformat(),
        line=value.line,
        planned_quantity=value.planned_quantity,
        state=int(value.state),  # type: ignore[arg-type]
        status=int(value.status),  # type: ignore[arg-type]
        lock=int(value.lock),  # type: ignore[arg-type]
    )


def report(value: ReconciliationReport) -> admin_pb2.ReconciliationReport:
    return admin_pb2.ReconciliationReport(
        batch_id=value.batch_id,
        product_id=value.product_id,
        state=int(value.state),  # type: ignore[arg-type]
        levels=[
            admin_pb2.LevelReconciliation(
                level=lv.level,
                level_name=lv.level_name,
                allocated=lv.allocated,
                encoded=lv.encoded,
                unused=lv.unused,
                commissioned=lv.commissioned,
                scrapped=lv.scrapped,
                not_verified=lv.not_verified,
                aggregated=lv.aggregated,
                sampled=lv.sampled,
                destroyed=lv.destroyed,
                decommissioned=lv.decommissioned,
                loose=lv.loose,
                top=lv.top,
                empty_parents=lv.empty_parents,
                partial_declared=lv.partial_declared,
                partial_undeclared=lv.partial_undeclared,
                locked=lv.locked,
                released=lv.released,
                balanced=lv.balanced,
            )
            for lv in value.levels
        ],
        discrepancies=value.discrepancies,
        loose_units=value.loose_units,
        undeclared_partial=value.undeclared_partial,
        override_reason=value.override_reason or "",
        closed_event_seq=value.closed_event_seq,
        ok=value.ok,
        closed_time_us=value.closed_us,
        exported_to=value.exported_to or "",
        exported_time_us=value.exported_us,
    )
