"""``linecode verify DATA --data DIR``: is a scanned code genuine and usable? Read-only on a data dir.

Exit status 0 when the code is genuine and usable, 1 when it is not (forged, unknown, not in use,
locked, expired), 2 when the question could not be asked (no data dir, no master key).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "verify",
        help="check a scanned code: genuine, issued, state, status, lock, batch, expiry, path to the top",
        description="Accepts any scanned form: 20 digits, HRI with spaces or dashes, a GS1 element "
        "string (HRI with parentheses, or raw with GS and an optional ]d2 prefix), an SSCC. "
        "Exit status 0: genuine and usable; 1: not; 2: could not check.",
    )
    cmd.add_argument(
        "data", metavar="DATA", help="the scanned data (quote it: GS1 strings hold GS, '(' and ')')"
    )
    cmd.add_argument(
        "--data",
        dest="data_dir",
        metavar="DIR",
        type=Path,
        required=True,
        help="the store's data dir (opened read-only)",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.store import Store

    with Store.open(args.data_dir, readonly=True) as store:
        store.master  # noqa: B018 -- a missing master key is a setup error (exit 2), not a forgery
        answer = store.verify(args.data)
    info = answer.info
    expired = info is not None and info.expired
    if args.json:
        print(
            json.dumps(
                {
                    "data": args.data,
                    "genuine": answer.genuine,
                    "issued": info is not None,
                    "usable": answer.usable,
                    "reason": answer.reason,
                    "message": answer.message,
                    "expired": expired,
                    "info": info.as_dict() if info is not None else None,
                },
                ensure_ascii=False,
                sort_keys=True,
            )
        )
        return 0 if answer.usable else 1
    verdict = "USABLE" if answer.usable else "NOT USABLE"
    print(f"{verdict}  [{answer.reason}] {answer.message}")
    print(f"genuine   {'yes' if answer.genuine else 'no'}")
    print(f"issued    {'yes' if info is not None else 'no (not in this store)'}")
    if info is not None:
        print(f"code      {info.code} ({info.level_name}, level {info.level}, product {info.product_id})")
        print(f"state     {info.state.label}")
        print(f"status    {info.status.label} {info.status.chinese}".rstrip())
        print(f"lock      {info.lock.label} {info.lock.chinese}")
        print(f"batch     {info.batch_id} (批号 {info.batch_number})")
        print(f"expiry    {info.expiry_date.isoformat()} ({'passed' if expired else 'not passed'})")
        print(f"path      {' > '.join(info.path) if info.path else '- (top level or loose)'}")
    return 0 if answer.usable else 1
