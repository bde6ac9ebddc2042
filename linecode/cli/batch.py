"""``linecode batch report BATCH --data DIR``: a batch's reconciliation numbers, read-only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linecode.store import ReconciliationReport

COLUMNS = (
    ("allocated", "alloc"),
    ("unused", "unused"),
    ("encoded", "encoded"),
    ("not_verified", "unverif"),
    ("scrapped", "scrap"),
    ("commissioned", "commis"),
    ("aggregated", "aggr"),
    ("sampled", "sampl"),
    ("destroyed", "destr"),
    ("decommissioned", "decom"),
    ("loose", "loose"),
    ("top", "top"),
    ("partial_declared", "part"),
    ("partial_undeclared", "part!"),
    ("empty_parents", "empty"),
    ("locked", "locked"),
    ("released", "relsd"),
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser("batch", help="batch information (read-only)")
    actions = cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = actions.add_parser("report", help="the reconciliation numbers of a batch (SPEC §4)")
    report.add_argument("batch", help="batch id")
    report.add_argument("--data", type=Path, required=True, help="the store's data dir (opened read-only)")
    report.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from linecode.store import Store

    with Store.open(args.data, readonly=True) as store:
        report = store.reconcile(args.batch)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, sort_keys=True))
    else:
        print("\n".join(format_report(report)))
    return 0


def format_report(report: ReconciliationReport) -> list[str]:
    """The report as a table, one row per packaging level, then the discrepancies, then when the
    batch was closed (and with what override) and where its data went."""
    from linecode.store import BatchState, format_time

    lines = [f"batch {report.batch_id} (product {report.product_id}), {report.state.label}"]
    name_width = max(len(level.level_name) for level in report.levels) + 4
    lines.append(" " * name_width + "".join(f"{title:>8}" for _, title in COLUMNS) + "  balanced")
    for level in report.levels:
        cells = "".join(f"{getattr(level, field):>8}" for field, _ in COLUMNS)
        lines.append(f"{level.level} {level.level_name:<{name_width - 2}}" + cells + f"  {level.balanced}")
    if report.discrepancies:
        lines.append("discrepancies (the batch does not close without an override reason):")
        lines += [f"  - {d}" for d in report.discrepancies]
        if report.loose_units:
            lines.append(
                f"  loose: {', '.join(report.loose_units[:10])}"
                + (" …" if len(report.loose_units) > 10 else "")
            )
        if report.undeclared_partial:
            lines.append(f"  undeclared partial: {', '.join(report.undeclared_partial[:10])}")
    else:
        lines.append("no discrepancies: the batch reconciles")
    if report.closed_event_seq:
        how = f", override: {report.override_reason}" if report.override_reason else ""
        lines.append(f"closed {format_time(report.closed_us)} (event {report.closed_event_seq}{how})")
    elif report.state is not BatchState.OPEN:
        lines.append("closed before the batch record kept its close event: see its BATCH_CLOSED event")
    if report.exported_to is not None:
        lines.append(f"exported {format_time(report.exported_us)} to {report.exported_to}")
    return lines
