"""``linecode leases --data DIR``: what a site of a hub holds of each pool (read-only, beside a server)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser("leases", help="the index ranges a site holds of each hub pool, and codes left")
    cmd.add_argument("--data", type=Path, required=True, help="the site's data dir (opened read-only)")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.store import Store
    from linecode.store.leases import holdings

    with Store.open(args.data, readonly=True) as store:
        held = holdings(store.pools())
    if args.json:
        print(
            json.dumps(
                {
                    "pools": [
                        {
                            "pool": h.pool,
                            "remaining": h.remaining,
                            "granted": h.owned,
                            "ranges": [[r.start, r.end] for r in h.ranges],
                        }
                        for h in held
                    ]
                },
                sort_keys=True,
            )
        )
        return 0
    if not held:
        print(f"{args.data}: no pool of a hub (this site's pools are its own, or it has no product yet)")
    for h in held:
        spans = ", ".join(f"{r.start:,}-{r.end:,}" for r in h.ranges) or "none"
        print(f"{h.pool}: {h.remaining:,} codes left of {h.owned:,} granted; ranges held: {spans}")
    return 0
