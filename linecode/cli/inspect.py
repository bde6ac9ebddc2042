"""``linecode inspect CODE --data DIR``: everything about one code, read-only (works beside a server)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "inspect", help="show a code's level, state, status, lock, batch and place in the hierarchy"
    )
    cmd.add_argument("code", help="the code as scanned: 20 digits, GS1 element string or HRI, SSCC")
    cmd.add_argument("--data", type=Path, required=True, help="the store's data dir (opened read-only)")
    cmd.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.store import Store

    with Store.open(args.data, readonly=True) as store:
        info = store.info(args.code)
    if args.json:
        print(json.dumps(info.as_dict(), ensure_ascii=False, sort_keys=True))
        return 0
    data = info.as_dict()
    print(f"code      {info.code}")
    print(f"level     {info.level} ({info.level_name}) of product {info.product_id}")
    print(f"batch     {info.batch_id} (批号 {info.batch_number}, expiry {data['expiry']})")
    print(f"state     {info.state.label}")
    print(f"status    {info.status.label} {info.status.chinese}".rstrip())
    print(f"lock      {info.lock.label} {info.lock.chinese}")
    print(f"parent    {info.parent or '-'}")
    print(f"path      {' > '.join(info.path) if info.path else '- (top)'}")
    print(f"children  {info.children}")
    print(f"units     {info.units}")
    print(f"last event {data['last_event'] or '-'}")
    return 0
