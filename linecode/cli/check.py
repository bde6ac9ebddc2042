"""``linecode check --data DIR``: does the store agree with itself? Read-only, works beside a server.

Exit status 0 when everything agrees, 1 when something disagrees (each disagreement printed, up to
``--limit``, and all counted), 2 when the check could not run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from linecode.reasons import Reason

if TYPE_CHECKING:
    from linecode.store.check import CheckReport

_WHAT = {
    "events": "events replayed",
    "records": "codes and batches compared with the log",
    "index": "code keys, records and batch index entries",
    "counters": "per-state counters",
    "hierarchy": "children links and parents",
    "pools": "serial pools",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "check",
        help="compare the event log with the code records, counters, hierarchy and serial pools (read-only)",
    )
    cmd.add_argument("--data", type=Path, required=True, help="the store's data dir (opened read-only)")
    cmd.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    cmd.add_argument(
        "--limit", type=int, default=100, metavar="N", help="disagreements listed at most (all are counted)"
    )
    cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.errors import InvalidArgument
    from linecode.store import Store
    from linecode.store.check import check

    if args.limit < 0:
        raise InvalidArgument(f"--limit {args.limit}: expected 0 or more", reason=Reason.BAD_LIMIT)
    with Store.open(args.data, readonly=True) as store:
        report = check(store, limit=args.limit)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, sort_keys=True))
    else:
        print("\n".join(format_report(report, args.data)))
    return 0 if report.ok else 1


def format_report(report: CheckReport, data: Path) -> list[str]:
    """The report for a person: what was compared, then every listed disagreement and the count."""
    lines = [f"checked the store in {data} as of event {report.last_event_seq}:"]
    for area, what in _WHAT.items():
        wrong = report.disagreements[area]
        verdict = f"{wrong} disagreeing" if wrong else "agree"
        lines.append(f"  {area:<10}{report.checked[area]:>12,}  {what}: {verdict}")
    if report.ok:
        lines.append("everything agrees")
        return lines
    lines.append(f"{report.total} disagreements:")
    lines += [f"  [{f.area}] {f.message}" for f in report.findings]
    if len(report.findings) < report.total:
        lines.append(f"  … and {report.total - len(report.findings)} more (--limit to list more)")
    return lines
