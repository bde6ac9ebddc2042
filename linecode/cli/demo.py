"""``linecode demo``: the first thing a new user runs — a simulated packaging line over real gRPC.

Starts an embedded server on a free loopback port over a data dir (temporary unless ``--data``),
creates a demo vaccine (unit, bundle, case, SSCC pallet) and one batch per line, then runs the
lines through real gRPC clients (``linecode.sim``): the PLC allocates and reports at the
set line speed, the printer streams images, the camera fails a few codes, QA pulls samples, units
are packed into bundles, cases and a pallet. Every batch is closed with its reconciliation, a QA
uniqueness audit runs, and a summary says what happened and where the data and sample images are.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linecode.store import Store
    from linecode.store.leases import PoolHolding

SAMPLE_IMAGES = 3


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="simulate a packaging line against an embedded server")
    demo.add_argument("--data", type=Path, help="data dir to keep (default: a temporary one)")
    demo.add_argument("--lines", type=int, default=1, help="packaging lines running at once (default 1)")
    demo.add_argument(
        "--speed", type=float, default=12_000, help="packs per minute per line (default 12,000)"
    )
    demo.add_argument("--units", type=int, default=1_000, help="units per line (default 1,000)")
    demo.add_argument("--json", action="store_true", help="end with one JSON line of the summary")
    demo.add_argument(
        "--hub", metavar="HOST:PORT", help="run as a site of this hub (`linecode hub serve`): leases from it"
    )
    demo.add_argument("--site-id", default="S1", help="this site's id at the hub (with --hub; default S1)")
    demo.add_argument(
        "--sites",
        type=int,
        default=1,
        metavar="N",
        help="N >= 2: N sites of a hub over a throwaway PostgreSQL on this machine, --lines lines of "
        "--units units each; ends with what the hub holds of them (default 1: one embedded server)",
    )
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode import sim
    from linecode.cli.batch import format_report
    from linecode.cli.progress import progress_bar
    from linecode.errors import InvalidArgument
    from linecode.qa import audit_uniqueness, default_levels
    from linecode.service.config import ServeConfig
    from linecode.service.server import start
    from linecode.store import Store

    if args.lines < 1 or args.units < 1 or args.speed < 0 or args.sites < 1:
        raise InvalidArgument(
            f"--lines {args.lines} --units {args.units} --speed {args.speed} --sites {args.sites}: expected "
            "at least 1 line, 1 unit, 1 site and a speed of 0 (as fast as possible) or more"
        )
    if args.sites > 1:
        from linecode.cli import demo_sites

        return demo_sites.run(args)
    data: Path = args.data or Path(tempfile.mkdtemp(prefix="linecode-demo-"))
    images_dir = data / "sample-images"
    images_dir.mkdir(parents=True, exist_ok=True)
    samples: list[str] = []

    with Store.open(data) as store:
        config = ServeConfig(
            listen="127.0.0.1:0", hub_address=args.hub, hub_site_id=args.site_id if args.hub else None
        )
        running, _ = start(store, config)
        site = sim.Site(f"127.0.0.1:{running.port}")
        try:
            hub = f", site {args.site_id} of the hub at {args.hub}" if args.hub else ""
            print(f"linecode demo — server on {site.target}, data dir {data}{hub}")
            plans = site.setup(args.lines, args.units, args.speed)
            if args.hub:
                held = wait_for_leases(store)
                print("leases   " + ", ".join(f"{h.pool} {h.remaining:,}" for h in held))
            batch_ids = [plan.batch_id for plan in plans]
            print(
                f"product  {sim.DEMO_NAME} ({sim.DEMO_MAH}): "
                + " → ".join(f"{lv.name} x{lv.ratio}" if lv.ratio > 1 else lv.name for lv in sim.DEMO_LEVELS)
            )
            print(
                f"lines    {args.lines} x {args.units:,} units at {args.speed:,.0f} packs/min; "
                f"batches {', '.join(batch_ids)}"
            )
            started = time.perf_counter()
            with progress_bar(args.lines * args.units, "packing", unit="pack") as bar:

                def on_image(code: str, png: bytes) -> None:
                    if sim.is_unit(code):
                        bar.update(1)
                        if len(samples) < SAMPLE_IMAGES:
                            path = images_dir / f"{code}.png"
                            path.write_bytes(png)
                            samples.append(str(path))

                stats = site.run(plans, on_image)
            seconds = time.perf_counter() - started
            site.close(plans)
            reports = [store.reconcile(batch_id) for batch_id in batch_ids]
        finally:
            running.stop(2)
        master = store.master
    latencies = stats.all_latencies()
    p50, p99 = sim.percentile(latencies, 0.5), sim.percentile(latencies, 0.99)
    for report in reports:
        print("\n".join(format_report(report)))
    audit = audit_uniqueness(master, 200_000, levels=default_levels())
    packs = args.lines * args.units
    rate = packs / seconds
    print(
        f"done     {packs:,} packs in {seconds:.1f} s ({rate:,.0f} packs/s): {stats.codes:,} codes allocated,"
    )
    print(
        f"         {stats.images:,} images, {stats.aggregations:,} aggregations, "
        f"{stats.scrapped} camera failures, {stats.sampled} QA samples"
    )
    print(f"latency  {len(latencies):,} calls: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(
        f"QA       {audit.count:,} codes audited: {audit.duplicates} duplicates, "
        f"{audit.invalid} invalid checks, guess probability {audit.guess_probability:.1e}"
    )
    print(f"pallets  {', '.join(stats.top)}")
    print(f"images   {', '.join(samples)}")
    command = runnable_command()
    print(f"try      {command} inspect '{stats.top[0]}' --data {data}")
    print(f"         {command} batch report {batch_ids[0]} --data {data}")
    print(f"         {command} export {batch_ids[0]} --data {data} -o {batch_ids[0]}.epcis.json")
    ok = all(r.ok for r in reports) and audit.duplicates == 0 and audit.invalid == 0
    if args.json:
        summary = {
            "data": str(data),
            "batch": batch_ids[0],
            "batches": batch_ids,
            "pallet": stats.top[0],
            "pallets": stats.top,
            "codes": stats.codes,
            "images": stats.images,
            "aggregations": stats.aggregations,
            "scrapped": stats.scrapped,
            "sampled": stats.sampled,
            "packs_per_s": round(rate, 1),
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "sample_images": samples,
            "reconciled": [r.ok for r in reports],
            "report": reports[0].as_dict(),
            "qa": audit.as_dict(),
        }
        print(json.dumps(summary, sort_keys=True, ensure_ascii=False))
    return 0 if ok else 1


def wait_for_leases(store: Store) -> list[PoolHolding]:
    """Until the site holds codes of every pool of the hub (its first grants), or say why not; what
    it holds of each then."""
    from linecode.errors import Exhausted
    from linecode.reasons import Reason
    from linecode.store.leases import holdings

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        held = holdings(store.pools())
        if held and all(h.remaining for h in held):
            return held
        time.sleep(0.1)
    raise Exhausted(
        "no lease from the hub in 30 s",
        reason=Reason.LEASE_EXHAUSTED,
        hint="check that the hub serves, and allows this site the demo product's pools "
        "(linecode hub pool add --demo-product --sites SITE)",
    )


def runnable_command() -> str:
    """How the user who ran this demo runs another ``linecode`` command: ``linecode`` if that is on
    their PATH (and is this installation), else ``./dev run`` from a checkout (what ``./dev demo``
    users have), else this interpreter with ``-m linecode``."""
    found = shutil.which("linecode")
    if found and Path(found).absolute().parent == Path(sys.executable).absolute().parent:
        return "linecode"
    if Path("dev").is_file() and Path("linecode", "__init__.py").is_file():
        return "./dev run"
    return f"{shlex.quote(sys.executable)} -m linecode"
