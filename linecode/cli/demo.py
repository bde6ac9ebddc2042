"""``linecode demo``: the first thing a new user runs."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="show linecode at work on a demo product and batch")
    demo.add_argument("--data", type=Path, help="data dir to keep (default: a temporary one)")
    demo.add_argument("--json", action="store_true", help="end with one JSON line of the summary")
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.qa import audit_uniqueness, default_levels
    from linecode.serials import MasterKey, Nmpa20Pool, SsccPool
    from linecode.serials.keys import KEY_FILE_NAME

    data = args.data or Path(tempfile.mkdtemp(prefix="linecode-demo-"))
    master = MasterKey.load(data / KEY_FILE_NAME)
    levels = default_levels()
    print(f"linecode demo — data dir {data}")
    print("product  Demo vaccine 0.5 ml (MAH: Demo Bio), batch B2026001")
    summary: dict[str, object] = {"data": str(data), "levels": {}}
    for level in levels:
        codes = [c.decode() for c in Nmpa20Pool(master, level.identifier).codes(0, 3)]
        summary["levels"][level.name] = codes  # type: ignore[index]
        print(f"  {level.name:<7} identifier {level.identifier}: {', '.join(codes)}")
    pallets = [SsccPool(master, 0, "6901234").sscc(i).as_hri() for i in range(2)]
    summary["levels"]["pallet"] = pallets  # type: ignore[index]
    print(f"  {'pallet':<7} SSCC: {', '.join(pallets)}")
    report = audit_uniqueness(master, 200_000, levels=levels)
    print(
        f"QA over {report.count:,} codes: {report.duplicates} duplicates, {report.invalid} invalid checks, "
        f"{report.codes_per_s:,.0f} codes/s, guess probability {report.guess_probability:.1e}"
    )
    summary["qa"] = report.as_dict()
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0 if report.duplicates == 0 and report.invalid == 0 else 1
