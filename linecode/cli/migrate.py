"""``linecode migrate --data DIR``: move a store of an earlier layout forward (``store/migrate.py``),
backed up first and checked after. Never done on its own: a server refuses an unmigrated store with
``STORE_FORMAT``, naming this command.

Exit status 0 when the store is migrated (or was of the current layout already) and checks out, 1
when it was migrated but the check finds a disagreement, 2 when nothing could be done.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "migrate",
        help="move a store of an earlier layout to this linecode's (backed up first; the server stopped)",
    )
    cmd.add_argument("--data", type=Path, required=True, help="the store's data dir (its server stopped)")
    cmd.add_argument(
        "--backup",
        type=Path,
        metavar="DIR",
        help="a new (or empty) directory for the copy made first (default: DATA.layout2-<time> beside it)",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.cli.backup import copy_master_key
    from linecode.store import Store
    from linecode.store.check import check
    from linecode.store.migrate import describe, migrate

    result = migrate(args.data, backup=args.backup)
    key_note = copy_master_key(args.data, result.backup) if result.backup is not None else ""
    with Store.open(args.data, readonly=True) as store:
        report = check(store)
    if args.json:
        out = {
            "migrated": result.done,
            "backup": str(result.backup) if result.backup else None,
            "allocations": result.allocations,
            "events_rewritten": result.events,
            "records_dropped": result.records_dropped,
            "records_kept": result.records_kept,
            "bytes_before": result.bytes_before,
            "bytes_after": result.bytes_after,
            "check": report.as_dict(),
        }
        print(json.dumps(out, ensure_ascii=False, sort_keys=True))
    else:
        print(describe(result))
        if key_note:
            print(key_note)
        print(
            "linecode check: everything agrees"
            if report.ok
            else f"linecode check: {report.total} disagreement(s); run `linecode check --data {args.data}`"
        )
    return 0 if report.ok else 1
