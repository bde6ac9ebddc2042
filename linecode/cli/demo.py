"""``linecode demo``: the first thing a new user runs — one batch through the line store.

A demo vaccine with four packaging levels (unit, bundle, case, pallet) and one batch: allocate codes,
print them, read them back with a camera that fails on a few, let QA pull samples, pack units into
bundles, cases and a pallet, close the batch with its reconciliation, then audit code uniqueness.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import tempfile
from pathlib import Path

UNITS = 400
BUNDLE, CASE, PALLET = 10, 4, 10
SPARES = 10
"""Extra unit codes allocated beyond the plan, for scrapped labels; the rest stay unused."""
CAMERA_FAILURES = 3
SAMPLES = 2


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="run a demo batch through the line store and show its reconciliation")
    demo.add_argument("--data", type=Path, help="data dir to keep (default: a temporary one)")
    demo.add_argument("--json", action="store_true", help="end with one JSON line of the summary")
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.cli.batch import format_report
    from linecode.errors import AlreadyExists
    from linecode.qa import audit_uniqueness, default_levels
    from linecode.store import CodeRule, Level, Store

    data = args.data or Path(tempfile.mkdtemp(prefix="linecode-demo-"))
    levels = (
        Level("unit", CodeRule.NMPA20, "8600001"),
        Level("bundle", CodeRule.NMPA20, "8600002", pack_ratio=BUNDLE),
        Level("case", CodeRule.NMPA20, "8600003", pack_ratio=CASE),
        Level("pallet", CodeRule.SSCC, "06901234", pack_ratio=PALLET),
    )
    rng = random.Random(2026)
    print(f"linecode demo — data dir {data}")
    with Store.open(data) as store:
        # A kept data dir from an earlier run has the product: the demo adds a new batch.
        with contextlib.suppress(AlreadyExists):
            store.create_product("demo-vaccine", "Demo vaccine 0.5 ml", "Demo Bio", levels)
        done = {b.batch_id for b in store.batches()}
        batch_id = next(f"B2026{n:03d}" for n in range(1, 1000) if f"B2026{n:03d}" not in done)
        today = dt.date.today()
        store.create_batch(
            "demo-vaccine",
            batch_id,
            production_date=today,
            expiry_date=today + dt.timedelta(days=730),
            line="L1",
            planned_quantity=UNITS,
        )
        print(f"product  Demo vaccine 0.5 ml (MAH: Demo Bio), batch {batch_id}, {UNITS} units on line L1")

        def commission(level: str, count: int, spares: int = 0, fail: int = 0) -> list[str]:
            allocation = store.allocate(
                batch_id, level, count + spares, idempotency_key=f"{batch_id}-{level}"
            )
            codes = list(allocation.codes)
            printed = codes[: count + fail]
            store.report_events("printed", printed, actor="printer-1", line="L1")
            failed = set(rng.sample(printed, fail))
            good = [c for c in printed if c not in failed]
            store.report_events("verified", good, actor="camera-1", line="L1")
            if failed:
                store.report_events("verify_failed", sorted(failed), actor="camera-1", line="L1")
            r = allocation.ranges[0]
            print(
                f"  {level:<7} {len(codes):>4} codes from {allocation.pool} [{r.start}, {r.end}): "
                f"{len(printed)} printed, {len(failed)} camera failures, e.g. {good[0]}"
            )
            return good

        units = commission("unit", UNITS + SAMPLES, spares=SPARES, fail=CAMERA_FAILURES)
        samples = rng.sample(units, SAMPLES)
        store.report_events("sampled", samples, actor="qa-1", line="L1")
        units = [u for u in units if u not in samples]
        print(f"  QA pulled {SAMPLES} samples: {', '.join(samples)}")
        bundles = commission("bundle", len(units) // BUNDLE)
        cases = commission("case", len(bundles) // CASE)
        pallets = commission("pallet", -(-len(cases) // PALLET))

        def pack(parents: list[str], children: list[str], ratio: int) -> None:
            for i, parent in enumerate(parents):
                kids = children[i * ratio : (i + 1) * ratio]
                store.aggregate(
                    parent,
                    kids,
                    partial=len(kids) < ratio,
                    idempotency_key=f"agg-{parent}",
                    actor="plc-1",
                    line="L1",
                )

        pack(bundles, units, BUNDLE)
        pack(cases, bundles, CASE)
        pack(pallets, cases, PALLET)
        tree = store.tree(pallets[0])
        print(
            f"packed   {len(units)} units → {len(bundles)} bundles → {len(cases)} cases → "
            f"{len(pallets)} pallet(s); pallet {pallets[0]} holds {tree.units()} units"
        )
        report = store.close_batch(batch_id, actor="qa-1", line="L1")
        print("\n".join(format_report(report)))
        info = store.info(units[0])
        print(f"inspect  {info.code}: {info.state.label}, path {' > '.join(info.path)}")
        events = store.last_event_seq()
    audit = audit_uniqueness(store.master, 200_000, levels=default_levels())
    print(
        f"QA over {audit.count:,} codes: {audit.duplicates} duplicates, {audit.invalid} invalid checks, "
        f"{audit.codes_per_s:,.0f} codes/s, guess probability {audit.guess_probability:.1e}"
    )
    print(f"try      linecode inspect {units[0]} --data {data}")
    print(f"         linecode batch report {batch_id} --data {data}")
    if args.json:
        summary = {
            "data": str(data),
            "batch": batch_id,
            "pallets": pallets,
            "report": report.as_dict(),
            "events": events,
            "qa": audit.as_dict(),
        }
        print(json.dumps(summary, sort_keys=True, ensure_ascii=False))
    return 0 if report.ok and audit.duplicates == 0 and audit.invalid == 0 else 1
